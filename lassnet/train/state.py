"""A training run's state on disk and in the process: checkpoints, random streams, logs, signals.

Taught in chapter 7 (Training), section "Checkpoints: stop, resume, load safely".

A run folder holds:

* ``checkpoint.pt`` (:data:`CHECKPOINT`): everything needed to continue, written by
  :func:`save` through :mod:`lassnet.checkpoint` (atomic, stamped ``lassnet.train/2``,
  checksummed, read without unpickling code): the step, the model's weights and config, the
  optimiser's and the gradient scaler's states, the run's random streams, the training config
  and the query encoder's recipe (plus, for a trainable encoder, its weights:
  ``query_state``). The learning rate is a pure function of the step
  (:meth:`~lassnet.train.config.TrainConfig.lr_factor`), so nothing about the schedule is
  stored; a version-1 file (which had a ``scheduler`` entry) resumes the same, that entry
  ignored.
* ``model.pt`` (:data:`MODEL`): the weights and configs alone (with a trainable encoder's
  ``query_state``), for inference (``LASSModel.load``). With weight averaging
  (``ema_decay``, :class:`WeightAverage`) the checkpoint keeps both the trained weights and
  their average (``ema_state``); ``model.pt`` holds the average.
* ``train_log.csv`` and ``val_log.csv`` (:data:`LOSS_LOG`, :data:`VAL_LOG`): one row per
  ``log_every`` / ``validate_every`` steps. Each row is written atomically (the file is
  rewritten whole through :func:`lassnet.files.atomic_write`), so a killed process never
  leaves half a row; :func:`resume` drops rows written after the checkpoint it resumes from,
  and a run that starts from step 0 starts its logs afresh.
* ``.lock`` (:data:`LOCK`): which process trains in the folder (:class:`RunLock`), so that
  two runs on one folder cannot interleave their checkpoints and logs.

**The folder.** :func:`open_run_folder` prepares it before any step: it must be a folder one
can write in (a read-only one fails at once, not at the first log row); temporary files
that a killed process left behind are removed; the lock is taken. A checkpoint that cannot
be read, or whose checksum does not match, is never overwritten: :func:`resume` moves it
aside (``checkpoint.pt.damaged``) and stops, saying so. Failures to write (a full disk, a
read-only folder) raise :class:`RunFolderError`, an ``OSError`` whose one-line message names
the folder and the system's reason ("No space left on device").

:func:`resume` is the inverse of :func:`save`: a resumed run makes the same updates, in the
same order, as one that never stopped.

**Random streams.** A run draws from its own generators (:class:`RandomStreams`: torch on the
CPU and every GPU, numpy's and Python's global ones), seeded from the config's ``seed`` and
saved in every checkpoint. They are swapped in only while the trainer builds the model and
while it trains, and the caller's generators are put back afterwards: building or running a
trainer leaves the random state of the surrounding program as it was.

**Signals.** :class:`DeferredSignals` holds a Ctrl-C (SIGINT) or SIGTERM that arrives in the
middle of a training step, or while a checkpoint is written, until the step (with its logs)
or the checkpoint is complete, so that the checkpoint written on the way out is never a torn
state and a stop never cuts a checkpoint short.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import errno
import io
import json
import os
import random
import signal
import socket
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None

import numpy as np
import torch

from .. import checkpoint
from ..checkpoint import CheckpointError
from ..files import write_text
from .config import TrainConfig

__all__ = [
    "CHECKPOINT",
    "MODEL",
    "LOSS_LOG",
    "VAL_LOG",
    "LOCK",
    "FORMAT_VERSION",
    "RunFolderError",
    "RunLock",
    "open_run_folder",
    "checkpoint_bytes",
    "RandomStreams",
    "capture_rng",
    "restore_rng",
    "payload",
    "save",
    "resume",
    "append_log",
    "truncate_log",
    "read_log",
    "DeferredSignals",
    "StopRequested",
    "StepAbandoned",
    "SaveAbandoned",
    "ignore_stop_signals",
    "WeightAverage",
]

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
LOSS_LOG = "train_log.csv"
VAL_LOG = "val_log.csv"
LOCK = ".lock"
#: What a checkpoint that cannot be used is renamed to (``checkpoint.pt.damaged``, then
#: ``checkpoint.pt.damaged.1``, ... if that exists).
DAMAGED_SUFFIX = ".damaged"
#: The version of the ``lassnet.train`` checkpoint format written now. Version 1 (until the
#: schedule became a pure function of the step) also stored a ``scheduler`` entry.
FORMAT_VERSION = 2
#: What ``model.pt`` keeps of a checkpoint (with weight averaging, ``state_dict`` is the average).
_MODEL_KEYS = ("step", "config", "state_dict", "query", "train_config", "query_state")


# --------------------------------------------------------------------------- weight averaging
class WeightAverage:
    """An exponential moving average of a model's weights and floating-point buffers (its
    batch-norm statistics), the weight averaging of Polyak and Juditsky's kind used by most
    image and audio models: after update ``n`` (1-based),

        avg ← d_n · avg + (1 − d_n) · w,    d_n = min(decay, (1 + n) / (10 + n)),

    starting from the weights it was built from; the warm-up of ``d_n`` (as TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``) lets the first updates count fully
    instead of dragging the random initial weights along. Integer buffers (batch norm's
    ``num_batches_tracked``) are copied. ``state`` is a state dict of the model's keys.
    Taught in chapter 7 (Training).
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def factor(self, n: int) -> float:
        """``d_n``: how much of the average update ``n`` (1-based) keeps."""
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current weights into the average."""
        self.updates += 1
        keep = self.factor(self.updates)
        avg, new = [], []
        for key, value in model.state_dict().items():
            mine = self.state[key]
            if mine.is_floating_point():
                avg.append(mine)
                new.append(value.detach())
            else:
                mine.copy_(value)
        torch._foreach_lerp_(avg, new, 1.0 - keep)

    def load(self, state: dict[str, torch.Tensor], updates: int, where: str = "") -> None:
        """Restore a saved average (``state`` with this model's keys) and its update count."""
        if state.keys() != self.state.keys():
            missing = sorted(set(self.state) ^ set(state))[:3]
            raise CheckpointError(f"{where}: its weight average does not fit this model "
                                  f"(keys such as {missing})")
        for key, value in state.items():
            self.state[key].copy_(value)
        self.updates = int(updates)

    def copy_to(self, model: torch.nn.Module) -> torch.nn.Module:
        """Load the average into ``model`` (one of the same architecture); returns it."""
        model.load_state_dict(self.state)
        return model


# --------------------------------------------------------------------------- random streams
def capture_rng() -> dict[str, Any]:
    """The current state of the global generators: torch (CPU, and every CUDA device when
    there is one), numpy and Python's ``random``, as tensors and plain data (checkpoint-safe)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                  int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": random.getstate(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Set the global generators to a state from :func:`capture_rng` (tensors may be on any
    device, as a checkpoint loaded with ``map_location`` gives them)."""
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


class RandomStreams:
    """The random generators one run draws from, kept apart from the caller's.

    ``with streams.active():`` swaps the run's state into the global generators for the
    block and, when it ends (normally or not), stores where they got to and puts the caller's
    state back. :meth:`state` is what a checkpoint saves: the live state inside the block,
    the stored one outside it.
    """

    def __init__(self, state: dict[str, Any]):
        self._state = state
        self._active = False

    @classmethod
    def seeded(cls, seed: int) -> RandomStreams:
        """Streams seeded with ``seed``: torch (every device), numpy and Python's ``random``."""
        caller = capture_rng()
        try:
            torch.manual_seed(seed)
            np.random.seed(seed)
            random.seed(seed)
            return cls(capture_rng())
        finally:
            restore_rng(caller)

    def state(self) -> dict[str, Any]:
        """The run's generator state now (for a checkpoint)."""
        return capture_rng() if self._active else self._state

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Draw from the run's streams inside the block; the caller's come back after it."""
        if self._active:
            raise RuntimeError("these random streams are already active")
        caller = capture_rng()
        restore_rng(self._state)
        self._active = True
        try:
            yield
        finally:
            self._active = False
            self._state = capture_rng()
            restore_rng(caller)


# --------------------------------------------------------------------------- the run folder
class RunFolderError(OSError):
    """The run folder cannot be used: not a folder, not writable, full, or in use by another
    run. The message (``str(err)``) names the folder and the reason in one line."""

    def __init__(self, message: str, errno_: int | None = None):
        super().__init__(message)
        self.errno = errno_


def describe_os_error(err: OSError) -> str:
    """``err`` in words: the system's reason and, when it has one, the file."""
    if isinstance(err, RunFolderError) or not err.strerror:
        return str(err)
    return f"{err.strerror}: {err.filename}" if err.filename else err.strerror


def _owner_text(path: Path) -> str:
    try:
        owner = json.loads(path.read_text())
        where = f" on {owner['host']}" if owner.get("host") != socket.gethostname() else ""
        return f"process {owner['pid']}{where}, started {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


class RunLock:
    """Exclusive use of a run folder by one process (an advisory ``flock`` on ``.lock``).

    The lock file records the holder's process id, host and start time, for the message a
    second run gets. The operating system releases the lock when the holder exits, however
    it exits, so the lock of a killed run is simply taken over. Within one process the lock
    is shared: building a second trainer on the same folder (a notebook cell run again) is
    not refused; :meth:`release` frees it when its last user lets go. Where the system has no
    ``flock`` (Windows) runs are not locked; on a file system that refuses locks (some
    network mounts) the run goes on with a warning.
    """

    _held: dict[Path, RunLock] = {}  # this process's locks, by folder

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / LOCK
        self.users = 0
        self._fd: int | None = None

    @classmethod
    def acquire(cls, folder: str | os.PathLike) -> RunLock:
        """Take the lock of ``folder`` (an existing folder); :class:`RunFolderError` if
        another live process holds it."""
        folder = Path(folder).resolve()
        lock = cls._held.get(folder)
        if lock is None:
            lock = cls(folder)
            lock._take()
            cls._held[folder] = lock
        lock.users += 1
        return lock

    def _take(self) -> None:
        if fcntl is None:
            return
        for _ in range(10):  # the file may be replaced between open and flock: retry
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunFolderError(
                    f"{self.folder} is in use by another training run ({_owner_text(self.path)})"
                    f"; wait for it to end or choose another folder", errno.EBUSY
                ) from None
            except OSError as err:  # a file system without locks (some network mounts)
                os.close(fd)
                warnings.warn(
                    f"cannot lock the run folder {self.folder} ({err.strerror}); make sure no "
                    "other run trains there", RuntimeWarning, stacklevel=4,
                )
                return
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:  # its holder removed it as we opened it: take the new one
                os.close(fd)
                continue
            record = json.dumps({
                "pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.datetime.now().isoformat(timespec="seconds"),
            })
            os.ftruncate(fd, 0)
            os.write(fd, record.encode() + b"\n")
            self._fd = fd
            return
        raise RunFolderError(f"{self.folder}: could not take its lock ({self.path})")

    def release(self) -> None:
        """Let go once; the last user's release removes the lock file and frees the lock."""
        if self.users == 0:
            return
        self.users -= 1
        if self.users or self._fd is None:
            return
        type(self)._held.pop(self.folder, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)  # closing releases the flock
        self._fd = None


def _stray_temporaries(folder: Path) -> list[Path]:
    """Temporary files of :func:`lassnet.files.atomic_write` for the run's own files."""
    return [p for name in (CHECKPOINT, MODEL, LOSS_LOG, VAL_LOG)
            for p in folder.glob(f".{name}.*.tmp")]


def checkpoint_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """About how many bytes one ``checkpoint.pt`` of this run takes: the weights and
    buffers, plus the optimiser's per-parameter states (Adam: two, three with AMSGrad), of
    every parameter it updates (a trainable encoder's too)."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    params = sum(p.numel() * p.element_size()
                 for group in optimizer.param_groups for p in group["params"])
    own = {id(p) for p in model.parameters()}
    weights += sum(p.numel() * p.element_size()  # a trainable encoder's weights
                   for group in optimizer.param_groups for p in group["params"]
                   if id(p) not in own)
    states = 3 if any(g.get("amsgrad") for g in optimizer.param_groups) else 2
    return weights + states * params + (1 << 16)


def _free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail  # root may use the reserve
    return blocks * st.f_frsize


def open_run_folder(folder: str | os.PathLike, *, need_bytes: int = 0) -> RunLock:
    """Prepare ``folder`` for a run before any step, and take its lock.

    Creates it (with its parents) if needed; raises ``ValueError`` if it is a file, and
    :class:`RunFolderError` if it cannot be written in (read-only, no permission), has less
    than ``need_bytes`` free (a checkpoint's size: :func:`checkpoint_bytes`), or is in use by
    another run. Then removes the temporary files of a killed run and, when there is no
    checkpoint to resume from, the logs of an earlier start (a restart from step 0 must not
    repeat their rows). Returns the :class:`RunLock`; call its ``release()`` when done.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"the run folder {folder} is a file; choose a folder "
                         "(it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise RunFolderError(
            f"cannot write in the run folder {folder}: {err.strerror or err}; choose "
            "another folder, or make it writable", err.errno
        ) from None
    lock = RunLock.acquire(folder)
    try:
        free = _free_bytes(folder)
        if need_bytes and free < need_bytes:
            raise RunFolderError(
                f"not enough space in {folder} for a checkpoint: {free / 1e6:.1f} MB free, a "
                f"checkpoint of this run takes about {need_bytes / 1e6:.1f} MB "
                f"({os.strerror(errno.ENOSPC)}); free some space or choose another folder",
                errno.ENOSPC,
            )
        for stray in _stray_temporaries(folder):
            with contextlib.suppress(FileNotFoundError):
                stray.unlink()
        if not (folder / CHECKPOINT).exists():
            for name in (LOSS_LOG, VAL_LOG):  # a fresh start: no rows of an earlier one
                with contextlib.suppress(FileNotFoundError):
                    (folder / name).unlink()
    except BaseException:
        lock.release()
        raise
    return lock


# --------------------------------------------------------------------------- checkpoints
def payload(*, step: int, config: TrainConfig, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
            rng: RandomStreams, precision: str | None = None,
            encoder: torch.nn.Module | None = None,
            average: WeightAverage | None = None) -> dict[str, Any]:
    """The training checkpoint's contents (see the module docstring); ``model`` is a
    :class:`~lassnet.separator.SeparationNet` (not its DDP wrapper); ``precision`` the one
    the run computes in (``auto`` answered), which a resumed ``auto`` run keeps; ``encoder``
    the query encoder, whose weights are kept (``query_state``) only when it is trainable;
    ``average`` the run's :class:`WeightAverage`, if it averages (``ema_state``,
    ``ema_updates``)."""
    extra = {}
    if encoder is not None and getattr(encoder, "trainable", False):
        extra["query_state"] = encoder.state_dict()
    if average is not None:
        extra["ema_state"] = average.state
        extra["ema_updates"] = average.updates
    return {
        "precision": precision or config.precision,
        "step": step,
        "train_config": config.to_dict(),
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng.state(),
        "query": {"name": config.query, "options": config.query_options},
        **extra,
    }


def save(out_dir: str | os.PathLike, contents: dict[str, Any]) -> None:
    """Atomically write ``checkpoint.pt`` (all of ``contents``, a :func:`payload`) and
    ``model.pt`` (weights and configs, for inference) into ``out_dir``."""
    out_dir = Path(out_dir)
    checkpoint.save(contents, out_dir / CHECKPOINT, kind="train", version=FORMAT_VERSION)
    model = {k: contents[k] for k in _MODEL_KEYS if k in contents}
    if "ema_state" in contents:  # the averaged weights are the ones to use
        model["state_dict"] = contents["ema_state"]
    checkpoint.save(model, out_dir / MODEL, kind="model")


def recorded_precision(out_dir: str | os.PathLike) -> str | None:
    """The precision the run in ``out_dir`` computed in, from its ``checkpoint.pt`` (read
    lazily, memory-mapped: only that field is touched), or None when there is no readable
    checkpoint or it does not say (the checkpoint's own checks come with :func:`resume`)."""
    path = Path(out_dir) / CHECKPOINT
    if not path.is_file():
        return None
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - resume() reports what is wrong with the file
        return None
    precision = contents.get("precision") if isinstance(contents, dict) else None
    return precision if precision in ("float32", "bfloat16", "float16") else None


def _version(path: Path, contents: dict[str, Any]) -> int:
    version = int(str(contents["format"]).rsplit("/", 1)[1])
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is a version-{version} training checkpoint, newer than this lassnet reads "
            f"(up to {FORMAT_VERSION}); upgrade lassnet or use another out_dir"
        )
    return version


