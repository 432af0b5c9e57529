"""Downloads with a cache, a progress bar, a checksum and resume (taught in chapter 6, "Data").

Every file the project fetches goes through :func:`download`:

* it lands in the cache folder (:func:`cache_dir`: the ``cache_dir`` argument, else the
  ``LASSNET_CACHE`` environment variable, else ``~/.cache/lassnet``);
* it is written to ``<name>.part`` in the same folder (:func:`lassnet.files.resumable_write`)
  and renamed to its final name only once it is complete (the length the server announced)
  and its SHA-256 matches, so a half-downloaded or corrupt file is never mistaken for a good
  one;
* a transfer that stops early keeps its ``.part`` file, and the next call continues it with
  an HTTP ``Range`` request (or starts again when the server cannot resume); a checksum
  mismatch deletes it;
* a file already in the cache is reused when its checksum matches (or, without a checksum,
  when it exists: only complete files ever get their final name);
* a server that sends no length (and no chunked encoding) cannot show a transfer complete:
  without a checksum such a file is kept with an :class:`UnverifiedDownloadWarning`.

:func:`extract` unpacks zip and tar archives, refusing members that would land outside the
destination folder, links, and anything that is not a regular file or a folder (devices,
FIFOs); set-user-ID, set-group-ID and sticky bits are dropped.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from pathlib import Path

from ..files import PartialFile, resumable_write

__all__ = ["cache_dir", "download", "extract", "sha256sum", "DownloadError",
           "UnverifiedDownloadWarning"]

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download that did not complete (network error, truncated transfer)."""


class UnverifiedDownloadWarning(UserWarning):
    """A download kept although nothing could show it complete: the server sent no length
    and no checksum was given."""


