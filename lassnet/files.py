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

__all__ = ["atomic_write", "atomic_stream", "resumable_write", "PartialFile", "check_writable",
           "write_text", "write_bytes"]


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


class _KeepErrors:
    """A binary file handed to a C library that calls Python back to write (libsndfile, through
    ``soundfile``'s virtual I/O). An exception raised inside such a callback cannot cross the C
    code: it would be printed as "Exception ignored" and the library would see a short write.
    So the first one is kept, every later call reports nothing done, and
    :func:`atomic_stream` raises it when the block ends."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self.error: BaseException | None = None

    def _call(self, method: str, *args, failed=0):
        if self.error is not None:
            return failed
        try:
            return getattr(self._fh, method)(*args)
        except BaseException as err:  # noqa: BLE001 - kept and raised after the C call
            self.error = err
            return failed

    def write(self, data) -> int:
        return self._call("write", data)

    def read(self, size: int = -1) -> bytes:
        return self._call("read", size, failed=b"")

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._call("seek", offset, whence, failed=-1)

    def tell(self) -> int:
        return self._call("tell", failed=-1)

    def flush(self) -> None:
        self._call("flush", failed=None)

    @property
    def name(self) -> str:
        return self._fh.name


@contextlib.contextmanager
def atomic_stream(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """:func:`atomic_write` (binary) for a writer in C that calls Python back, such as
    ``soundfile.SoundFile(fh, "w", ...)`` writing a long file block by block.

    An error while writing (a full disk: ``OSError`` errno ``ENOSPC``; Ctrl-C) is raised as
    itself when the block ends, instead of the library's own "System error" or a bare
    ``AssertionError``, and, as with :func:`atomic_write`, the temporary file is removed and
    ``path`` keeps its old contents.
    """
    with atomic_write(path, "wb") as fh:
        guarded = _KeepErrors(fh)
        try:
            yield guarded
        except BaseException:
            if guarded.error is not None:
                raise guarded.error from None
            raise
        if guarded.error is not None:
            raise guarded.error


def check_writable(path: str | os.PathLike) -> Path:
    """Check, before any work, that a file can be written at ``path`` the way
    :func:`atomic_write` writes it (a temporary file beside it, renamed onto it).

    Raises ``ValueError`` in one line when ``path`` is a folder, exists but is not a regular
    file (``/dev/null``, a pipe), or its folder cannot take a new file (read-only, no
    permission, not a folder). The test writes and removes an empty temporary file in the
    folder; a missing folder is not created here, its nearest existing parent is checked
    instead. Returns ``path`` as a ``Path``.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder; give a file name inside it")
    if path.exists() and not path.is_file():
        raise ValueError(
            f"cannot write {path}: it is not a regular file (a device or a pipe); lassnet "
            "writes a new file and renames it into place"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: {folder} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise ValueError(
            f"cannot write {path}: the folder {folder} does not take new files "
            f"({err.strerror or err})"
        ) from None
    os.close(fd)
    os.unlink(tmp)
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
