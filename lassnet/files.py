"""Writing files so that they appear complete or not at all.

Every file lassnet writes (audio, checkpoints, logs, reports, downloads, notebooks) goes
through :func:`atomic_write`: the bytes go to a temporary file in the same folder, which is
flushed to disk and only then renamed onto the target (``os.replace``, atomic on one file
system). If anything fails on the way (a full disk, an exception, Ctrl-C) the temporary file
is removed and the target is untouched, so an output can never be a truncated file that looks
valid, and writing an output over its own input can never destroy the input.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "write_text", "write_bytes"]


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
