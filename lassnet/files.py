"""Writing files so that they appear complete or not at all.

Every file lassnet writes (audio, checkpoints, logs, reports, notebooks) goes
through :func:`atomic_write`: the bytes go to a temporary file in the same folder, which is
flushed to disk and only then renamed onto the target (``os.replace``, atomic on one file
system). If anything fails on the way (a full disk, an exception, Ctrl-C) the temporary file
is removed and the target is untouched, so an output can never be a truncated file that looks
valid, and writing an output over its own input can never destroy the input.

Downloads use :func:`resumable_write` instead: the bytes go to ``<name>.part``, which an
interruption keeps so that the next attempt can continue it, and which gets the final name
only once the caller has verified it. :func:`check_writable` tells, before any long work,
whether an output path can be written at all.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "resumable_write", "PartialFile", "check_writable", "write_text",
           "write_bytes"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", **open_kwargs
) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    Args:
        path: the file to write. Missing parent folders are created.
        mode: ``"wb"`` (binary, the default) or ``"w"`` (text).
        **open_kwargs: passed to :func:`open` (``encoding=``, ``newline=``).

    Yields the open file object. When the block ends normally the file is flushed, synced to
    disk, given the permissions of the file it replaces (or the usual ``0o666`` less the
    umask for a new file) and renamed onto ``path``. When the block raises, the temporary
    file is deleted and ``path`` keeps its old contents (or stays absent).

    >>> with atomic_write("model.pt") as fh:          # doctest: +SKIP
    ...     torch.save(state, fh)
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:
            permissions = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:  # a new file (mkstemp made the temporary one 0600)
            permissions = 0o666 & ~_umask()
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class PartialFile:
    """A ``<name>.part`` file being filled by :func:`resumable_write`.

    ``offset`` is the number of bytes kept from an earlier, interrupted attempt (0 for a fresh
    file); :meth:`write` appends after them. :meth:`restart` empties the file (a server that
    cannot resume sends everything again), :meth:`discard` marks the bytes as wrong (a checksum
    mismatch) so that the file is deleted instead of kept or given its final name.
    """

    def __init__(self, path: Path, part: Path, fh: IO[bytes]):
        self.path = path  # the final name
        self.part = part  # where the bytes are until then
        self._fh = fh
        self.offset = fh.seek(0, os.SEEK_END)
        self.discarded = False

    def write(self, data: bytes) -> int:
        """Append ``data``; returns the number of bytes written."""
        return self._fh.write(data)

    def restart(self) -> None:
        """Drop the kept bytes and start again from an empty file."""
        self._fh.seek(0)
        self._fh.truncate()
        self.offset = 0

    def discard(self) -> None:
        """Delete the ``.part`` file when the block ends, whatever happens."""
        self.discarded = True

    def size(self) -> int:
        """The bytes in the file so far (kept ones included)."""
        self._fh.flush()
        return os.fstat(self._fh.fileno()).st_size


def _lock(fh: IO[bytes], part: Path) -> None:
    """Hold an exclusive lock on an open ``.part`` file (POSIX), so that two processes never
    append to the same one; the lock ends when the file is closed."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise BlockingIOError(
                f"{part} is being written by another process; wait for it to finish"
            ) from None
        raise


@contextlib.contextmanager
def resumable_write(path: str | os.PathLike, *, resume: bool = True) -> Iterator[PartialFile]:
    """Fill ``<path>.part`` (continuing the bytes an interrupted attempt left there); on
    success it is synced to disk and renamed onto ``path``.

    Args:
        path: the final file. Missing parent folders are created.
        resume: keep the bytes an earlier attempt left in ``<path>.part`` (the yielded
            :class:`PartialFile`'s ``offset`` says how many); ``False`` starts from empty.

    When the block ends normally the ``.part`` file replaces ``path`` (with the permissions
    of the file it replaces, or the usual ``0o666`` less the umask for a new one), unless
    :meth:`PartialFile.discard` was called. When the block raises (a dropped connection,
    Ctrl-C, a full disk) the ``.part`` file is kept for the next attempt, unless it is empty
    or was discarded; ``path`` is never touched. So ``path`` only ever holds a complete file,
    which the caller has checked (length, checksum) before letting the block end. A second
    process that tries to fill the same ``.part`` file at the same time gets a
    ``BlockingIOError``. Used by :func:`lassnet.data.download` (chapter 6).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o666)  # no O_TRUNC: the lock comes first
    fh = os.fdopen(fd, "r+b")
    try:
        _lock(fh, part)
        partial = PartialFile(path, part, fh)
        if not resume:
            partial.restart()
    except BaseException:
        fh.close()
        raise
    committed = False
    try:
        yield partial
        if not partial.discarded:
            fh.flush()
            os.fsync(fh.fileno())
            with contextlib.suppress(OSError):  # a new file keeps the umask's permissions
                os.chmod(part, stat.S_IMODE(os.stat(path).st_mode))
            os.replace(part, path)
            committed = True
    finally:
        try:
            empty = not committed and partial.size() == 0
        except (OSError, ValueError):
            empty = False
        with contextlib.suppress(OSError):  # committed: already flushed; else: keep going
            fh.close()
        if not committed and (partial.discarded or empty):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)


def check_writable(path: str | os.PathLike) -> Path:
    """Check, before any long work, that a file can be written at ``path``; return it.

    Raises ``IsADirectoryError`` when ``path`` is a folder, ``FileExistsError`` when it is a
    device, pipe or socket (an atomic write would replace the node itself),
    ``NotADirectoryError`` when a file stands where a parent folder should be, and
    ``PermissionError`` (or the ``OSError`` of the file system, e.g. read-only) when the
    folder refuses a new file. The test writes and removes a temporary file in the nearest
    existing folder; nothing else is created. Each message is one line naming the path.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name such as {path / 'out'}")
    if path.exists() and not path.is_file():  # a device or a pipe: renaming onto it would
        raise FileExistsError(  # replace the node itself (/dev/null as root)
            f"{path} is not a regular file (a device, pipe or socket); give a file name"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise type(err)(f"cannot write {path}: {err.strerror or err}") from None
    return path


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)
