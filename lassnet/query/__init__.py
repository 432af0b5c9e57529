"""QueryNet: frozen encoders that turn a text or audio query into an embedding (chapter 4).

Taught in chapter 4 (QueryNet). Every back-end is a :class:`QueryEncoder` with
``embed_text(list[str]) -> (B, D)``, ``embed_audio(wave, sample_rate) -> (B, D)`` where it can
listen, and ``dim`` (``D``, the separator's FiLM input width). Outputs are L2-normalised; text
embeddings are cached.

=================  =====  ============  ================================================
name               D      queries       what
=================  =====  ============  ================================================
``minilm``         384    text          all-MiniLM-L6-v2, shipped in a package; offline
``minilm-audio``   384    text, audio   MiniLM + a small audio CNN trained to match it
``clap``           512    text, audio   LAION-CLAP from a checkpoint file (AudioSep's)
``label``          any    class names   a learned embedding per class (an ablation)
=================  =====  ============  ================================================

>>> encoder = load("minilm")
>>> encoder.embed_text(["a siren wailing"]).shape
torch.Size([1, 384])
"""

from __future__ import annotations

import inspect

from .base import CacheInfo, EmbeddingCache, QueryEncoder, check_audio_query, check_texts

__all__ = [
    "QueryEncoder",
    "EmbeddingCache",
    "CacheInfo",
    "check_texts",
    "check_audio_query",
    "load",
    "available",
    "DEFAULT",
]

#: the encoder used when none is named
DEFAULT = "minilm"


def _minilm():
    from .minilm import MiniLMEncoder

    return MiniLMEncoder


def _minilm_audio():
    from .audio_encoder import MiniLMAudioEncoder

    return MiniLMAudioEncoder


def _clap():
    from .clap import CLAPEncoder

    return CLAPEncoder


def _label():
    from .label import LabelEncoder

    return LabelEncoder


_BACKENDS = {
    "minilm": _minilm,
    "minilm-audio": _minilm_audio,
    "clap": _clap,
    "label": _label,
}


def available() -> list[str]:
    """Names :func:`load` accepts."""
    return list(_BACKENDS)


def load(name: str = DEFAULT, **options) -> QueryEncoder:
    """Build a query encoder by name.

    Taught in chapter 4 (QueryNet).

    Args:
        name: one of :func:`available` (``"minilm"``, ``"minilm-audio"``, ``"clap"``,
            ``"label"``).
        **options: the back-end's own arguments, e.g. ``checkpoint=PATH`` for ``"clap"``,
            ``device="cuda"`` or ``cache_size=...`` for any.

    Returns:
        a frozen :class:`QueryEncoder` (the ``"label"`` ablation is trainable).

    Raises ``ValueError`` for an unknown name or an option the back-end does not take.
    """
    if not isinstance(name, str) or name.strip().lower() not in _BACKENDS:
        raise ValueError(
            f"unknown query encoder {name!r}; choose one of {', '.join(_BACKENDS)}"
        )
    cls = _BACKENDS[name.strip().lower()]()
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"query encoder {name!r} does not take {', '.join(unknown)}; "
            f"its options are {', '.join(accepted)}"
        )
    return cls(**options)
