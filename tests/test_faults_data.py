"""The fault matrix's rows for downloads (W1-W13), ``lassnet evaluate`` (E1-E6) and the
notebook tools (D1): each test names its rows. Chapter 6 teaches downloads and archives,
chapter 8 the evaluation command.

Downloads run against a local HTTP server (127.0.0.1, an ephemeral port) whose handler
honours ``Range`` requests and can be told to hang up after a number of bytes. Faults are
simulated (monkeypatching), so that no test needs root.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import http.server
import importlib
import io
import json
import os
import random
import socket
import stat
import tarfile
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import lassnet.files
from lassnet.cli import main
from lassnet.data import DownloadError, download, extract
from lassnet.data.download import UnverifiedDownloadWarning
from lassnet.files import check_writable, resumable_write

# the module (lassnet.data.download is also the name of the function)
download_module = importlib.import_module("lassnet.data.download")

PAYLOAD = random.Random(0).randbytes(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
KINDS = ("range", "norange", "nolength", "chunked", "stall")


# --------------------------------------------------------------------------- the server
class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cut_after: int | None = None  # hang up after this many body bytes
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.release = threading.Event()  # ends a stalled response


class _Handler(http.server.BaseHTTPRequestHandler):
    """``/<kind>/<name>``: range (honours Range), norange (always 200), nolength (no
    Content-Length: the body ends when the connection closes), chunked, stall (1000 bytes,
    then silence); ``/error/...`` answers 500, anything else 404."""

    server: _Server

    def do_GET(self):  # noqa: N802 (the name http.server expects)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        kind = self.path.split("/")[1]
        if kind == "error":
            self.send_error(500)
            return
        if kind not in KINDS:
            self.send_error(404)
            return
        start, size = 0, len(PAYLOAD)
        requested = self.headers.get("Range")
        if kind in ("range", "stall") and requested:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        if kind == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif kind != "nolength":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        sent = body if srv.cut_after is None else body[: srv.cut_after]
        if kind == "stall":
            self.wfile.write(body[:1000])
            self.wfile.flush()
            srv.release.wait(30)
        elif kind == "chunked":
            for i in range(0, len(sent), 65536):
                piece = sent[i : i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if srv.cut_after is None:
                self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(sent)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- W1-W4
def test_w1_right_checksum_any_case_then_served_from_the_cache(server, tmp_path):
    """W1: the file arrives verified (an upper-case sha256 is accepted); the second call
    reads the cache and asks the server nothing."""
    path = download(f"{server.url}/range/data.bin", tmp_path, sha256=SHA.upper(), progress=False)
    assert path == tmp_path / "data.bin" and path.read_bytes() == PAYLOAD
    assert download(f"{server.url}/range/data.bin", tmp_path, sha256=SHA, progress=False) == path
    assert len(server.requests) == 1 and _files(tmp_path) == ["data.bin"]


def test_w2_wrong_checksum_keeps_neither_file_nor_part(server, tmp_path):
    """W2: a mismatch names both checksums; no final file, no .part."""
    with pytest.raises(ValueError, match=f"checksum mismatch.*expected SHA-256 0{{64}}, got {SHA}"):
        download(f"{server.url}/range/data.bin", tmp_path, sha256="0" * 64, progress=False)
    assert _files(tmp_path) == []


def test_w3_malformed_checksum_is_refused_before_any_request(server, tmp_path):
    """W3: 63 hex digits are refused at once."""
    with pytest.raises(ValueError, match="sha256 must be 64 hex digits"):
        download(f"{server.url}/range/data.bin", tmp_path, sha256="a" * 63, progress=False)
    assert server.requests == [] and _files(tmp_path) == []


def test_w4_http_errors_and_refused_connections_leave_nothing(server, tmp_path):
    """W4: 404, 500 and a refused connection each raise one DownloadError; nothing is left
    (not even an empty .part)."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/x.bin"
    for url, reason in ((f"{server.url}/missing/x.bin", "404"),
                        (f"{server.url}/error/x.bin", "500"), (closed, "refused")):
        with pytest.raises(DownloadError, match=reason):
            download(url, tmp_path, progress=False, timeout=10)
        assert _files(tmp_path) == []


