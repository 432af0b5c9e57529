"""Where lassnet finds its shipped files (the ``data/`` folder beside the package)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "shipped_model"]

#: The checkpoint the book's demo and evaluation chapters load.
SHIPPED_MODEL = "tiny-minilm.pt"


def data_dir() -> Path:
    """The folder of shipped weights: ``$LASSNET_DATA`` if set, else ``data/`` beside the
    ``lassnet`` package (the repository layout, as installed by ``pip install -e .``)."""
    env = os.environ.get("LASSNET_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def shipped_model() -> Path:
    """Path of the shipped pretrained model; a clear error if it is not there."""
    path = data_dir() / SHIPPED_MODEL
    if not path.is_file():
        raise FileNotFoundError(
            f"the shipped model {path} is missing; train one with "
            "`lassnet train --config tiny-cpu --out runs/tiny-cpu` and pass --checkpoint"
        )
    return path
