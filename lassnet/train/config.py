"""A training run described by a small YAML file: :class:`TrainConfig` and the loss table.

Taught in chapter 7 (Training). The shipped files live in ``lassnet/configs/``
(:data:`CONFIG_DIR`): ``tiny-cpu`` trained the shipped model on a laptop CPU, ``audiosep`` is
AudioSep's setting for GPUs. :func:`load_config` reads one by name or from a path, with
keyword overrides; unknown keys and out-of-range values raise one ``ValueError`` that names
the value and what is allowed.

Losses (:data:`LOSSES`), by config name:

* ``l1``: mean absolute error between separated and target waveforms (AudioSep's loss,
  :func:`lassnet.metrics.l1_wave_loss`);
* ``neg_sdr``: the negative SDR, 10·log10(‖s‖² / ‖s − ŝ‖²) averaged over examples, which
  weighs every example equally however quiet its target
  (:func:`lassnet.metrics.neg_sdr_loss`). Earlier versions called it ``snr``; that name is
  still read (in a YAML file, from a checkpoint's ``train_config``, as an argument) and
  becomes ``neg_sdr``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from ..metrics import l1_wave_loss, neg_sdr_loss

__all__ = [
    "CONFIG_DIR",
    "LOSSES",
    "LOSS_ALIASES",
    "MIXINGS",
    "AUDIO_QUERIES",
    "DATA_CACHES",
    "WARMUPS",
    "KEY_ALIASES",
    "PRECISIONS",
    "TrainConfig",
    "available_configs",
    "load_config",
]

#: The folder of the shipped training configs (``<name>.yaml``).
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

#: Config name → loss function ``(estimate, target) -> scalar`` on ``(B, 1, L)`` waveforms.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": l1_wave_loss,
    "neg_sdr": neg_sdr_loss,
}
#: Earlier names of losses, read as today's.
LOSS_ALIASES = {"snr": "neg_sdr"}
#: ``mixing``: lassnet's per-item mixtures (1..k clips of other classes, continuous gains) or
#: AudioSep's batch mixer (:class:`lassnet.data.AudioSepMixer`).
MIXINGS = ("lassnet", "audiosep")
#: ``audio_query`` (used when ``use_text_ratio < 1``): another clip of the target's class per
#: example (lassnet), or the target segment itself for the whole batch (AudioSep's hybrid).
AUDIO_QUERIES = ("same_class", "target")
#: ``data_cache`` values: serve the training clips from a rendered file on CUDA when it pays,
#: always, or never (:func:`lassnet.train.data.use_data_cache`).
DATA_CACHES = ("auto", "on", "off")
#: ``warmup``: lassnet's linear ramp, or AudioSep's staircase (``constant_warm_up``).
WARMUPS = ("linear", "staircase")
#: Config keys of earlier versions, read under today's name (checkpoints keep their config).
KEY_ALIASES = {"segment_seconds": "duration"}
#: ``precision`` values: the autocast dtype of the forward pass (``float16`` needs CUDA; it
#: trains with loss scaling). ``auto``: bfloat16 on CUDA cards that run it natively (compute
#: capability ≥ 8.0), float16 on older ones (a T4), and on the CPU what the measurement of
#: :func:`lassnet.inference.choose_precision` picks; a resumed run keeps the precision its
#: checkpoint was trained in.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


@dataclass
class TrainConfig:
    """A training run: the model, the data, the optimisation and the bookkeeping.

    Taught in chapter 7 (Training). Read from YAML by :func:`load_config`; saved in every
    checkpoint as ``train_config`` (:meth:`to_dict`) and read back by :meth:`from_dict`.
    The learning rate at each step is :meth:`lr_factor` times ``lr``.
    """

    name: str = "custom"
    # model
    preset: str = "tiny"
    separator: dict[str, Any] = field(default_factory=dict)  # SeparatorConfig overrides
    # Fine-tuning: the separator's starting weights, from a lassnet model or separator file
    # or an AudioSep checkpoint (.ckpt, converted). A run that resumes takes its own
    # checkpoint instead. None: random weights from the run's seed.
    init_from: str | None = None
    query: str = "minilm"
    query_options: dict[str, Any] = field(default_factory=dict)
    # data
    dataset: str = "synthetic"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    duration: float = 2.0
    min_interferers: int = 1
    max_interferers: int = 3
    gain_db: tuple[float, float] = (-10.0, 10.0)
    mixing: str = "lassnet"  # or "audiosep": AudioSep's batch mixer (next clip, integer gains)
    max_mix_num: int = 2  # with mixing "audiosep": sources per mixture at most, target included
    # Clip augmentation of the training mixtures (lassnet.data.ClipAugment): e.g.
    # {pitch: 2, eq: 0.5, room: 0.3, noise_db: [-40, -20]}; {} (the default): none.
    augment: dict[str, Any] = field(default_factory=dict)
    use_text_ratio: float = 1.0
    # Query noise: each training query embedding e becomes (e + σ·n)·|e|/|e + σ·n|, n a random
    # direction about as long as e (n ~ N(0, |e|²·I/D)): cos(e, e') ≈ 1/√(1 + σ²). 0: none.
    query_noise: float = 0.0
    audio_query: str = "same_class"  # or "target": AudioSep's hybrid mode (the target itself)
    num_workers: int = 0
    # "auto": on CUDA, serve a finite pool's clips from a file rendered once; "on"; "off"
    # (lassnet.train.data.use_data_cache). The batches are the same either way.
    data_cache: str = "auto"
    data_cache_dir: str | None = None  # where it goes; None: lassnet.data.cache_dir()/rendered
    # optimisation
    loss: str = "l1"  # a key of LOSSES ("snr" is read as "neg_sdr")
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    warmup_steps: int = 100
    warmup: str = "linear"  # or "staircase": AudioSep's constant_warm_up (x0.001/0.01/0.1)
    decay_steps: int = 0  # the last decay_steps steps anneal the lr to min_lr (cosine); 0: none
    min_lr: float = 0.0
    weight_decay: float = 0.0
    amsgrad: bool = True
    grad_clip: float | None = None
    # Weight averaging: an exponential moving average of the separator's weights (and batch-norm
    # statistics), ema_decay per step (e.g. 0.999); model.pt holds the average. 0: none.
    ema_decay: float = 0.0
    precision: str = "float32"  # "auto", "bfloat16", or "float16" on CUDA
    threads: int | None = None  # CPU threads for the model during fit() (None: leave as is)
    channels_last: bool = False  # NHWC activations: ~1.3x faster steps on CPU (oneDNN)
    seed: int = 0
    # bookkeeping
    log_every: int = 10
    checkpoint_every: int = 200
    validate_every: int = 500
    val_size: int = 32

    def __post_init__(self) -> None:
        self.gain_db = tuple(float(g) for g in self.gain_db)
        self.loss = LOSS_ALIASES.get(self.loss, self.loss)
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose from {sorted(LOSSES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"unknown precision {self.precision!r}; choose from {list(PRECISIONS)}"
            )
        if self.mixing not in MIXINGS:
            raise ValueError(f"unknown mixing {self.mixing!r}; choose from {list(MIXINGS)}")
        if self.mixing == "audiosep":
            if self.max_mix_num < 2:
                raise ValueError(f"max_mix_num must be at least 2, got {self.max_mix_num}")
            if any(g != int(g) for g in self.gain_db):
                raise ValueError("AudioSep's mixer draws integer gains: gain_db must be whole "
                                 f"numbers of dB, got {list(self.gain_db)}")
        if self.audio_query not in AUDIO_QUERIES:
            raise ValueError(f"unknown audio_query {self.audio_query!r}; choose from "
                             f"{list(AUDIO_QUERIES)}")
        if (self.mixing == "audiosep" and self.use_text_ratio < 1.0
                and self.audio_query != "target"):
            raise ValueError("with mixing 'audiosep' an audio query is the target itself "
                             "(AudioSep's hybrid mode): set audio_query: target")
        if isinstance(self.data_cache, bool):  # YAML reads a bare on/off as true/false
            self.data_cache = "on" if self.data_cache else "off"
        if self.data_cache not in DATA_CACHES:
            raise ValueError(f"unknown data_cache {self.data_cache!r}; choose from "
                             f"{list(DATA_CACHES)}")
        if self.init_from is not None:
            if not isinstance(self.init_from, (str, os.PathLike)):
                raise ValueError(f"init_from must be a checkpoint path or null, got "
                                 f"{self.init_from!r}")
            self.init_from = os.fspath(self.init_from)
        if self.data_cache_dir is not None:
            if not isinstance(self.data_cache_dir, (str, os.PathLike)):
                raise ValueError(f"data_cache_dir must be a folder path or null, got "
                                 f"{self.data_cache_dir!r}")
            self.data_cache_dir = os.fspath(self.data_cache_dir)
        if self.warmup not in WARMUPS:
            raise ValueError(f"unknown warmup {self.warmup!r}; choose from {list(WARMUPS)}")
        if not 0.0 <= self.use_text_ratio <= 1.0:
            raise ValueError(f"use_text_ratio must be in [0, 1], got {self.use_text_ratio}")
        if not 1 <= self.min_interferers <= self.max_interferers:
            raise ValueError(
                f"need 1 <= min_interferers ({self.min_interferers}) <= max_interferers "
                f"({self.max_interferers})"
            )
        for name in ("steps", "batch_size", "log_every", "checkpoint_every", "validate_every",
                     "val_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "decay_steps", "num_workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 (or null for PyTorch's default), "
                             f"got {self.threads}")
        if self.augment:
            if not isinstance(self.augment, dict):
                raise ValueError(f"augment must be a mapping of options, got {self.augment!r}")
            if self.mixing != "lassnet":
                raise ValueError("augment works with lassnet's mixing only (mixing: lassnet)")
            from ..data.augment import ClipAugment  # only when asked for: scipy is slow to load

            ClipAugment.from_options(16000, self.augment)  # its checks, in one line each
        if not 0.0 <= self.query_noise <= 10.0:
            raise ValueError(f"query_noise must be in [0, 10] (0: none), got {self.query_noise}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0: no weight averaging), "
                             f"got {self.ema_decay}")
        if not 0.0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be in [0, lr = {self.lr}], got {self.min_lr}")

    def lr_factor(self, step: int) -> float:
        """The learning rate at ``step`` (0-based) as a fraction of ``lr``.

        The warm-up: ``"linear"`` (lassnet's) rises linearly to 1 over ``warmup_steps``;
        ``"staircase"`` is AudioSep's ``constant_warm_up`` (``optimizers/lr_schedulers.py``):
        ×0.001 for the first ``warmup_steps`` steps, ×0.01 for the next ``warmup_steps``,
        ×0.1 for the next, then 1. After it the rate is constant (as AudioSep's) until, if
        ``decay_steps``, a cosine takes it down to ``min_lr`` over the last ``decay_steps``
        steps (all of them in a run shorter than that; lassnet's addition). A pure function of
        the step: a checkpoint stores nothing about it."""
        if self.warmup == "staircase":
            stairs = step // self.warmup_steps if self.warmup_steps else 3
            factor = (0.001, 0.01, 0.1)[stairs] if stairs < 3 else 1.0
        else:
            factor = min(1.0, (step + 1) / max(1, self.warmup_steps))
        decay = min(self.decay_steps, self.steps)
        start = self.steps - decay
        if decay and step >= start:
            floor = self.min_lr / self.lr if self.lr else 0.0
            t = min(1.0, (step - start + 1) / decay)
            factor *= floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
        return factor

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (YAML- and checkpoint-safe; ``gain_db`` as a list)."""
        d = dataclasses.asdict(self)
        d["gain_db"] = list(self.gain_db)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The config a :meth:`to_dict` (or a YAML mapping) describes; unknown keys raise
        ``ValueError``; earlier key and loss names are mapped (:data:`KEY_ALIASES`,
        :data:`LOSS_ALIASES`)."""
        d = {KEY_ALIASES.get(k, k): v for k, v in d.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"unknown training config keys: {sorted(unknown)}; known keys: {sorted(known)}"
            )
        return cls(**d)


def available_configs() -> list[str]:
    """Names of the configs shipped in ``lassnet/configs`` (:data:`CONFIG_DIR`)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """Read a config by name (``"tiny-cpu"``, ``"audiosep"``) or from a YAML file path.

    Taught in chapter 7 (Training). ``overrides`` replace fields of the file (``None`` values
    are ignored, so command-line options that were not given change nothing); ``name``
    defaults to the file's stem. A missing or unreadable file, invalid YAML (the message
    gives the line and column) and unknown keys raise ``ValueError``.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ValueError(
                f"unknown config {str(name_or_path)!r}; choose from {available_configs()} "
                "or give a path to a YAML file"
            )
    elif not path.is_file():
        raise ValueError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{path}: not valid YAML{where} ({problem})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (a config is UTF-8 YAML)") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a YAML mapping, got {type(data).__name__}")
    data.setdefault("name", path.stem)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(data)
