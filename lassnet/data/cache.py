"""Clips rendered once into a memory-mapped file, served as the source serves them
(taught in chapter 7, "Training": data fast enough for a GPU; the clip sources are chapter 6).

The synthetic corpus is made on the CPU, a few hundred clips per second per core
(``benchmarks/data.py``); a GPU trains the ``tiny`` preset far faster than that. A training
run reads every clip of a finite pool many times (each mixture draws 2 to 6 of them), so
:class:`RenderedClips` makes each clip once and keeps it:

* the waves go into one ``.npy`` file, float32 ``(count, C, L)`` (``C = 1``: mono sources),
  read back through a memory map, so a ``DataLoader`` worker copies one clip from the page
  cache instead of synthesising it;
* beside it a JSON *sidecar* holds what identifies the content (:func:`cache_key`: the
  source's class, split, seed, sample rate, duration, count, classes and lassnet's version;
  for files, their paths, sizes and modification times), the array's shape, a SHA-256 of
  its bytes and of the items' other fields (label, caption, index, ...), and those fields;
* the file is named by a hash of the key, so another seed, rate or count renders another
  file instead of serving the wrong one;
* the render writes a temporary file in the same folder and renames it only when it is
  complete (:func:`lassnet.files.atomic_write`), the sidecar last: an interrupted render
  leaves nothing that looks complete. Two processes that want the same file (the ranks of a
  distributed run) take turns on a lock, and the second one finds the first one's file;
* every open checks both checksums; a mismatch (a damaged disk, a half-copied folder)
  renders the file again, with one warning line, instead of serving garbage.

Rendering is deterministic (the clips are pure functions of their seeds), so the same source
gives byte-identical files on every run and every machine with the same library versions,
and an item of :class:`RenderedClips` is byte-identical to the source's item of the same
index: mixtures built on either are the same, and a resumed run reads the same batches.

All clips must have one shape (a synthetic corpus always does; files of different lengths
need the source's ``duration=`` so that each is cut or padded to one length).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..files import atomic_write, check_writable, write_text
from .base import LabelledClips
from .datasets import FileClips
from .synthetic import SyntheticClips

__all__ = ["RenderedClips", "cache_key", "rendered_bytes"]

#: Bumped when the file layout changes; part of every key.
FORMAT = 1
#: Clips hashed per read while checking a file.
_CHUNK_BYTES = 64 * 2**20
#: Disk space kept free beyond the file itself.
_HEADROOM = 256 * 2**20


def cache_key(source) -> dict:
    """What identifies the clips of ``source``: a JSON-able dict, the same for two sources
    with the same clips.

    For :class:`~lassnet.data.SyntheticClips`: split, sample rate, duration, count, classes,
    seed and the lassnet version (the synthesiser's recipe). For file sources
    (:class:`~lassnet.data.ESC50`, :class:`~lassnet.data.FolderDataset`): sample rate,
    duration, error policy and every record (path, labels, caption) with the file's size and
    modification time. Other sources raise ``ValueError``: pass ``key=`` to
    :class:`RenderedClips`.
    """
    from .. import __version__

    base = {"format": FORMAT, "lassnet": __version__, "source": type(source).__name__,
            "sample_rate": int(source.sample_rate)}
    if isinstance(source, SyntheticClips):
        if source.duration is None:
            raise ValueError("a SyntheticClips source with duration=None has no fixed clip "
                             "length; use source.with_duration(seconds) before caching it")
        return {**base, "split": source.split, "duration": source.duration,
                "count": source.count, "classes": list(source.classes), "seed": source.seed}
    if isinstance(source, FileClips):
        records = []
        for r in source.records:
            st = os.stat(r["path"])
            records.append([str(r["path"]), list(r["labels"]), r.get("caption"),
                            st.st_size, st.st_mtime_ns])
        digest = hashlib.sha256(json.dumps(records, default=str).encode()).hexdigest()
        return {**base, "duration": source.duration, "on_error": source.on_error,
                "count": len(source), "records_sha256": digest}
    raise ValueError(f"cannot tell what identifies the clips of a {type(source).__name__}; "
                     "pass key={...} (what determines its clips) to RenderedClips")


def _clip_shape(source) -> tuple[int, int]:
    """``(C, L)`` of the source's clips (a synthetic source's without making one)."""
    if isinstance(source, SyntheticClips) and source.duration is not None:
        return 1, int(round(source.duration * source.sample_rate))
    return tuple(source[0]["wave"].shape)


def rendered_bytes(source) -> int:
    """The size in bytes of the ``.npy`` file that :class:`RenderedClips` writes for
    ``source``: ``4 · count · C · L`` plus a small header."""
    channels, length = _clip_shape(source)
    return 4 * len(source) * channels * length + 128


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _items_sha256(items: list[dict]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=False).encode()).hexdigest()


def _plain(index: int, key: str, value):
    """``value`` if JSON keeps it exactly (str, int, float, bool, None); else ValueError."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise ValueError(f"item {index} of the source has {key!r} of type {type(value).__name__}; "
                     "a rendered cache keeps only strings and numbers besides the wave")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (POSIX; created if missing) for the block."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; renders may then happen twice
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class RenderedClips(LabelledClips):
    """The clips of a finite clip source, rendered once into a memory-mapped ``.npy`` file and
    served from it (see the module docstring).

    Item ``i`` is the source's item ``i``: the same keys in the same order, ``wave`` a float32
    ``(C, L)`` tensor with the same bytes, and the other fields (``label``, ``caption``,
    ``index``, ``seed`` or ``path``...) as the source returned them during the render.
    ``item_classes`` and ``indices_of`` are the source's (they read no audio), so a
    :class:`~lassnet.data.MixtureDataset` built on a ``RenderedClips`` makes exactly the
    mixtures it makes on the source itself.

    Args:
        source: a finite clip source whose clips all have one shape ``(C, L)``.
        folder: where the files go (default ``lassnet.data.cache_dir() / "rendered"``).
        progress: show progress bars while rendering or checking.
        workers: ``DataLoader`` worker processes that render (0: this process); the file is
            the same with any number.
        key: what identifies the content, for sources :func:`cache_key` does not know.

    Attributes: ``path`` (the ``.npy`` file), ``sidecar`` (its JSON), ``key``,
    ``rendered`` (whether this construction rendered the file), ``source``.

    Raises ``ValueError`` (one line) for a source too large for the disk, clips of different
    shapes or a dtype other than float32, and a folder that cannot be written.
    Taught in chapter 7 (Training).
    """

    def __init__(self, source, folder: str | os.PathLike | None = None, *,
                 progress: bool = True, workers: int = 0, key: dict | None = None):
        if folder is None:
            from .download import cache_dir

            folder = cache_dir() / "rendered"
        for attr in ("sample_rate", "classes", "item_classes", "indices_of", "__getitem__",
                     "__len__"):
            if not hasattr(source, attr):
                raise ValueError(f"source must follow the ClipSource protocol (missing "
                                 f"{attr!r}); see lassnet.data.base")
        if int(workers) < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.source = source
        self.sample_rate = int(source.sample_rate)
        self.classes = tuple(source.classes)
        self.count = len(source)
        self.key = dict(cache_key(source) if key is None else key)
        self.folder = Path(folder).expanduser()
        stem = f"{type(source).__name__.lower()}-{_digest(self.key)[:16]}"
        self.path = self.folder / f"{stem}.npy"
        self.sidecar = self.folder / f"{stem}.json"
        self.progress, self.workers = bool(progress), int(workers)
        self.rendered = False
        self._items: list[dict] | None = None
        self._array: np.ndarray | None = None
        check_writable(self.sidecar)
        self.folder.mkdir(parents=True, exist_ok=True)
        with _locked(self.folder / f"{stem}.lock"):
            problem = self._open()
            if problem is not None:
                if problem != "missing":
                    warnings.warn(f"rendered clips {self.path} {problem}; rendering them again",
                                  stacklevel=2)
                self._render()
                problem = self._open()
                if problem is not None:  # written a moment ago: the disk is failing
                    raise OSError(f"rendered clips {self.path} {problem} right after writing")

    # -- the file ------------------------------------------------------------------------------

    def _open(self) -> str | None:
        """Open and check the file; ``None`` when it serves, else what is wrong with it."""
        if not self.sidecar.is_file() or not self.path.is_file():
            return "missing"
        try:
            meta = json.loads(self.sidecar.read_text(encoding="utf-8"))
            array = np.load(self.path, mmap_mode="r")
        except (OSError, ValueError, UnicodeDecodeError) as err:
            return f"cannot be read ({type(err).__name__}: {err})".splitlines()[0]
        if meta.get("key") != self.key:
            return "belong to another source (key mismatch)"
        items = meta.get("items")
        if (array.dtype != np.float32 or array.ndim != 3 or list(array.shape) != meta.get("shape")
                or not isinstance(items, list) or len(items) != array.shape[0]
                or array.shape[0] != self.count):
            return "do not have the recorded shape"
        if _items_sha256(items) != meta.get("items_sha256"):
            return "have item fields that fail their checksum"
        if self._array_sha256(array) != meta.get("sha256"):
            return "fail their SHA-256 checksum"
        self._items, self._array = items, array
        return None

    def _array_sha256(self, array: np.ndarray) -> str:
        digest = hashlib.sha256()
        rows = max(1, _CHUNK_BYTES // max(1, array[0].nbytes))
        starts = range(0, len(array), rows)
        if self.progress and array.nbytes > _CHUNK_BYTES:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="checking rendered clips", unit="chunk", leave=False)
        for start in starts:
            digest.update(np.ascontiguousarray(array[start:start + rows]).data)
        return digest.hexdigest()

    def _render(self) -> None:
        """Render every clip into a temporary file beside ``path``; rename it when complete,
        then write the sidecar."""
        with contextlib.suppress(FileNotFoundError):
            self.sidecar.unlink()  # the old file, if any, is no longer vouched for
        for stale in self.folder.glob(f".{self.path.name}.*.tmp"):  # renders killed earlier
            with contextlib.suppress(OSError):
                stale.unlink()
        channels, length = _clip_shape(self.source)
        need = 4 * self.count * channels * length
        free = shutil.disk_usage(self.folder).free
        if need + _HEADROOM > free:
            raise ValueError(
                f"rendering {self.count} clips needs {need / 2**30:.1f} GiB, but "
                f"{self.folder} has {free / 2**30:.1f} GiB free; choose a folder on a larger "
                "disk or a smaller source")
        digest, items = hashlib.sha256(), []
        loader = DataLoader(self.source, batch_size=None, shuffle=False,
                            num_workers=self.workers)  # in order, with any number of workers
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.count, desc=f"rendering clips to {self.path.name}",
                       unit="clip", dynamic_ncols=True)
        try:
            with atomic_write(self.path) as fh:
                np.lib.format.write_array_header_1_0(
                    fh, {"descr": "<f4", "fortran_order": False,
                         "shape": (self.count, channels, length)})
                for index, item in enumerate(loader):
                    wave = item["wave"]
                    if wave.dtype != torch.float32 or tuple(wave.shape) != (channels, length):
                        raise ValueError(
                            f"item {index} of the source is {wave.dtype} {tuple(wave.shape)}, "
                            f"item 0 is float32 {(channels, length)}; a rendered cache needs "
                            "float32 clips of one shape (give the source a duration=)")
                    data = np.ascontiguousarray(wave.numpy(), dtype="<f4").data
                    fh.write(data)
                    digest.update(data)
                    items.append({k: (None if k == "wave" else _plain(index, k, v))
                                  for k, v in item.items()})
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        write_text(self.sidecar, json.dumps({
            "key": self.key,
            "shape": [self.count, channels, length],
            "dtype": "float32",
            "sha256": digest.hexdigest(),
            "items_sha256": _items_sha256(items),
            "items": items,
        }))
        self.rendered = True

    # -- the clip source ------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.count

    def item_classes(self, index: int) -> tuple[str, ...]:
        return self.source.item_classes(index)

    def indices_of(self, class_name: str):
        return self.source.indices_of(class_name)

    def __getitem__(self, index: int) -> dict:
        index = self._check_index(index)
        if self._array is None:  # a DataLoader worker that received a pickled copy
            self._array = np.load(self.path, mmap_mode="r")
        item = dict(self._items[index])
        item["wave"] = torch.from_numpy(np.array(self._array[index]))  # (C, L), a copy
        return item

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_array"] = None  # a memory map is reopened, not pickled
        return state

    def __repr__(self) -> str:
        return f"RenderedClips({self.count} clips of {self.source!r}, path={str(self.path)!r})"
