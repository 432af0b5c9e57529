"""QueryNet: frozen encoders that turn a text or audio query into an embedding (chapter 4).

Taught in chapter 4 (QueryNet). Every back-end is a :class:`QueryEncoder` with
``embed_text(list[str]) -> (B, D)``, ``embed_audio(wave, sample_rate) -> (B, D)`` where it can
listen, and ``dim`` (``D``, the separator's FiLM input width). Outputs are L2-normalised; text
embeddings are cached. This package holds encoders only: training the audio tower lives in
:mod:`lassnet.train_query`, and nothing here knows the corpus (:mod:`lassnet.data`).

=================  =====  ============  ================================================
name               D      queries       what
=================  =====  ============  ================================================
``minilm``         384    text          all-MiniLM-L6-v2, shipped in a package; offline
``minilm-audio``   384    text, audio   MiniLM + a small audio CNN trained to match it
``clap``           512    text, audio   LAION-CLAP from a checkpoint file (AudioSep's)
``label``          any    class names   a learned embedding per class (an ablation)
=================  =====  ============  ================================================

>>> encoder = build("minilm")
>>> encoder.embed_text(["a siren wailing"]).shape
torch.Size([1, 384])
"""

from __future__ import annotations

import inspect
import re
import warnings

from .base import (
    CacheInfo,
    EmbeddingCache,
    QueryEncoder,
    check_audio_query,
    check_texts,
    class_prototypes,
)

__all__ = [
    "QueryEncoder",
    "EmbeddingCache",
    "CacheInfo",
    "check_texts",
    "check_audio_query",
    "class_prototypes",
    "build",
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
    from .minilm_audio import MiniLMAudioEncoder

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
    """Names :func:`build` accepts (in their canonical spelling)."""
    return list(_BACKENDS)


def _normalise_name(name: str) -> str:
    """A registry name in its canonical spelling: lower case, surrounding whitespace
    removed, ``_`` and inner whitespace read as ``-`` (``" MiniLM_Audio"`` → ``"minilm-audio"``).

    Raises ``ValueError`` when ``name`` is not a string.
    """
    if not isinstance(name, str):
        raise ValueError(
            f"a query encoder is named by a string, got {type(name).__name__}; "
            f"choose one of {', '.join(_BACKENDS)}"
        )
    return re.sub(r"[\s_]+", "-", name.strip().lower())


def build(name: str = DEFAULT, **options) -> QueryEncoder:
    """Build a query encoder by name.

    Taught in chapter 4 (QueryNet).

    Args:
        name: one of :func:`available` (``"minilm"``, ``"minilm-audio"``, ``"clap"``,
            ``"label"``); case, surrounding whitespace and ``_`` for ``-`` do not matter
            (``"MiniLM_Audio"`` is ``"minilm-audio"``).
        **options: the back-end's own arguments, e.g. ``checkpoint=PATH`` for ``"clap"``,
            ``device="cuda"`` or ``cache_size=...`` for any.

    Returns:
        a frozen :class:`QueryEncoder` (the ``"label"`` ablation is trainable).

    Raises ``ValueError`` for an unknown name or an option the back-end does not take.
    """
    key = _normalise_name(name)
    if key not in _BACKENDS:
        raise ValueError(
            f"unknown query encoder {name!r}; choose one of {', '.join(_BACKENDS)}"
        )
    cls = _BACKENDS[key]()
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"query encoder {name!r} does not take {', '.join(unknown)}; "
            f"its options are {', '.join(accepted)}"
        )
    return cls(**options)


_load_warned = False


def load(name: str = DEFAULT, **options) -> QueryEncoder:
    """Deprecated name of :func:`build` (elsewhere in lassnet "load" means "read a file").

    Warns with a ``DeprecationWarning`` the first time it is called, then builds as
    :func:`build` does.
    """
    global _load_warned
    if not _load_warned:
        _load_warned = True
        warnings.warn(
            "lassnet.query.load(name) is renamed lassnet.query.build(name); "
            "load will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
    return build(name, **options)
