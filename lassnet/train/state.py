"""A training run's state on disk and in the process: checkpoints, random streams, logs, signals.

Taught in chapter 7 (Training), section "Checkpoints: stop, resume, load safely".

A run folder holds:

* ``checkpoint.pt`` (:data:`CHECKPOINT`): everything needed to continue, written by
  :func:`save` through :mod:`lassnet.checkpoint` (atomic, stamped ``lassnet.train/2``,
  checksummed, read without unpickling code): the step, the model's weights and config, the
  optimiser's and the gradient scaler's states, the run's random streams, the training config
  and the query encoder's recipe. The learning rate is a pure function of the step
  (:meth:`~lassnet.train.config.TrainConfig.lr_factor`), so nothing about the schedule is
  stored; a version-1 file (which had a ``scheduler`` entry) resumes the same, that entry
  ignored.
* ``model.pt`` (:data:`MODEL`): the weights and configs alone, for inference
  (``LASSModel.load``).
* ``train_log.csv`` and ``val_log.csv`` (:data:`LOSS_LOG`, :data:`VAL_LOG`): one row per
  ``log_every`` / ``validate_every`` steps. Each row is written atomically (the file is
  rewritten whole through :func:`lassnet.files.atomic_write`), so a killed process never
  leaves half a row; :func:`resume` drops rows written after the checkpoint it resumes from.

:func:`resume` is the inverse of :func:`save`: a resumed run makes the same updates, in the
same order, as one that never stopped.

**Random streams.** A run draws from its own generators (:class:`RandomStreams`: torch on the
CPU and every GPU, numpy's and Python's global ones), seeded from the config's ``seed`` and
saved in every checkpoint. They are swapped in only while the trainer builds the model and
while it trains, and the caller's generators are put back afterwards: building or running a
trainer leaves the random state of the surrounding program as it was.

**Signals.** :class:`DeferredSignals` holds a Ctrl-C (SIGINT) or SIGTERM that arrives in the
middle of a training step until the step is complete, so that the checkpoint written on the
way out is never a torn state.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    "FORMAT_VERSION",
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
]

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
LOSS_LOG = "train_log.csv"
VAL_LOG = "val_log.csv"
#: The version of the ``lassnet.train`` checkpoint format written now. Version 1 (until the
#: schedule became a pure function of the step) also stored a ``scheduler`` entry.
FORMAT_VERSION = 2
#: What ``model.pt`` keeps of a checkpoint.
_MODEL_KEYS = ("step", "config", "state_dict", "query", "train_config")


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


# --------------------------------------------------------------------------- checkpoints
def payload(*, step: int, config: TrainConfig, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
            rng: RandomStreams) -> dict[str, Any]:
    """The training checkpoint's contents (see the module docstring); ``model`` is a
    :class:`~lassnet.separator.SeparationNet` (not its DDP wrapper)."""
    return {
        "step": step,
        "train_config": config.to_dict(),
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng.state(),
        "query": {"name": config.query, "options": config.query_options},
    }


def save(out_dir: str | os.PathLike, contents: dict[str, Any]) -> None:
    """Atomically write ``checkpoint.pt`` (all of ``contents``, a :func:`payload`) and
    ``model.pt`` (weights and configs, for inference) into ``out_dir``."""
    out_dir = Path(out_dir)
    checkpoint.save(contents, out_dir / CHECKPOINT, kind="train", version=FORMAT_VERSION)
    checkpoint.save({k: contents[k] for k in _MODEL_KEYS}, out_dir / MODEL, kind="model")


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
           map_location: Any = "cpu") -> tuple[int, RandomStreams]:
    """Load ``out_dir/checkpoint.pt`` into a freshly built ``model`` (a ``SeparationNet``),
    ``optimizer`` and ``scaler``; drop log rows written after it. Returns the step to continue
    from and the run's random streams.

    Raises :class:`CheckpointError` for an unreadable or damaged file, one of a newer format,
    or one trained with another model (the message lists the config fields that differ).
    """
    out_dir = Path(out_dir)
    path = out_dir / CHECKPOINT
    contents = checkpoint.load(path, "train", map_location=map_location)
    _version(path, contents)  # version 1's "scheduler" entry is not needed: see lr_factor
    ours, theirs = model.config.to_dict(), contents["config"]
    diff = {k: (theirs.get(k), v) for k, v in ours.items()
            if k != "preset" and theirs.get(k) != v}
    if diff:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(
            f"{path} was trained with another model ({detail}); use another out_dir"
        )
    checkpoint.load_state(model, contents["state_dict"], str(path))
    optimizer.load_state_dict(contents["optimizer"])
    scaler.load_state_dict(contents["scaler"])
    step = int(contents["step"])
    for name in (LOSS_LOG, VAL_LOG):  # drop rows written after this checkpoint
        truncate_log(out_dir / name, step)
    return step, RandomStreams(contents["rng"])


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


class DeferredSignals:
    """Ctrl-C (SIGINT) and SIGTERM that arrive while a training step runs are held until the
    step is complete, so the checkpoint written on the way out is never a torn state (half an
    optimiser update, batch-norm statistics one step ahead). Between steps, or on a second
    signal during a step, they stop at once (a second one abandons the step and keeps the
    previous checkpoint). Outside the main thread signals cannot be caught: nothing changes.

    The loop sets ``busy`` around each step and checks ``pending`` after it; SIGINT raises
    ``KeyboardInterrupt`` and SIGTERM :class:`StopRequested`.
    """

    def __init__(self) -> None:
        self.busy = False
        self.pending = False
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

    def _handle(self, signum: int, frame: Any) -> None:
        if self.busy and not self.pending:
            self.pending = True
            return
        raise KeyboardInterrupt if signum == signal.SIGINT else StopRequested()