def cache_dir(path: str | os.PathLike | None = None, *, create: bool = True) -> Path:
    """The folder downloads and datasets are kept in (created if missing, unless
    ``create=False``: looking for a dataset must not make folders).

    ``path`` if given, else ``$LASSNET_CACHE``, else ``~/.cache/lassnet``.
    """
    if path is None:
        path = os.environ.get("LASSNET_CACHE") or Path.home() / ".cache" / "lassnet"
    path = Path(path).expanduser()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def sha256sum(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _filename_from_url(url: str) -> str:
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not name:
        raise ValueError(f"cannot tell a file name from the URL {url!r}; pass dest=<file path>")
    return name


def download(
    url: str,
    dest: str | os.PathLike | None = None,
    sha256: str | None = None,
    progress: bool = True,
    *,
    overwrite: bool = False,
    timeout: float = 60.0,
    resume: bool = True,
) -> Path:
    """Download ``url`` (``http(s)://`` or ``file://``) and return the local path.

    Args:
        url: where to fetch from.
        dest: the target file, or an existing folder to put it in (named after the URL);
            default: the cache folder (:func:`cache_dir`).
        sha256: expected SHA-256 (hex). When given, a cached file with this checksum is
            reused, and a download that does not match raises ``ValueError`` (and no file is
            kept). When ``None``, nothing is verified but the length.
        progress: show a progress bar (``tqdm``).
        overwrite: download again even if the file is already there (from byte 0).
        timeout: seconds to wait for the server.
        resume: continue the ``<name>.part`` file an interrupted call left behind, with an
            HTTP ``Range`` request; a server that answers with the whole file (200, not 206)
            is read from the start again. ``False`` always starts from byte 0.

    The bytes go to ``<dest>.part`` and get the final name only once the transfer is
    complete: its length matches the server's ``Content-Length`` (or ``Content-Range``) and
    its SHA-256 matches ``sha256`` when given. A transfer that stops early raises
    ``DownloadError`` and keeps the ``.part`` file, so that running the same call again
    resumes it. A server that sends neither a length nor chunked encoding gives no way to
    tell a complete file from a cut one: without ``sha256`` the file is kept with a warning.

    Raises:
        ValueError: checksum mismatch (the ``.part`` file is deleted: the next call starts
            from byte 0).
        DownloadError: the transfer failed or stopped early, or the file cannot be written.

    Taught in chapter 6 (Data).
    """
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
            raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    scheme = urllib.parse.urlparse(url).scheme.lower()
    if scheme not in ("http", "https", "file", "ftp"):
        raise ValueError(f"cannot download {url!r}: unsupported URL scheme {scheme!r}")
    dest = cache_dir() if dest is None else Path(dest).expanduser()
    if dest.is_dir():
        dest = dest / _filename_from_url(url)

    if dest.exists() and not overwrite:
        if sha256 is None or sha256sum(dest) == sha256:
            return dest

    try:
        with resumable_write(dest, resume=resume and not overwrite) as part:
            _transfer(url, part, sha256, progress, timeout)
    except DownloadError:
        raise
    except BlockingIOError as err:  # the same download, running in another process
        raise DownloadError(f"cannot write {dest}: {err}") from err
    except OSError as err:  # a full disk, an unwritable folder
        part = dest.with_name(dest.name + ".part")
        size = part.stat().st_size if part.is_file() else 0
        raise DownloadError(
            f"cannot write {dest}: {err.strerror or err}{_kept_bytes(part, size)}"
        ) from err
    return dest


def _transfer(url: str, part: PartialFile, sha256: str | None, progress: bool,
              timeout: float) -> None:
    """Fill ``part`` from ``url`` (continuing its kept bytes where the server allows) and
    check length and checksum; raises without letting ``part`` get its final name."""
    try:
        resp, start, total = _open(url, part.offset, timeout)
    except Exception as err:  # URLError (404, refused), timeouts
        raise DownloadError(f"download of {url} failed: {err!r}") from err
    with resp:
        if start != part.offset:  # the server sends the whole file: begin again
            part.restart()
        digest = hashlib.sha256()
        if start:
            with open(part.part, "rb") as kept:
                for chunk in iter(lambda: kept.read(_CHUNK), b""):
                    digest.update(chunk)
        chunked = "chunked" in (resp.headers.get("Transfer-Encoding") or "").lower()
        received = 0
        # read1 returns what has arrived (up to _CHUNK), so that a stall or a reset loses
        # nothing already received: it is in the .part file for the next attempt
        read = getattr(resp, "read1", resp.read)
        bar = _progress_bar(total, part.path.name, progress, initial=start)
        try:
            while True:
                try:
                    chunk = read(_CHUNK)
                except Exception as err:  # IncompleteRead, timeouts, resets
                    raise DownloadError(
                        f"download of {url} failed: {err!r}{_kept(part, start + received)}"
                    ) from err
                if not chunk:
                    break
                part.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    size = start + received
    if total is not None and size < total:
        raise DownloadError(
            f"download of {url} stopped early: got {size} of {total} bytes{_kept(part, size)}"
        )
    if total is not None and size > total:
        part.discard()
        raise DownloadError(
            f"download of {url} sent {size} bytes, more than the {total} announced; "
            "the file was not kept"
        )
    actual = digest.hexdigest()
    if sha256 is not None and actual != sha256:
        part.discard()
        resumed = (f" (continued from byte {start} of an earlier attempt; the next call "
                   "downloads it whole)") if start else ""
        raise ValueError(
            f"checksum mismatch for {url}: expected SHA-256 {sha256}, got {actual} "
            f"({size} bytes){resumed}. The file was not kept. If the source changed on "
            "purpose, pass the new checksum (or sha256=None to skip verification)."
        )
    if total is None and not chunked and sha256 is None:
        warnings.warn(
            f"download of {url}: the server sent no length, so a cut transfer cannot be told "
            f"from a complete one; {size} bytes kept unverified in {part.path} "
            "(pass sha256= to verify)",
            UnverifiedDownloadWarning,
            stacklevel=3,
        )


def _kept(part: PartialFile, size: int) -> str:
    return _kept_bytes(part.part, size)


def _kept_bytes(part: Path, size: int) -> str:
    if size == 0:
        return ""
    return f"; the {size} bytes received are kept in {part} and the next call resumes"


def _open(url: str, offset: int, timeout: float):
    """Open ``url``, asking for the bytes from ``offset`` on when ``offset > 0``.

    Returns ``(response, start, total)``: ``start`` is where the body begins (``offset``
    when the server answered 206 Partial Content from there, else 0) and ``total`` the whole
    file's length when the server says it (else ``None``).
    """
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the kept bytes do not fit this file: begin again
            err.close()
            return _open(url, 0, timeout)
        raise
    length = _int(resp.headers.get("Content-Length"))
    if offset and getattr(resp, "status", None) == 206:
        first, total = _content_range(resp.headers.get("Content-Range"))
        if first != offset:
            resp.close()
            return _open(url, 0, timeout)
        if total is None and length is not None:
            total = offset + length
        return resp, offset, total
    return resp, 0, length


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """``"bytes 100-999/1000"`` -> ``(100, 1000)``; ``"bytes 100-999/*"`` -> ``(100, None)``."""
    try:
        unit, _, spec = (header or "").strip().partition(" ")
        span, _, total = spec.partition("/")
        if unit.lower() != "bytes":
            return None, None
        return int(span.split("-")[0]), _int(total)
    except ValueError:
        return None, None


def _progress_bar(total: int | None, name: str, enabled: bool, initial: int = 0):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=name)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _safe_target(root: Path, name: str) -> Path:
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"archive member {name!r} would be written outside {root}")
    return target