# --------------------------------------------------------------------------- W5-W8 (D15)
@pytest.mark.parametrize("sha256", [SHA, None], ids=["sha256", "no-sha256"])
def test_w5_w6_a_cut_transfer_keeps_its_part_and_the_next_call_resumes(server, tmp_path,
                                                                       sha256):
    """W5: a server that announces the length but hangs up half-way gives a DownloadError;
    the received bytes wait in data.bin.part, the final name does not exist. W6: the next
    calls continue with Range requests (206) until the file is whole and verified."""
    url = f"{server.url}/range/data.bin"
    server.cut_after = 100_000
    with pytest.raises(DownloadError, match=r"stopped early: got 100000 of 300000 bytes.*"
                                            r"kept in .*data\.bin\.part.*resumes"):
        download(url, tmp_path, sha256=sha256, progress=False)
    assert _files(tmp_path) == ["data.bin.part"]
    assert (tmp_path / "data.bin.part").read_bytes() == PAYLOAD[:100_000]
    with pytest.raises(DownloadError, match="got 200000 of 300000"):  # cut again: resumes
        download(url, tmp_path, sha256=sha256, progress=False)
    server.cut_after = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a verified end: no warning
        path = download(url, tmp_path, sha256=sha256, progress=False)
    assert path.read_bytes() == PAYLOAD and _files(tmp_path) == ["data.bin"]
    assert [r for _, r in server.requests] == [None, "bytes=100000-", "bytes=200000-"]


def test_w6_a_server_without_range_support_restarts_cleanly(server, tmp_path):
    """W6: a server that answers a Range request with the whole file (200) is read from
    byte 0 again: the kept bytes are replaced, not doubled."""
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:50_000])
    path = download(f"{server.url}/norange/data.bin", tmp_path, sha256=SHA, progress=False)
    assert path.read_bytes() == PAYLOAD and _files(tmp_path) == ["data.bin"]
    assert server.requests == [("/norange/data.bin", "bytes=50000-")]


def test_w6_a_part_longer_than_the_file_restarts_after_416(server, tmp_path):
    """W6: kept bytes beyond the file's end (416 Range Not Satisfiable): start again."""
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD + b"junk")
    path = download(f"{server.url}/range/data.bin", tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert [r for _, r in server.requests] == [f"bytes={len(PAYLOAD) + 4}-", None]


def test_w6_a_stale_part_fails_the_checksum_and_is_dropped(server, tmp_path):
    """W6: kept bytes from another file: the resumed file fails its checksum, the message
    says it was continued, the .part is deleted, and the next call downloads it whole."""
    (tmp_path / "data.bin.part").write_bytes(b"x" * 1000)
    url = f"{server.url}/range/data.bin"
    with pytest.raises(ValueError, match="continued from byte 1000.*downloads it whole"):
        download(url, tmp_path, sha256=SHA, progress=False)
    assert _files(tmp_path) == []
    assert download(url, tmp_path, sha256=SHA, progress=False).read_bytes() == PAYLOAD


def test_overwrite_and_resume_false_start_from_byte_zero(server, tmp_path):
    """W6 (options): overwrite=True or resume=False ignore the kept bytes."""
    for options in ({"overwrite": True}, {"resume": False}):
        (tmp_path / "data.bin.part").write_bytes(b"x" * 1000)
        path = download(f"{server.url}/range/data.bin", tmp_path, sha256=SHA, progress=False,
                        **options)
        assert path.read_bytes() == PAYLOAD and _files(tmp_path) == ["data.bin"]
        path.unlink()
    assert all(r is None for _, r in server.requests)


def test_w7_no_length_cut_short_with_a_checksum_is_refused(server, tmp_path):
    """W7: a close-delimited body (no Content-Length) cut short fails its checksum."""
    server.cut_after = 120_000
    with pytest.raises(ValueError, match="checksum mismatch.*120000 bytes"):
        download(f"{server.url}/nolength/data.bin", tmp_path, sha256=SHA, progress=False)
    assert _files(tmp_path) == []


def test_w8_no_length_and_no_checksum_warns_in_one_line(server, tmp_path):
    """W8: nothing can tell this file complete: it is kept, but with a one-line
    UnverifiedDownloadWarning naming the URL, the byte count and the fix (sha256=)."""
    server.cut_after = 120_000
    url = f"{server.url}/nolength/data.bin"
    with pytest.warns(UnverifiedDownloadWarning) as caught:
        path = download(url, tmp_path, progress=False)
    (message,) = [str(w.message) for w in caught]
    assert "\n" not in message and url in message and "120000 bytes" in message
    assert "sha256=" in message and path.stat().st_size == 120_000


def test_w8_chunked_transfers_show_their_end(server, tmp_path):
    """W8 (contrast): a chunked body carries its own end, so a cut one is an error and a
    whole one needs no warning."""
    url = f"{server.url}/chunked/data.bin"
    server.cut_after = 100_000
    with pytest.raises(DownloadError, match="IncompleteRead"):
        download(url, tmp_path, progress=False)
    assert not (tmp_path / "data.bin").exists()
    server.cut_after = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert download(url, tmp_path, progress=False, resume=False).read_bytes() == PAYLOAD


# --------------------------------------------------------------------------- W9-W11
def test_w9_a_stalled_server_times_out_and_keeps_what_came(server, tmp_path):
    """W9: a server silent after 1000 bytes gives a DownloadError naming the timeout; the
    1000 bytes are kept for a resume, the final name does not exist."""
    with pytest.raises(DownloadError, match="timed out"):
        download(f"{server.url}/stall/data.bin", tmp_path, progress=False, timeout=0.5)
    assert _files(tmp_path) == ["data.bin.part"]
    assert (tmp_path / "data.bin.part").read_bytes() == PAYLOAD[:1000]


def test_w10_stale_cache_is_refetched_with_a_checksum_and_reused_without(server, tmp_path):
    """W10: a cached file that fails the checksum is downloaded again; without a checksum
    the cached file is reused as it is (documented)."""
    (tmp_path / "data.bin").write_bytes(b"stale")
    url = f"{server.url}/range/data.bin"
    assert download(url, tmp_path, progress=False).read_bytes() == b"stale"
    assert server.requests == []
    assert download(url, tmp_path, sha256=SHA, progress=False).read_bytes() == PAYLOAD


def test_w11_urls_without_a_name_or_with_another_scheme(tmp_path):
    """W11: one clear ValueError each."""
    with pytest.raises(ValueError, match="cannot tell a file name.*pass dest="):
        download("http://127.0.0.1:9/", tmp_path, progress=False)
    with pytest.raises(ValueError, match="unsupported URL scheme 'gopher'"):
        download("gopher://example.org/x.bin", tmp_path, progress=False)


# --------------------------------------------------------------------------- the .part writer
def test_resumable_write_keeps_interrupted_bytes_and_never_the_final_name(tmp_path):
    """D15 (lassnet.files.resumable_write): Ctrl-C keeps the .part, the old file stays;
    the next block continues after the kept bytes; success replaces the old file and keeps
    its permissions; discard() deletes the .part; an empty .part is not kept."""
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with pytest.raises(KeyboardInterrupt), resumable_write(target) as part:
        part.write(b"abc")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and (tmp_path / "f.bin.part").read_bytes() == b"abc"
    with resumable_write(target) as part:
        assert part.offset == 3
        part.write(b"def")
    assert target.read_bytes() == b"abcdef" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _files(tmp_path) == ["f.bin"]
    with pytest.raises(RuntimeError), resumable_write(target) as part:
        part.write(b"bad")
        part.discard()
        raise RuntimeError("checksum")
    with pytest.raises(OSError), resumable_write(target):
        raise OSError(errno.ECONNRESET, "reset before any byte")
    assert _files(tmp_path) == ["f.bin"] and target.read_bytes() == b"abcdef"


def test_two_downloads_of_one_file_do_not_share_a_part(server, tmp_path):
    """D15: while one process fills data.bin.part, a second download of the same file is
    refused in one line instead of appending to it."""
    with resumable_write(tmp_path / "data.bin") as part:
        part.discard()
        with pytest.raises(DownloadError, match="being written by another process"):
            download(f"{server.url}/range/data.bin", tmp_path, progress=False)
    assert _files(tmp_path) == []


def test_a_full_disk_during_a_download_keeps_the_old_file(server, tmp_path, monkeypatch):
    """D15: ENOSPC after the first bytes: one DownloadError line naming the cause and the
    kept .part (a prefix of the file, for a resume once there is space); the cached file
    is untouched."""
    (tmp_path / "data.bin").write_bytes(b"old")
    real_write = lassnet.files.PartialFile.write
    calls = []

    def fills_up(self, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(lassnet.files.PartialFile, "write", fills_up)
    with pytest.raises(DownloadError, match=r"cannot write .*data\.bin: No space left on "
                                            r"device; the \d+ bytes received are kept in"):
        download(f"{server.url}/range/data.bin", tmp_path, sha256=SHA, overwrite=True,
                 progress=False)
    assert (tmp_path / "data.bin").read_bytes() == b"old"
    assert (tmp_path / "data.bin.part").read_bytes() == PAYLOAD[: calls[0]]


# --------------------------------------------------------------------------- W12-W13 (D14)
def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _tar(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        for member in members:
            payload = (data or {}).get(member.name)
            if payload is not None:
                member.size = len(payload)
            tf.addfile(member, io.BytesIO(payload) if payload is not None else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, **fields):
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, mode
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def test_w12_escapes_and_links_are_refused_before_anything_is_written(tmp_path):
    """W12: ``../x``, an absolute path, a symlink, a hard link (tar) and a zip-slip name
    (zip) are refused with one ValueError; nothing is written, in or outside dest."""
    cases = {
        "up.tar": _tar([_member("../escape.txt")], {"../escape.txt": b"!"}),
        "abs.tar": _tar([_member("/tmp/abs-escape.txt")], {"/tmp/abs-escape.txt": b"!"}),
        "sym.tar": _tar([_member("link", tarfile.SYMTYPE, linkname="/etc/passwd")]),
        "hard.tar": _tar([_member("hard", tarfile.LNKTYPE, linkname="/etc/passwd")]),
        "slip.zip": _zip({"ok.txt": b"ok", "../../slip.txt": b"!"}),
    }
    for name, blob in cases.items():
        archive = tmp_path / name
        archive.write_bytes(blob)
        out = tmp_path / f"out-{name}"
        with pytest.raises(ValueError, match="outside|is a link"):
            extract(archive, out)
        assert _files(out) == [], name
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "slip.txt").exists()


@pytest.mark.parametrize("data_filter", [True, False], ids=["data-filter", "older-python"])
def test_w13_setuid_bits_are_dropped_devices_and_fifos_refused(tmp_path, monkeypatch,
                                                               data_filter):
    """W13: a tar (built in memory) with a setuid/setgid file owned by another user unpacks
    as a plain file of ours (0o755, no special bits); a FIFO or a character device (1, 3)
    is refused before anything is written. Both with tarfile's data filter and with the
    equivalent rules used on Pythons without it."""
    if data_filter and not download_module._HAS_DATA_FILTER:
        pytest.skip("this Python has no tarfile data filter")
    monkeypatch.setattr(download_module, "_HAS_DATA_FILTER", data_filter)
    archive = tmp_path / "suid.tar"
    archive.write_bytes(_tar(
        [_member("pkg", tarfile.DIRTYPE, 0o7777),
         _member("pkg/tool", mode=0o6777, uid=4321, gid=4321, uname="nobody-else"),
         _member("pkg/quiet", mode=0o600)],
        {"pkg/tool": b"#!/bin/sh\n", "pkg/quiet": b"q"},
    ))
    out = extract(archive, tmp_path / "out")
    tool, quiet = out / "pkg" / "tool", out / "pkg" / "quiet"
    assert tool.read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE(tool.stat().st_mode) == 0o755
    assert stat.S_IMODE(quiet.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "pkg").stat().st_mode) & 0o7022 == 0
    assert tool.stat().st_uid == os.getuid()
    for kind, what in ((tarfile.FIFOTYPE, "a FIFO"), (tarfile.CHRTYPE, "a character device")):
        special = tmp_path / "special.tar"
        special.write_bytes(_tar([_member("ok.txt"), _member("dev", kind, 0o666, devmajor=1,
                                                             devminor=3)], {"ok.txt": b"ok"}))
        with pytest.raises(ValueError, match=f"'dev' is {what}, not a file or a folder"):
            extract(special, tmp_path / "out2")
        assert _files(tmp_path / "out2") == []


# --------------------------------------------------------------------------- evaluate (E rows)
def test_e1_evaluate_runs_and_prints_the_table(capsys):
    """E1: ``lassnet evaluate --targets 2`` exits 0 with the per-class table."""
    assert main(["evaluate", "--targets", "2", "--duration", "1"]) == 0
    table = capsys.readouterr().out
    assert "overall (mean)" in table and "oracle_irm" in table and "wrong_query" in table


def _fake_esc50_zip(path: Path) -> Path:
    """A small archive with ESC-50's layout: seven classes in fold 5, 1 s at 16 kHz."""
    rng = np.random.default_rng(0)
    meta = io.StringIO()
    writer = csv.writer(meta)
    writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
    with zipfile.ZipFile(path, "w") as zf:
        for target, category in enumerate(["dog", "rain", "crow", "clock_tick", "siren",
                                           "church_bells", "water_drops"]):
            name = f"5-{100 + target}-A-{target}.wav"
            t = np.arange(16000) / 16000
            wave = 0.3 * np.sin(2 * np.pi * (200 + 150 * target) * t)
            wave += 0.05 * rng.standard_normal(16000)
            buffer = io.BytesIO()
            sf.write(buffer, wave.astype(np.float32), 16000, format="WAV")
            zf.writestr(f"ESC-50-master/audio/{name}", buffer.getvalue())
            writer.writerow([name, 5, target, category, "False", str(100 + target), "A"])
        zf.writestr("ESC-50-master/meta/esc50.csv", meta.getvalue())
    return path


def test_e2_missing_esc50_creates_no_folder_and_download_fetches_it(tmp_path, capsys,
                                                                    monkeypatch):
    """E2 (D18): a data root without ESC-50 is refused in one line that names --download,
    and the folder is not created; with --download the archive is fetched there (a local
    copy stands in for GitHub), unpacked, and evaluated."""
    root = tmp_path / "nowhere" / "esc"
    assert main(["evaluate", "--dataset", "esc50", "--data-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "ESC-50 is not in" in err and "--download" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "nowhere").exists()

    from lassnet.data import ESC50_URL, datasets

    archive = _fake_esc50_zip(tmp_path / "master.zip")
    asked = []

    def local_download(url, dest, sha256, progress):
        asked.append(url)
        return download(archive.as_uri(), dest, progress=False)

    monkeypatch.setattr(datasets, "download", local_download)
    assert main(["evaluate", "--dataset", "esc50", "--data-root", str(root), "--download",
                 "--count", "2", "--duration", "1", "--no-wrong-query"]) == 0
    assert asked == [ESC50_URL] and "overall (mean)" in capsys.readouterr().out
    assert _files(root) == ["ESC-50-master"]  # no archive, no .part left


def test_e2_failed_download_leaves_no_folder(tmp_path, capsys, monkeypatch):
    """E2 (D18): a download that fails before any byte arrives (no network) is one line,
    and the folders made for it are removed again."""
    from lassnet.data import datasets

    def offline(url, dest, sha256, progress):
        return download("http://127.0.0.1:9/master.zip", dest, progress=False)

    monkeypatch.setattr(datasets, "download", offline)
    root = tmp_path / "a" / "b"
    assert main(["evaluate", "--dataset", "esc50", "--data-root", str(root), "--download"]) == 2
    err = capsys.readouterr().err
    assert "download of http://127.0.0.1:9/master.zip failed" in err
    assert len(err.strip().splitlines()) == 1 and _files(tmp_path) == []


@pytest.mark.parametrize("argv, message", [
    (["--count", "0"], "at least 1"),
    (["--count", "-3"], "at least 1"),
    (["--duration", "0"], "duration must be at least 0.05 s"),
    (["--duration", "nan"], "duration must be at least 0.05 s, got nan"),
])
def test_e3_bad_counts_and_durations(argv, message, capsys):
    """E3: one line and exit status 2 each."""
    assert main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def _never(*args, **kwargs):
    raise AssertionError("the command should have stopped before this")


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "nope"], "unknown clip source 'nope'"),
    (["--dataset", "folder"], "--dataset folder needs --data-root"),
    (["--dataset", "synthetic", "--data-root", "."], "--data-root applies to --dataset esc50"),
    (["--download"], "--download applies to --dataset esc50"),
])
def test_e4_unknown_or_incomplete_datasets(argv, message, capsys, monkeypatch):
    """E4: an unknown dataset, folder without a root, options that belong to another
    dataset: one line, exit status 2."""
    if "nope" not in argv:  # refused before the model is even loaded
        monkeypatch.setattr("lassnet.model.LASSModel.load", _never)
    assert main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_e4_folder_without_a_csv(tmp_path, capsys):
    """E4: a folder dataset whose root holds no CSV."""
    assert main(["evaluate", "--dataset", "folder", "--data-root", str(tmp_path)]) == 2
    assert "no CSV of labels in" in capsys.readouterr().err


