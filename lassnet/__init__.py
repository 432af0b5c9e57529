"""lassnet: language-queried audio source separation, as in "Separate Anything You Describe".

The package mirrors the book: one module per idea, in teaching order. The names a reader needs
are importable from here (``lassnet.LASSModel``, ``lassnet.shipped_model``, ...), loaded on
first use so that ``import lassnet`` stays fast.

=============================  ===============================================  =========
module                         holds                                            chapter
=============================  ===============================================  =========
:mod:`lassnet.stft`            STFT / iSTFT as a module                         1
:mod:`lassnet.blocks`          residual, encoder and decoder blocks             2
:mod:`lassnet.introspect`      shapes, receptive field, feature maps            2-3
:mod:`lassnet.film`            FiLM conditioning                                3
:mod:`lassnet.query`           query encoders (MiniLM, CLAP, audio tower)       4
:mod:`lassnet.ontology`        the corpus's classes and captions (no torch)     4, 6
:mod:`lassnet.train_query`     training and scoring the audio tower             4
:mod:`lassnet.masks`           magnitude/phase masks and oracle masks           5
:mod:`lassnet.separator`       ``SeparationNet`` and its presets                2-5
:mod:`lassnet.audiosep`        AudioSep's released separator weights            5
:mod:`lassnet.pretrained`      AudioSep's released files: where, fetch          —
:mod:`lassnet.audio`           loading, resampling, mixing                      6
:mod:`lassnet.data`            synthetic corpus, mixtures, real datasets        6
:mod:`lassnet.train`           configs, the training loop, exact resume         7
:mod:`lassnet.checkpoint`      checkpoint files: atomic, checksummed, safe      7
:mod:`lassnet.inference`       fused copies for inference, precision="auto"     7
:mod:`lassnet.metrics`         SDR, SI-SDR and improvements                     8
:mod:`lassnet.evaluate`        the evaluation protocol                          8
:mod:`lassnet.model`           ``LASSModel``: query encoder + separator         0, 7-8
:mod:`lassnet.plot`            every figure                                     1-8
:mod:`lassnet.widgets`         the demo's players and query picker              0
:mod:`lassnet.exercises`       the exercises' checkers                          1-8
:mod:`lassnet.testing`         deterministic stand-ins for tests                —
:mod:`lassnet.checks`          input checks, the waveform contract              —
:mod:`lassnet.files`           atomic file writes                               —
:mod:`lassnet.settings`        the fast switch ``LASSNET_FAST``                 —
:mod:`lassnet.paths`           where the shipped weights are                    —
:mod:`lassnet.cli`             the ``lassnet`` command                          —
=============================  ===============================================  =========

The modules are layered in this pipeline order (``tests/test_package.py`` checks it): nothing
imports a module above it, and there are no import cycles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: The names a reader needs, imported on first use (``import lassnet`` stays fast: torch and
#: the rest load only when a name is touched). ``lassnet.LASSModel`` is
#: ``lassnet.model.LASSModel``, and so on.
_EXPORTS = {
    "LASSModel": "model",
    "SeparationNet": "separator",
    "SeparatorConfig": "separator",
    "PRESETS": "separator",
    "shipped_model": "paths",
    "load_audio": "audio",
    "save_audio": "audio",
    "Trainer": "train",
    "TrainConfig": "train",
    "load_config": "train",
    "evaluate_model": "evaluate",
    "CheckpointError": "checkpoint",
    "as_waveform": "checks",
}
#: Sub-modules reachable as attributes (``lassnet.query.build("minilm")``).
_MODULES = {"query", "data", "metrics", "plot", "audio", "train", "evaluate", "inference",
            "checkpoint", "masks", "stft", "blocks", "film", "introspect", "widgets",
            "exercises", "audiosep", "settings", "paths", "checks", "files", "model",
            "separator", "cli", "ontology", "train_query", "testing"}

__all__ = [
    "__version__",
    "LASSModel",
    "SeparationNet",
    "SeparatorConfig",
    "PRESETS",
    "shipped_model",
    "load_audio",
    "save_audio",
    "Trainer",
    "TrainConfig",
    "load_config",
    "evaluate_model",
    "CheckpointError",
    "as_waveform",
]

if TYPE_CHECKING:
    from .audio import load_audio, save_audio
    from .checkpoint import CheckpointError
    from .checks import as_waveform
    from .evaluate import evaluate_model
    from .model import LASSModel
    from .paths import shipped_model
    from .separator import PRESETS, SeparationNet, SeparatorConfig
    from .train import TrainConfig, Trainer, load_config


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'lassnet' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | _MODULES)