def resume(out_dir: str | os.PathLike, *, model: torch.nn.Module,
           optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
           map_location: Any = "cpu", move_damaged: bool = True,
           encoder: torch.nn.Module | None = None,
           average: WeightAverage | None = None) -> tuple[int, RandomStreams]:
    """Load ``out_dir/checkpoint.pt`` into a freshly built ``model`` (a ``SeparationNet``),
    ``optimizer``, ``scaler``, when it is trainable, query ``encoder``, and, when the run
    averages its weights, ``average``; drop log rows written after it. Returns the step to
    continue from and the run's random streams.

    Raises :class:`CheckpointError` for an unreadable or damaged file, one of a newer format,
    or one trained with another model (the message lists the config fields that differ). A
    file that is damaged (its checksum does not match) or cannot be read at all (truncated,
    empty, not a torch file) is first moved aside to ``checkpoint.pt.damaged`` (when
    ``move_damaged``), so that nothing ever overwrites it; the message says where it went.
    """
    out_dir = Path(out_dir)
    path = out_dir / CHECKPOINT
    try:
        contents = checkpoint.load(path, "train", map_location=map_location)
    except CheckpointError as err:
        if not (move_damaged and _is_damage(err) and path.is_file()):
            raise
        aside = _move_aside(path)
        raise CheckpointError(
            f"{err}. It was moved aside to {aside}, so that nothing overwrites it; run the "
            f"same command again to start afresh from step 0, or put a good copy back as {path}"
        ) from None
    _version(path, contents)  # version 1's "scheduler" entry is not needed: see lr_factor
    ours, theirs = model.config.to_dict(), contents["config"]
    diff = {k: (theirs.get(k), v) for k, v in ours.items()
            if k != "preset" and theirs.get(k) != v}
    if diff:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(
            f"{path} was trained with another model ({detail}); use another out_dir"
        )
    trainable = encoder is not None and getattr(encoder, "trainable", False)
    if trainable != ("query_state" in contents):
        had = "a trainable" if "query_state" in contents else "a frozen"
        raise CheckpointError(
            f"{path} was trained with {had} query encoder ({contents['query']['name']!r}), "
            f"and this run's is {'trainable' if trainable else 'frozen'}; use another out_dir"
        )
    if (average is not None) != ("ema_state" in contents):
        raise CheckpointError(
            f"{path} was trained {'with' if 'ema_state' in contents else 'without'} weight "
            f"averaging, and this run's ema_decay is {average.decay if average else 0}; "
            "set ema_decay as that run did, or use another out_dir"
        )
    checkpoint.load_state(model, contents["state_dict"], str(path))
    if average is not None:
        average.load(contents["ema_state"], int(contents["ema_updates"]), str(path))
    if trainable:
        checkpoint.load_state(encoder, contents["query_state"], f"{path} (query encoder)")
    optimizer.load_state_dict(contents["optimizer"])
    scaler.load_state_dict(contents["scaler"])
    step = int(contents["step"])
    for name in (LOSS_LOG, VAL_LOG):  # drop rows written after this checkpoint
        truncate_log(out_dir / name, step)
    return step, RandomStreams(contents["rng"])


