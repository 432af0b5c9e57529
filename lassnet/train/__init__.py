"""Training a language-queried separator (taught in chapter 7, "Training").

=============================  =========================================================
module                         holds
=============================  =========================================================
:mod:`lassnet.train.config`    :class:`TrainConfig`, :func:`load_config`, the shipped
                               configs (:data:`CONFIG_DIR`), the loss table :data:`LOSSES`
:mod:`lassnet.train.data`      the mixture dataset of a config (:func:`build_dataset`) and
                               the indices each step reads (:class:`StepBatches`)
:mod:`lassnet.train.trainer`   :class:`Trainer` (one step, validation, the loop) and
                               :func:`train`
:mod:`lassnet.train.state`     checkpoints and exact resume, the run's random streams, the
                               CSV logs (:func:`read_log`), Ctrl-C / SIGTERM handling
=============================  =========================================================

The names users and chapters import are here: ``from lassnet.train import train,
load_config``. A run's logs are drawn by :func:`lassnet.plot.plot_curves` (figures sit above
training in the pipeline). ``import lassnet.train`` stays quick: :mod:`lassnet.data` is loaded
only when a dataset is built.
"""

from __future__ import annotations

from .config import CONFIG_DIR, LOSSES, TrainConfig, available_configs, load_config
from .data import StepBatches, build_dataset
from .state import read_log
from .trainer import Trainer, train

__all__ = [
    "CONFIG_DIR",
    "LOSSES",
    "TrainConfig",
    "available_configs",
    "load_config",
    "StepBatches",
    "build_dataset",
    "Trainer",
    "train",
    "read_log",
]

