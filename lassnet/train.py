"""Training a language-queried separator (taught in chapter 7, "Training").

AudioSep's recipe is the default: L1 loss between separated and target waveforms, AdamW with
``lr = 1e-3`` and AMSGrad, a linear warm-up then a constant rate, mixtures built on the fly,
and the query a caption of the target (or, with probability ``1 − use_text_ratio``, an audio
clip of the target's class through an audio-capable encoder).

* Runs on CPU, on one GPU (mixed precision), and on several GPUs or nodes through PyTorch's
  ``DistributedDataParallel`` when launched with ``torchrun``.
* Every mixture is a pure function of its index, and step ``s`` of rank ``r`` always reads the
  same indices; so data loader workers never repeat each other, ranks never overlap, and a
  resumed run sees exactly the batches the uninterrupted run would have seen.
* Checkpoints are written atomically and hold model, optimiser, scheduler, step, RNG states
  and both configs; loading never unpickles code (``torch.load(weights_only=True)``).
* Ctrl-C or SIGTERM saves a checkpoint before stopping; a killed process loses at most the
  steps since the last checkpoint. Running the same command again resumes.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.utils.data import DataLoader, Sampler

from . import checkpoint
from .checkpoint import CheckpointError
from .data.mixtures import collate
from .files import atomic_write
from .separator import SeparationNet

__all__ = [
    "TrainConfig",
    "Trainer",
    "load_config",
    "available_configs",
    "train",
    "read_log",
    "plot_curves",
]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
LOSS_LOG = "train_log.csv"
VAL_LOG = "val_log.csv"


@dataclass
class TrainConfig:
    """A training run, as a small YAML file (see ``lassnet/configs/``)."""

    name: str = "custom"
    # model
    preset: str = "tiny"
    separator: dict[str, Any] = field(default_factory=dict)  # SeparatorConfig overrides
    query: str = "minilm"
    query_options: dict[str, Any] = field(default_factory=dict)
    # data
    dataset: str = "synthetic"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    segment_seconds: float = 2.0
    min_interferers: int = 1
    max_interferers: int = 3
    gain_db: tuple[float, float] = (-10.0, 10.0)
    use_text_ratio: float = 1.0
    num_workers: int = 0
    # optimisation
    loss: str = "l1"
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    warmup_steps: int = 100
    decay_steps: int = 0  # the last decay_steps steps anneal the lr to min_lr (cosine); 0: none
    min_lr: float = 0.0
    weight_decay: float = 0.0
    amsgrad: bool = True
    grad_clip: float | None = None
    precision: str = "float32"  # "bfloat16", or "float16" on CUDA
    threads: int | None = None  # CPU threads for the model (None: PyTorch's default)
    channels_last: bool = False  # NHWC activations: ~1.3x faster steps on CPU (oneDNN)
    seed: int = 0
    # bookkeeping
    log_every: int = 10
    checkpoint_every: int = 200
    validate_every: int = 500
    val_size: int = 32

    def __post_init__(self):
        self.gain_db = tuple(float(g) for g in self.gain_db)
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose from {sorted(LOSSES)}")
        if self.precision not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"unknown precision {self.precision!r}")
        if not 0.0 <= self.use_text_ratio <= 1.0:
            raise ValueError("use_text_ratio must be in [0, 1]")
        if not 1 <= self.min_interferers <= self.max_interferers:
            raise ValueError("need 1 <= min_interferers <= max_interferers")
        for name in ("steps", "batch_size", "log_every", "checkpoint_every", "validate_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.decay_steps < 0:
            raise ValueError(f"decay_steps must be >= 0, got {self.decay_steps}")
        if not 0.0 <= self.min_lr <= self.lr:
            raise ValueError("min_lr must be in [0, lr]")

    def lr_factor(self, step: int) -> float:
        """The learning rate at ``step`` (0-based) as a fraction of ``lr``: linear warm-up over
        ``warmup_steps``, constant (AudioSep's schedule), then, if ``decay_steps``, a cosine
        down to ``min_lr`` over the last ``decay_steps`` steps (all of them in a run shorter
        than that)."""
        factor = min(1.0, (step + 1) / max(1, self.warmup_steps))
        decay = min(self.decay_steps, self.steps)
        start = self.steps - decay
        if decay and step >= start:
            floor = self.min_lr / self.lr if self.lr else 0.0
            t = min(1.0, (step - start + 1) / decay)
            factor *= floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
        return factor

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["gain_db"] = list(self.gain_db)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        return cls(**d)


def available_configs() -> list[str]:
    """Names of the configs shipped in ``lassnet/configs``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path: str | os.PathLike, **overrides) -> TrainConfig:
    """Read a config by name (``"tiny-cpu"``, ``"audiosep"``) or from a YAML file path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ValueError(
                f"unknown config {name_or_path!r}; choose from {available_configs()} "
                "or give a path to a YAML file"
            )
    elif not path.is_file():
        raise ValueError(f"config file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a YAML mapping")
    data.setdefault("name", path.stem)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(data)


# --------------------------------------------------------------------------- losses
def _l1(estimate, target):
    from .metrics import l1_wave_loss

    return l1_wave_loss(estimate, target)


def _snr(estimate, target):
    from .metrics import neg_sdr_loss

    return neg_sdr_loss(estimate, target)


#: ``"l1"``: mean absolute error on the waveform (AudioSep). ``"snr"``: mean over examples of
#: −10·log10(‖s‖² / ‖s − ŝ‖²), which weighs every example equally however quiet its target.
LOSSES = {"l1": _l1, "snr": _snr}


# --------------------------------------------------------------------------- data
class StepBatches(Sampler):
    """Batches of dataset indices for steps ``start..steps-1`` of one rank.

    Step ``s`` of rank ``r`` (of ``W``) reads indices ``[(s·W + r)·B, (s·W + r + 1)·B)``.
    """

    def __init__(self, start: int, steps: int, batch_size: int, rank: int = 0, world: int = 1):
        self.start, self.steps, self.batch = start, steps, batch_size
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self):
        for step in range(self.start, self.steps):
            first = (step * self.world + self.rank) * self.batch
            yield list(range(first, first + self.batch))


def build_dataset(cfg: TrainConfig, sample_rate: int, split: str, size: int, seed: int):
    """The mixture dataset a config describes (see :mod:`lassnet.data`).

    ``dataset`` names a clip source (``synthetic``, the default; ``esc50``; ``folder``) and
    ``dataset_options`` go to it (:func:`lassnet.data.clip_source`).
    """
    from . import data

    source = None  # the synthetic corpus of `split`, seeded like the mixtures
    if cfg.dataset != "synthetic" or cfg.dataset_options:
        source = data.clip_source(cfg.dataset, split=split, sample_rate=sample_rate,
                                  **cfg.dataset_options)
    return data.MixtureDataset(
        source=source,
        size=size,
        sample_rate=sample_rate,
        segment_seconds=cfg.segment_seconds,
        min_interferers=cfg.min_interferers,
        max_interferers=cfg.max_interferers,
        gain_db=cfg.gain_db,
        seed=seed,
        split=split,
        query_audio=cfg.use_text_ratio < 1.0,
    )


# --------------------------------------------------------------------------- trainer
def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                  int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


class _Stop(Exception):
    """Raised by the SIGTERM handler so the loop can checkpoint before exiting."""


class Trainer:
    """Train a :class:`SeparationNet` with a frozen query encoder.

    Args:
        config: a :class:`TrainConfig` (or a name / YAML path for :func:`load_config`).
        out_dir: where ``checkpoint.pt``, ``model.pt`` and the CSV logs go. If it already
            holds a checkpoint the run resumes from it (``resume=False`` refuses instead).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
        encoder: an already-built query encoder (else ``lassnet.query.load(config.query)``).
        progress: show a tqdm progress bar (a widget in Jupyter, text in a terminal).
    """

    def __init__(self, config, out_dir, device=None, encoder=None, progress=True, resume=True):
        self.cfg = config if isinstance(config, TrainConfig) else load_config(config)
        self.out_dir = Path(out_dir)
        self.progress = progress
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and device != "cpu" else "gloo"
            dist.init_process_group(backend)
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.distributed:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            self.device = torch.device("cuda", local)
            torch.cuda.set_device(self.device)
        if self.cfg.precision == "float16" and self.device.type != "cuda":
            raise ValueError("float16 training needs a GPU; use bfloat16 on CPU")

        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        torch.manual_seed(self.cfg.seed)
        if encoder is None:
            from . import query

            encoder = query.load(self.cfg.query, **self.cfg.query_options)
        self.encoder = encoder
        self.model = SeparationNet.from_preset(
            self.cfg.preset, condition_dim=encoder.dim, **self.cfg.separator
        ).to(self.device)
        if self.cfg.channels_last:  # the same maths with NHWC activations (faster convs)
            self.model = self.model.to(memory_format=torch.channels_last)
        self.sample_rate = self.model.config.sample_rate
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay,
            amsgrad=self.cfg.amsgrad,
        )
        cfg = self.cfg
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: cfg.lr_factor(step)  # a function: not pickled
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cfg.precision == "float16")
        self.step = 0
        path = self.out_dir / CHECKPOINT
        if path.exists():
            if not resume:
                raise CheckpointError(f"{path} exists; remove it or resume")
            self._load(path)
        self.ddp = (
            torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
            if self.distributed
            else self.model
        )

    # ------------------------------------------------------------ checkpoints
    def _payload(self) -> dict:
        return {
            "step": self.step,
            "train_config": self.cfg.to_dict(),
            "config": self.model.config.to_dict(),
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": _rng_state(),
            "query": {"name": self.cfg.query, "options": self.cfg.query_options},
        }

    def save_checkpoint(self) -> None:
        """Atomically write ``checkpoint.pt`` (full state) and ``model.pt`` (for inference)."""
        if self.rank == 0:
            payload = self._payload()
            checkpoint.save(payload, self.out_dir / CHECKPOINT, kind="train")
            checkpoint.save(
                {k: payload[k] for k in ("step", "config", "state_dict", "query",
                                         "train_config")},
                self.out_dir / MODEL, kind="model",
            )
        if self.distributed:
            dist.barrier()

    def _load(self, path: Path) -> None:
        payload = checkpoint.load(path, "train", map_location=self.device)
        ours, theirs = self.model.config.to_dict(), payload["config"]
        diff = {k: (theirs.get(k), v) for k, v in ours.items()
                if k != "preset" and theirs.get(k) != v}
        if diff:
            detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(
                f"{path} was trained with another model ({detail}); use another out_dir"
            )
        checkpoint.load_state(self.model, payload["state_dict"], str(path))
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        # The optimiser stored the lr its own config scheduled for the next step; take it from
        # this config's schedule instead, so that a run extended with more steps or a cool-down
        # is the same as one trained straight with the new config.
        factor = self.cfg.lr_factor(self.scheduler.last_epoch)
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs,
                               strict=True):
            group["lr"] = base * factor
        self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        self.scaler.load_state_dict(payload["scaler"])
        _set_rng_state(payload["rng"])
        self.step = int(payload["step"])
        for name in (LOSS_LOG, VAL_LOG):  # drop rows written after this checkpoint
            _truncate_log(self.out_dir / name, self.step)

    # ------------------------------------------------------------ one step
    def _conditions(self, batch: dict, step: int) -> torch.Tensor:
        captions = batch["caption"]
        cond = self.encoder.embed_text(captions).to(self.device)  # (B, D)
        if self.cfg.use_text_ratio < 1.0:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
            use_audio = torch.rand(len(captions), generator=gen) >= self.cfg.use_text_ratio
            if use_audio.any():
                clips = batch["query_wave"][use_audio]  # (b, 1, L)
                audio = self.encoder.embed_audio(clips[:, 0], self.sample_rate).to(self.device)
                cond = cond.clone()
                cond[use_audio.to(self.device)] = audio
        return cond

    def _autocast(self):
        if self.cfg.precision == "float32":
            return torch.autocast(self.device.type, enabled=False)
        dtype = torch.bfloat16 if self.cfg.precision == "bfloat16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def train_step(self, batch: dict) -> float:
        """One optimisation step on a collated batch; returns the loss."""
        self.ddp.train()
        mixture = batch["mixture"].to(self.device)  # (B, 1, L)
        target = batch["target"].to(self.device)  # (B, 1, L)
        cond = self._conditions(batch, self.step)
        with self._autocast():
            estimate = self.ddp(mixture, cond)
        loss = LOSSES[self.cfg.loss](estimate.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return float(loss.detach())

    # ------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict:
        """Mean SDRi and SI-SDRi on a fixed set of validation mixtures."""
        from .metrics import sdri, si_sdri

        if not hasattr(self, "_val_data"):
            self._val_data = build_dataset(
                self.cfg, self.sample_rate, "validation", self.cfg.val_size, seed=12345
            )
        loader = DataLoader(self._val_data, batch_size=self.cfg.batch_size, collate_fn=collate)
        was_training = self.model.training
        self.model.eval()
        sd, si = [], []
        for batch in loader:
            mixture = batch["mixture"].to(self.device)
            target = batch["target"].to(self.device)
            cond = self.encoder.embed_text(batch["caption"]).to(self.device)
            est = self.model(mixture, cond)
            sd.append(sdri(est, target, mixture).flatten().cpu())
            si.append(si_sdri(est, target, mixture).flatten().cpu())
        self.model.train(was_training)
        return {"sdri": float(torch.cat(sd).mean()), "si_sdri": float(torch.cat(si).mean())}

    # ------------------------------------------------------------ the loop
    def fit(self) -> dict:
        """Train until ``config.steps``; returns a summary (steps, seconds, last losses)."""
        cfg = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        size = cfg.steps * cfg.batch_size * self.world
        data = build_dataset(cfg, self.sample_rate, "train", size, seed=cfg.seed)
        loader = DataLoader(
            data,
            batch_sampler=StepBatches(self.step, cfg.steps, cfg.batch_size, self.rank, self.world),
            collate_fn=collate,
            num_workers=cfg.num_workers,
            persistent_workers=False,
        )
        start_step, t0 = self.step, time.perf_counter()
        losses: list[float] = []
        bar = None
        if self.progress and self.rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc=f"training {cfg.name}",
                       unit="step", dynamic_ncols=True)
        signals = _DeferredSignals()
        signals.install()
        try:
            for batch in loader:
                before = self.step
                signals.busy = True
                try:
                    loss = self.train_step(batch)
                except (KeyboardInterrupt, _Stop):
                    if self.step == before:  # stopped inside the step: its state may be torn
                        raise _Abandon() from None
                    raise
                finally:
                    signals.busy = False
                losses.append(loss)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}")
                if self.rank == 0 and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                    recent = losses[-cfg.log_every:]
                    _append_log(self.out_dir / LOSS_LOG,
                                dict(step=self.step, loss=sum(recent) / len(recent),
                                     lr=self.scheduler.get_last_lr()[0],
                                     seconds=round(time.perf_counter() - t0, 3)))
                if self.step % cfg.validate_every == 0 or self.step == cfg.steps:
                    scores = self.validate()
                    if self.rank == 0:
                        _append_log(self.out_dir / VAL_LOG, dict(step=self.step, **scores))
                        if bar is not None:
                            bar.set_postfix(loss=f"{loss:.4f}",
                                            val_si_sdri=f"{scores['si_sdri']:.1f} dB")
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save_checkpoint()
                if signals.pending:  # Ctrl-C / SIGTERM arrived during the step
                    raise _Stop()
        except _Abandon:
            if bar is not None:
                bar.write(f"stopped in the middle of step {self.step + 1}; the last checkpoint in "
                          f"{self.out_dir} is kept; run again to resume from it")
            raise KeyboardInterrupt from None
        except (KeyboardInterrupt, _Stop):
            self.save_checkpoint()
            if bar is not None:
                bar.write(f"interrupted: checkpoint saved at step {self.step} in {self.out_dir}; "
                          "run again to resume")
            raise KeyboardInterrupt from None
        finally:
            if bar is not None:
                bar.close()
            signals.restore()
        return {
            "steps": self.step,
            "new_steps": self.step - start_step,
            "seconds": time.perf_counter() - t0,
            "final_loss": losses[-1] if losses else math.nan,
            "out_dir": str(self.out_dir),
        }


def train(config, out_dir, **kwargs) -> dict:
    """Build a :class:`Trainer` and run it; see there for the arguments."""
    return Trainer(config, out_dir, **kwargs).fit()


# --------------------------------------------------------------------------- logs
def _append_log(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def _truncate_log(path: Path, step: int) -> None:
    if not path.exists():
        return
    rows = read_log(path)
    kept = [r for r in rows if r["step"] <= step]
    if len(kept) != len(rows):
        with atomic_write(path, "w", newline="") as fh:
            if kept:
                writer = csv.DictWriter(fh, fieldnames=list(kept[0]))
                writer.writeheader()
                writer.writerows(kept)


def read_log(path: str | os.PathLike) -> list[dict]:
    """Rows of a training CSV log, numbers as numbers."""
    with open(path, newline="") as fh:
        return [{k: (int(v) if k == "step" else float(v)) for k, v in row.items()}
                for row in csv.DictReader(fh)]


def plot_curves(run_dir: str | os.PathLike, ax=None):
    """Training loss and validation SI-SDRi against step, from a run's logs. Returns the figure."""
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
    else:
        fig = ax.figure
    rows = read_log(run_dir / LOSS_LOG)
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], color="C0", label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="C0")
    if (run_dir / VAL_LOG).exists():
        val = read_log(run_dir / VAL_LOG)
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in val], [r["si_sdri"] for r in val], "o-", color="C1",
                 label="validation SI-SDRi")
        ax2.set_ylabel("validation SI-SDRi (dB)", color="C1")
    ax.set_title(run_dir.name)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- signals
class _Abandon(Exception):
    """Stopped inside a training step: the in-memory state may be half-updated."""


class _DeferredSignals:
    """Ctrl-C (SIGINT) and SIGTERM that arrive while a training step runs are held until the
    step is complete, so the checkpoint written on the way out is never a torn state (half an
    optimiser update, batch-norm statistics one step ahead). Between steps, or on a second
    signal during a step, they stop at once (a second one abandons the step and keeps the
    previous checkpoint). Outside the main thread signals cannot be caught: nothing changes.
    """

    def __init__(self):
        self.busy = False
        self.pending = False
        self._old: dict = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                return

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum, frame):
        if self.busy and not self.pending:
            self.pending = True
            return
        raise KeyboardInterrupt if signum == signal.SIGINT else _Stop()