#: How :func:`lassnet.checkpoint.load` words a file that is damaged or cannot be read at all
#: (as opposed to one that is unsafe, of another kind, or of another model).
_DAMAGE = ("is damaged", "cannot read it as a checkpoint", "is empty (0 bytes)")


def _is_damage(err: CheckpointError) -> bool:
    return any(words in str(err) for words in _DAMAGE)


def _move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<name>.damaged`` (or ``.damaged.1``, ... if taken); returns it."""
    aside = path.with_name(path.name + DAMAGED_SUFFIX)
    n = 0
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}{DAMAGED_SUFFIX}.{n}")
    os.replace(path, aside)
    return aside


# --------------------------------------------------------------------------- logs
def _csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def append_log(path: str | os.PathLike, row: dict[str, Any]) -> None:
    """Add ``row`` to the CSV log at ``path`` (created with a header from the row's keys)."""
    path = Path(path)
    if not path.exists():
        write_text(path, _csv_text([row]))
        return
    with open(path, newline="") as fh:
        old = fh.read()
    header = next(csv.reader(io.StringIO(old, newline="")))
    if header != list(row):
        raise ValueError(f"{path} has the columns {header}, not {list(row)}; "
                         "use another out_dir")
    buffer = io.StringIO(newline="")
    csv.DictWriter(buffer, fieldnames=header).writerow(row)
    write_text(path, old + buffer.getvalue())


def truncate_log(path: str | os.PathLike, step: int) -> None:
    """Drop the rows of the CSV log at ``path`` (if any) written after ``step``."""
    path = Path(path)
    if not path.exists():
        return
    rows = read_log(path)
    kept = [r for r in rows if r["step"] <= step]
    if len(kept) != len(rows):
        if kept:
            write_text(path, _csv_text(kept))
        else:
            path.unlink()


def read_log(path: str | os.PathLike) -> list[dict[str, int | float]]:
    """Rows of a training CSV log (``train_log.csv``: step, loss, lr, seconds;
    ``val_log.csv``: step, sdri, si_sdri), the step as an ``int``, the rest as floats.

    Taught in chapter 7 (Training)."""
    with open(path, newline="") as fh:
        return [{k: (int(v) if k == "step" else float(v)) for k, v in row.items()}
                for row in csv.DictReader(fh)]


# --------------------------------------------------------------------------- signals
class StopRequested(Exception):
    """Raised by the SIGTERM handler so that the loop can checkpoint before exiting."""


class StepAbandoned(Exception):
    """Stopped inside a training step: the in-memory state may be half-updated."""


class SaveAbandoned(Exception):
    """Stopped (by a second signal) while a checkpoint was written: the previous one is kept."""


class DeferredSignals:
    """Ctrl-C (SIGINT) and SIGTERM that arrive while the trainer is ``busy`` (a training step
    and its logs, or a checkpoint being written) are held until that work is complete, so the
    checkpoint written on the way out is never a torn state (half an optimiser update,
    batch-norm statistics one step ahead) and a checkpoint is never cut short. Between steps
    a signal stops at once; a second signal while busy stops at once too, and ``abandoned``
    records that it cut the work short (a step abandoned keeps the previous checkpoint; a
    checkpoint abandoned is never half-written). Outside the main thread signals cannot be
    caught: nothing changes.

    The loop sets ``busy`` around its work and checks ``pending`` after it; SIGINT raises
    ``KeyboardInterrupt`` and SIGTERM :class:`StopRequested`.
    """

    def __init__(self) -> None:
        self.busy = False
        self.pending = False
        self.abandoned = False
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        """Handle SIGINT and SIGTERM (in the main thread; elsewhere this does nothing)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                return

    def restore(self) -> None:
        """Put the handlers that were there before :meth:`install` back."""
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    @contextlib.contextmanager
    def held(self, *, stopping: bool = False) -> Iterator[None]:
        """Hold signals during the block (blocks may nest). ``stopping``: a stop is already
        under way, so the next signal is the second one (it abandons the block)."""
        was_busy, self.busy = self.busy, True
        if stopping:
            self.pending = True
        try:
            yield
        finally:
            self.busy = was_busy

    def _handle(self, signum: int, frame: Any) -> None:
        if self.busy and not self.pending:
            self.pending = True
            return
        if self.busy:
            self.abandoned = True
        raise KeyboardInterrupt if signum == signal.SIGINT else StopRequested()


def ignore_stop_signals(worker_id: int = 0) -> None:
    """A data-loading worker's start: ignore SIGINT and SIGTERM. A Ctrl-C or a SIGTERM sent
    to the whole process group (as a terminal, docker or systemd do) then reaches the
    workers without killing them mid-batch; the main process saves and stops, and shuts
    them down itself. (Used as the ``worker_init_fn`` of the training loader.)"""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
