import hashlib
import http.server
import io
import threading
import urllib.request
import zipfile

import pytest

from lassnet.data import DownloadError, cache_dir, download, extract, sha256sum

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: several read chunks plus a remainder
PAYLOAD += b"tail"
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (the name http.server expects)
        type(self).requests.append(self.path)
        if self.path == "/data.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/truncated.bin":
            # Promise the whole payload, send a third of it, then hang up.
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_download_verifies_and_caches(server, tmp_path):
    _Handler.requests.clear()
    path = download(f"{server}/data.bin", tmp_path, sha256=SHA, progress=False)
    assert path == tmp_path / "data.bin"
    assert path.read_bytes() == PAYLOAD and sha256sum(path) == SHA
    again = download(f"{server}/data.bin", tmp_path, sha256=SHA.upper(), progress=False)
    assert again == path and _Handler.requests == ["/data.bin"]  # served from the cache
    assert _leftovers(tmp_path) == ["data.bin"]


def test_progress_bar_runs(server, tmp_path, capsys):
    download(f"{server}/data.bin", tmp_path / "named.bin", progress=True)
    assert (tmp_path / "named.bin").read_bytes() == PAYLOAD
    assert "named.bin" in capsys.readouterr().err


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(ValueError, match="checksum mismatch") as info:
        download(f"{server}/data.bin", tmp_path, sha256=wrong, progress=False)
    assert SHA in str(info.value) and wrong in str(info.value)
    assert _leftovers(tmp_path) == []


def test_corrupt_cached_file_is_replaced(server, tmp_path):
    (tmp_path / "data.bin").write_bytes(b"half a file")
    path = download(f"{server}/data.bin", tmp_path, sha256=SHA, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_truncated_download_keeps_only_a_part_file(server, tmp_path):
    """A cut transfer never gets the final name; its bytes wait in .part for a resume."""
    with pytest.raises(DownloadError, match="truncated.bin.*stopped early.*resumes"):
        download(f"{server}/truncated.bin", tmp_path, progress=False)
    assert _leftovers(tmp_path) == ["truncated.bin.part"]
    assert (tmp_path / "truncated.bin.part").read_bytes() == PAYLOAD[: len(PAYLOAD) // 3]
    with pytest.raises(DownloadError):
        download(f"{server}/missing.bin", tmp_path, progress=False)
    assert _leftovers(tmp_path) == ["truncated.bin.part"]  # a 404 leaves nothing of its own


def test_interrupted_read_keeps_only_a_part_file(tmp_path, monkeypatch):
    source = tmp_path / "src.bin"
    source.write_bytes(PAYLOAD)
    real_urlopen = urllib.request.urlopen

    class Flaky:
        def __init__(self, resp):
            self.resp, self.headers, self.calls = resp, resp.headers, 0

        def read(self, n):
            self.calls += 1
            if self.calls == 2:
                raise ConnectionResetError("connection reset by peer")
            return self.resp.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.resp.close()

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Flaky(real_urlopen(url)))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(DownloadError, match="reset"):
        download(source.as_uri(), dest, progress=False)
    assert _leftovers(dest) == ["src.bin.part"]  # the first chunk, never the final name
    assert PAYLOAD.startswith((dest / "src.bin.part").read_bytes())


def test_file_url_and_cache_folder(tmp_path, monkeypatch):
    source = tmp_path / "archive.bin"
    source.write_bytes(PAYLOAD)
    monkeypatch.setenv("LASSNET_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()
    assert cache_dir(tmp_path / "other") == tmp_path / "other"
    path = download(source.as_uri(), sha256=SHA, progress=False)
    assert path == tmp_path / "cache" / "archive.bin" and path.read_bytes() == PAYLOAD
    monkeypatch.delenv("LASSNET_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "lassnet"


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="64 hex"):
        download("http://127.0.0.1/x.bin", tmp_path, sha256="abc")
    with pytest.raises(ValueError, match="scheme"):
        download("gopher://example/x.bin", tmp_path)


def _zip(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_extract_zip_and_refuse_escapes(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"top/x.txt": b"x", "top/sub/y.txt": b"y"}))
    out = extract(archive, tmp_path / "out")
    assert (out / "top" / "x.txt").read_bytes() == b"x"
    assert (out / "top" / "sub" / "y.txt").read_bytes() == b"y"
    assert _leftovers(out) == ["top"]  # the staging folder is gone
    evil = tmp_path / "evil.zip"
    evil.write_bytes(_zip({"../escaped.txt": b"!"}))
    with pytest.raises(ValueError, match="outside"):
        extract(evil, tmp_path / "out2")
    assert not (tmp_path / "escaped.txt").exists()
    assert _leftovers(tmp_path / "out2") == []
    not_archive = tmp_path / "plain.txt"
    not_archive.write_text("hello")
    with pytest.raises(ValueError, match="not a zip or tar"):
        extract(not_archive, tmp_path / "out3")
