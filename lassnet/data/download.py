"""Downloads with a cache, a progress bar and a checksum (taught in chapter 6, "Data").

Every file the project fetches goes through :func:`download`:

* it lands in the cache folder (:func:`cache_dir`: the ``cache_dir`` argument, else the
  ``LASSNET_CACHE`` environment variable, else ``~/.cache/lassnet``);
* it is written to a temporary file in the same folder and moved into place with
  ``os.replace`` only once it is complete and its SHA-256 matches, so a half-downloaded or
  corrupt file is never mistaken for a good one, and nothing is left behind on failure;
* a file already in the cache is reused when its checksum matches (or, without a checksum,
  when it exists: only complete files ever get their final name).

:func:`extract` unpacks zip and tar archives, refusing members that would land outside the
destination folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from ..files import atomic_write

__all__ = ["cache_dir", "download", "extract", "sha256sum", "DownloadError"]

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download that did not complete (network error, truncated transfer)."""


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder downloads and datasets are kept in (created if missing).

    ``path`` if given, else ``$LASSNET_CACHE``, else ``~/.cache/lassnet``.
    """
    if path is None:
        path = os.environ.get("LASSNET_CACHE") or Path.home() / ".cache" / "lassnet"
    path = Path(path).expanduser()
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
) -> Path:
    """Download ``url`` (``http(s)://`` or ``file://``) and return the local path.

    Args:
        url: where to fetch from.
        dest: the target file, or an existing folder to put it in (named after the URL);
            default: the cache folder (:func:`cache_dir`).
        sha256: expected SHA-256 (hex). When given, a cached file with this checksum is
            reused, and a download that does not match raises ``ValueError`` (and no file is
            kept). When ``None``, nothing is verified.
        progress: show a progress bar (``tqdm``).
        overwrite: download again even if the file is already there.
        timeout: seconds to wait for the server.

    Raises:
        ValueError: checksum mismatch.
        DownloadError: the transfer failed or stopped early (no file is kept).

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
    dest.parent.mkdir(parents=True, exist_ok=True)

    if dest.exists() and not overwrite:
        if sha256 is None or sha256sum(dest) == sha256:
            return dest

    try:
        with atomic_write(dest) as out:  # the file appears only complete and verified
            digest = hashlib.sha256()
            received = 0
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    total = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
                    total = int(total) if total and total.isdigit() else None
                    bar = _progress_bar(total, dest.name, progress)
                    try:
                        while True:
                            chunk = resp.read(_CHUNK)
                            if not chunk:
                                break
                            out.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
                    finally:
                        bar.close()
            except Exception as err:  # URLError, http.client.IncompleteRead, timeouts, resets
                raise DownloadError(f"download of {url} failed: {err!r}") from err
            if total is not None and received != total:
                raise DownloadError(
                    f"download of {url} stopped early: got {received} of {total} bytes"
                )
            actual = digest.hexdigest()
            if sha256 is not None and actual != sha256:
                raise ValueError(
                    f"checksum mismatch for {url}: expected SHA-256 {sha256}, got {actual} "
                    f"({received} bytes). The file was not kept. If the source changed on "
                    "purpose, pass the new checksum (or sha256=None to skip verification)."
                )
    except DownloadError:
        raise
    except OSError as err:  # a full disk or an unwritable folder: one line, nothing left
        raise DownloadError(f"cannot write {dest}: {err.strerror or err}") from err
    return dest


def _progress_bar(total: int | None, name: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name)


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


def extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unpack a ``.zip`` or ``.tar(.gz|.bz2|.xz)`` archive into ``dest`` and return ``dest``.

    Members with absolute paths or ``..`` that would escape ``dest`` raise ``ValueError``
    before anything is written. The archive is unpacked into a temporary folder inside
    ``dest`` first and its entries moved into place at the end, so an interrupted extraction
    leaves no partial top-level folder behind.
    """
    archive = Path(archive)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    try:
        root = staging.resolve()
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _safe_target(root, name)
                zf.extractall(staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    _safe_target(root, member.name)
                    if member.issym() or member.islnk():
                        raise ValueError(f"archive member {member.name!r} is a link; refused")
                tf.extractall(staging)
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