#: Python >= 3.11.4 (and 3.10.12) has tarfile's "data" filter; older ones get _made_safe.
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")


def _kind(member: tarfile.TarInfo) -> str:
    if member.ischr():
        return "a character device"
    if member.isblk():
        return "a block device"
    if member.isfifo():
        return "a FIFO"
    return f"of tar type {member.type!r}"


def _made_safe(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """A copy of a regular-file or folder member as tarfile's "data" filter would extract
    it: no set-user-ID, set-group-ID or sticky bit, no write permission for group and
    others, readable and writable by the owner, owned by whoever extracts it."""
    safe = copy.copy(member)
    mode = member.mode & 0o755
    if member.isdir():
        mode |= 0o700
    else:
        if not mode & 0o100:
            mode &= ~0o111
        mode |= 0o600
    safe.mode = mode
    uid, gid = (getattr(os, name, lambda: 0)() for name in ("getuid", "getgid"))
    safe.uid, safe.gid, safe.uname, safe.gname = uid, gid, "", ""
    return safe


def extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unpack a ``.zip`` or ``.tar(.gz|.bz2|.xz)`` archive into ``dest`` and return ``dest``.

    Members with absolute paths or ``..`` that would escape ``dest``, links, and tar members
    that are neither regular files nor folders (character and block devices, FIFOs) raise
    ``ValueError`` before anything is written. Set-user-ID, set-group-ID and sticky bits and
    group/other write permissions are dropped, and files belong to whoever extracts them
    (tarfile's ``filter="data"``, or the same rules on Pythons without it). The archive is
    unpacked into a temporary folder inside ``dest`` first and its entries moved into place
    at the end, so an interrupted extraction leaves no partial top-level folder behind.
    """
    archive = Path(archive)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    try:
        root = staging.resolve()
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:  # zipfile writes neither links nor modes
                for name in zf.namelist():
                    _safe_target(root, name)
                zf.extractall(staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for member in members:
                    _safe_target(root, member.name)
                    if member.issym() or member.islnk():
                        raise ValueError(f"archive member {member.name!r} is a link; refused")
                    if not (member.isfile() or member.isdir()):
                        raise ValueError(
                            f"archive member {member.name!r} is {_kind(member)}, not a file "
                            "or a folder; refused"
                        )
                if _HAS_DATA_FILTER:
                    try:
                        tf.extractall(staging, filter="data")
                    except tarfile.FilterError as err:
                        raise ValueError(f"{archive}: {err}; refused") from err
                else:
                    tf.extractall(staging, members=[_made_safe(m) for m in members])
        else:
            raise ValueError(f"{archive} is not a zip or tar archive")
        for entry in staging.iterdir():
            target = dest / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest
