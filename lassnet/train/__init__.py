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
load_config``. :func:`plot_curves` draws a run's logs; it lives in :mod:`lassnet.plot` and
is re-exported here (matplotlib is imported on first use, so ``import lassnet.train`` stays
quick: neither matplotlib nor :mod:`lassnet.data` is loaded until needed).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .config import CONFIG_DIR, LOSSES, TrainConfig, available_configs, load_config
from .data import StepBatches, build_dataset
from .state import read_log
from .trainer import Trainer, train

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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
    "plot_curves",
]


def plot_curves(run_dir: str | os.PathLike, ax: Axes | None = None) -> Figure:
    """Training loss and validation SI-SDRi against step, from a run's logs: see
    :func:`lassnet.plot.plot_curves` (this is the same function, reached from here)."""
    from ..plot import plot_curves as draw

    return draw(run_dir, ax=ax)