def test_e5_out_is_checked_before_the_evaluation(tmp_path, capsys, monkeypatch):
    """E5 (D17): --out a folder, a file standing where a folder should be, a device, or an
    unwritable folder: refused in one line before the model is loaded or anything runs."""
    monkeypatch.setattr("lassnet.model.LASSModel.load", _never)
    monkeypatch.setattr("lassnet.evaluate.evaluate_model", _never)
    (tmp_path / "afile").write_text("x")
    cases = [
        (tmp_path, "is a folder"),
        (tmp_path / "afile" / "report.json", "is a file, not a folder"),
        (Path(os.devnull), "not a regular file"),
    ]
    for out, message in cases:
        assert main(["evaluate", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(lassnet.files.tempfile, "mkstemp", refused)
    assert main(["evaluate", "--out", str(tmp_path / "locked" / "report.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Permission denied" in err
    assert not (tmp_path / "locked").exists()


def test_e5_a_full_disk_at_the_end_keeps_the_table_and_leaves_no_file(tmp_path, capsys,
                                                                      monkeypatch):
    """E5 (D17): when the report cannot be written after the run (the disk filled up), the
    table is already printed, the error is one line, and no file or temp file is left."""

    class Report:
        def to_text(self):
            return "the table"

        def to_dict(self):
            return {"rows": []}

    monkeypatch.setattr("lassnet.model.LASSModel.load", lambda *a, **k: None)
    monkeypatch.setattr("lassnet.evaluate.evaluate_model", lambda *a, **k: Report())

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lassnet.files.os, "fsync", full)
    out = tmp_path / "report.json"
    assert main(["evaluate", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "the table" in captured.out
    assert f"cannot write {out}: No space left on device" in captured.err
    assert _files(tmp_path) == []
    monkeypatch.undo()
    monkeypatch.setattr("lassnet.model.LASSModel.load", lambda *a, **k: None)
    monkeypatch.setattr("lassnet.evaluate.evaluate_model", lambda *a, **k: Report())
    assert main(["evaluate", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == {"rows": []}


def test_e6_empty_checkpoint(tmp_path, capsys):
    """E6: a 0-byte checkpoint is one line, exit status 2."""
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert main(["evaluate", "-c", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "empty.pt" in err and len(err.strip().splitlines()) == 1


def test_check_writable_creates_nothing(tmp_path):
    """E5 (lassnet.files.check_writable): a writable new path passes without creating its
    folders."""
    target = tmp_path / "new" / "deeper" / "report.json"
    assert check_writable(target) == target
    assert _files(tmp_path) == []


# --------------------------------------------------------------------------- notebooks (D1)
HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""

EXERCISE_CHAPTER = HEADER + """
# One

```{code-cell} ipython3
:exercise: stft_split

def split_magphase(spec):
    ### BEGIN SOLUTION
    return spec.abs(), spec.angle()
    ### END SOLUTION
```

```{code-cell} ipython3
:exercise: stft_split

result = None
```
"""


@pytest.fixture()
def book(tmp_path):
    root = tmp_path / "book"
    root.mkdir()
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: 01_one\n")
    (root / "intro.md").write_text(HEADER + "\n# Intro\n\n```{code-cell} ipython3\nprint(1)\n```\n")
    (root / "01_one.md").write_text(EXERCISE_CHAPTER)
    return root


def _fail_fsync(monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lassnet.files.os, "fsync", full)


def test_d1_interrupted_make_colab_leaves_whole_notebooks(book, tmp_path, monkeypatch):
    """D1 (notebooks): when writing fails half-way (a full disk), the Colab notebooks and
    the nbval notebooks already there stay as they were and no temp file is left."""
    from tools import notebooks

    colab, plain = tmp_path / "colab", tmp_path / "nb"
    notebooks.write_colab(colab, book)
    for source in notebooks.chapters(book):
        notebooks.to_notebook(source, plain)
    before = {p: p.read_bytes() for p in [*colab.iterdir(), *plain.iterdir()]}
    (book / "01_one.md").write_text(EXERCISE_CHAPTER.replace("# One", "# One, changed"))
    _fail_fsync(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        notebooks.write_colab(colab, book)
    with pytest.raises(OSError, match="No space"):
        notebooks.to_notebook(book / "01_one.md", plain)
    assert {p: p.read_bytes() for p in [*colab.iterdir(), *plain.iterdir()]} == before
    monkeypatch.undo()
    notebooks.write_colab(colab, book)
    assert "One, changed" in (colab / "01_one.ipynb").read_text()
    assert notebooks.check_colab(colab, book) == []


def test_d1_interrupted_make_classroom_leaves_whole_notebooks(book, tmp_path, monkeypatch):
    """D1 (notebooks): the student/teacher notebooks are written atomically as well."""
    import nbformat

    from tools import exercises

    out = tmp_path / "classroom"
    written = exercises.generate(out, book)
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "student/01_one.ipynb", "teacher/01_one.ipynb"]
    before = {p: p.read_bytes() for p in written}
    _fail_fsync(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        exercises.generate(out, book)
    assert {p: p.read_bytes() for p in written} == before
    assert sorted(p.name for p in (out / "student").iterdir()) == ["01_one.ipynb"]
    student = nbformat.read(out / "student" / "01_one.ipynb", as_version=4)
    assert any("NotImplementedError" in c.source for c in student.cells)
