"""The QueryNet interface: one frozen encoder that turns queries into embeddings.

Taught in chapter 4 (QueryNet). A :class:`QueryEncoder` maps a batch of queries to a batch of
L2-normalised embeddings ``(B, D)`` that condition the separator through FiLM:

* ``embed_text(["a siren wailing", ...])`` → ``(B, D)``,
* ``embed_audio(wave, sample_rate)`` → ``(B, D)`` for back-ends that can listen,
* ``dim`` (``D``), the FiLM input width.

Shape letters: ``B`` batch, ``D`` embedding width, ``L`` samples.

Training asks for the same few captions millions of times, so text embeddings are kept in a
bounded least-recently-used :class:`EmbeddingCache` keyed by the exact string. Back-ends only
implement ``_encode_text`` (and ``_encode_audio``); checks, caching, resampling, device
handling and normalisation live here, once.
"""

from __future__ import annotations

import math
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checks import as_waveform, check_finite, check_waveform

__all__ = [
    "QueryEncoder",
    "EmbeddingCache",
    "CacheInfo",
    "check_texts",
    "check_audio_query",
    "resolve_device",
    "class_prototypes",
]


class CacheInfo(NamedTuple):
    """Counters of an :class:`EmbeddingCache`."""

    hits: int
    misses: int
    size: int
    maxsize: int


class EmbeddingCache:
    """A bounded least-recently-used map ``text → embedding (D,)``.

    Taught in chapter 4 (QueryNet). ``maxsize`` bounds the number of entries (0 disables
    caching). Stored rows are private copies: :meth:`get` hands out the stored tensor, and
    :meth:`QueryEncoder.embed_text` always builds a new batch tensor from the rows, so a caller
    who edits a returned batch in place cannot change what the cache holds.
    """

    def __init__(self, maxsize: int = 4096):
        if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 0:
            raise ValueError(f"cache_size must be an integer >= 0, got {maxsize!r}")
        self.maxsize = maxsize
        self._rows: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> torch.Tensor | None:
        """The row stored for ``key`` (marking it recently used), or ``None``."""
        row = self._rows.get(key)
        if row is None:
            self.misses += 1
            return None
        self._rows.move_to_end(key)
        self.hits += 1
        return row

    def put(self, key: str, row: torch.Tensor) -> None:
        """Store a private copy of ``row`` under ``key``, evicting the least recently used."""
        if self.maxsize == 0:
            return
        self._rows[key] = row.detach().clone()
        self._rows.move_to_end(key)
        while len(self._rows) > self.maxsize:
            self._rows.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry and reset the counters."""
        self._rows.clear()
        self.hits = 0
        self.misses = 0

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, len(self._rows), self.maxsize)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` → CUDA when available, else CPU; a name or ``torch.device`` is checked."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available here")
    return dev


def check_texts(texts) -> list[str]:
    """Check a batch of text queries and return it as a list.

    Raises ``ValueError`` for a bare string (wrap it: ``[text]``), a non-sequence, an empty
    batch, a non-string item, or a query with nothing visible in it: empty, whitespace, or
    only invisible characters (zero-width spaces and joiners, byte-order marks, control
    characters), which an encoder would read as no text at all.
    """
    if isinstance(texts, str):
        raise ValueError(
            f"text queries must be a list of strings, got a single string {texts!r}; "
            "use [text] for one query"
        )
    if not isinstance(texts, Sequence):
        raise ValueError(f"text queries must be a list of strings, got {type(texts).__name__}")
    texts = list(texts)
    if not texts:
        raise ValueError("no text queries given (an empty list)")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"text query {i} must be a string, got {type(text).__name__}")
        if not any(_visible(ch) for ch in text):
            raise ValueError(
                f"text query {i} is empty or only whitespace (or invisible characters such "
                f"as zero-width spaces): {text!r}"
            )
    return texts


def _visible(ch: str) -> bool:
    """Whether ``ch`` shows: not whitespace, not a control (Cc) or format (Cf) character."""
    return not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf")


def check_audio_query(wave, sample_rate) -> tuple[torch.Tensor, int]:
    """Check an audio query and return it as a float tensor ``(B, 1, L)`` and an int rate.

    Accepts a torch tensor or numpy array shaped ``(L,)`` (one clip), ``(B, L)`` (a batch of
    mono clips) or ``(B, 1, L)``, by the contract of :func:`lassnet.checks.as_waveform`;
    raises ``ValueError`` for anything else, for integer samples, for more than one channel,
    and for a missing or non-positive sample rate.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.integer)):
        raise ValueError(
            f"an audio query needs its sample rate in Hz (an int), got {sample_rate!r}"
        )
    if not math.isfinite(sample_rate) or sample_rate <= 0 or int(sample_rate) != sample_rate:
        raise ValueError(f"sample rate must be a positive whole number of Hz, got {sample_rate}")
    wave = as_waveform(wave, "audio query", layouts=("L", "BL", "BCL"))
    if wave.dim() == 1:
        wave = wave[None, None]  # (L,) → (1, 1, L)
    elif wave.dim() == 2:
        wave = wave[:, None]  # (B, L) → (B, 1, L)
    check_waveform(wave, "audio query")  # mono
    return wave, int(sample_rate)


class QueryEncoder(nn.Module):
    """Base class of every query encoder (the QueryNet).

    Taught in chapter 4 (QueryNet). Frozen: parameters never require gradients, the module
    stays in ``eval`` mode whatever ``train()`` is asked, and embeddings are computed without
    autograd. (:class:`lassnet.query.label.LabelEncoder`, an ablation, sets ``trainable``.)

    Subclasses call ``super().__init__(...)``, build their network, set ``self._dim`` and call
    :meth:`_freeze`; they implement ``_encode_text(texts) -> (B, D)`` and, if they can listen,
    set ``audio_sample_rate`` and implement ``_encode_audio(wave (B, L)) -> (B, D)``, where
    ``wave`` is already at ``audio_sample_rate`` on the encoder's device.
    """

    #: registry name (``lassnet.query.build(name)``)
    name: str = "query"
    #: learned jointly with the separator (only the label ablation)
    trainable: bool = False

    def __init__(
        self,
        *,
        cache_size: int = 4096,
        batch_size: int = 64,
        audio_sample_rate: int | None = None,
        min_audio_seconds: float = 0.05,
    ):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.cache = EmbeddingCache(cache_size)
        self.batch_size = batch_size
        self.audio_sample_rate = audio_sample_rate
        self.min_audio_seconds = float(min_audio_seconds)
        self._dim = 0

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        """``D``, the width of every embedding (and of the separator's FiLM input)."""
        return self._dim

    @property
    def supports_audio(self) -> bool:
        """Whether :meth:`embed_audio` is available."""
        return self.audio_sample_rate is not None

    @property
    def device(self) -> torch.device:
        """The device the encoder runs on (and its embeddings come back on)."""
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    def cache_info(self) -> CacheInfo:
        """Hits, misses and size of the text-embedding cache."""
        return self.cache.info()

    def clear_cache(self) -> None:
        """Forget every cached text embedding."""
        self.cache.clear()

    # ------------------------------------------------------------------ frozen behaviour
    def _freeze(self) -> None:
        if not self.trainable:
            for p in self.parameters():
                p.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> QueryEncoder:
        """Frozen encoders stay in ``eval`` mode; only a trainable one follows ``mode``."""
        return super().train(bool(mode) and self.trainable)

    def _apply(self, fn, *args, **kwargs):
        # moving the encoder (.to, .cuda, .half) invalidates rows cached on the old device
        if hasattr(self, "cache"):
            self.cache.clear()
        return super()._apply(fn, *args, **kwargs)

    # ------------------------------------------------------------------ text
    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed a batch of text queries.

        Args:
            texts: ``B`` non-empty strings.

        Returns:
            ``(B, D)`` float32 embeddings on :attr:`device`, each of unit L2 norm. Repeated
            strings are served from the cache without running the model again.
        """
        texts = check_texts(texts)
        if self.trainable or self.cache.maxsize == 0:
            return self._embed_batches(texts, self._encode_text, "text")
        rows: dict[str, torch.Tensor] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):  # distinct, in order
            row = self.cache.get(text)
            if row is None:
                missing.append(text)
            else:
                rows[text] = row
        if missing:
            fresh = self._embed_batches(missing, self._encode_text, "text")  # (M, D)
            for text, row in zip(missing, fresh, strict=True):
                row = row.clone()
                rows[text] = row
                self.cache.put(text, row)
        device = self.device
        return torch.stack([rows[t].to(device) for t in texts])  # (B, D), a new tensor

    def _embed_batches(self, queries, encode, what: str) -> torch.Tensor:
        """Run ``encode`` on ``queries`` in chunks of :attr:`batch_size`, check each chunk's
        output, concatenate and L2-normalise: ``B`` queries (a list of strings or a ``(B, L)``
        tensor) → ``(B, D)`` float32. Gradients flow only for a trainable encoder."""
        parts = []
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            for start in range(0, len(queries), self.batch_size):
                chunk = queries[start : start + self.batch_size]
                emb = encode(chunk)  # (b, D)
                self._check_output(emb, len(chunk), what)
                parts.append(emb)
            out = torch.cat(parts) if len(parts) > 1 else parts[0]  # (B, D)
            # clone() leaves inference mode behind: the result can feed autograd (FiLM)
            return F.normalize(out.float(), dim=-1).clone()

    # ------------------------------------------------------------------ audio
    def embed_audio(self, wave, sample_rate: int) -> torch.Tensor:
        """Embed a batch of audio queries (clips of the wanted sound).

        Args:
            wave: ``(B, 1, L)``, ``(B, L)`` or ``(L,)`` mono samples (tensor or numpy).
            sample_rate: their rate in Hz; clips are resampled to the encoder's own rate.

        Returns:
            ``(B, D)`` float32 embeddings on :attr:`device`, each of unit L2 norm.
        """
        if not self.supports_audio:
            raise ValueError(
                f"the {self.name!r} query encoder takes text queries only; for audio queries "
                "use lassnet.query.build('minilm-audio') or build('clap', checkpoint=...)"
            )
        wave, sample_rate = check_audio_query(wave, sample_rate)
        wave = wave.to(self.device, torch.float32)[:, 0]  # (B, L)
        if sample_rate != self.audio_sample_rate:
            import torchaudio

            wave = torchaudio.functional.resample(wave, sample_rate, self.audio_sample_rate)
        need = math.ceil(self.min_audio_seconds * self.audio_sample_rate)
        if wave.shape[-1] < need:
            raise ValueError(
                f"audio query is too short: {wave.shape[-1] / self.audio_sample_rate:.3f} s, "
                f"the {self.name!r} encoder needs at least {self.min_audio_seconds:g} s"
            )
        return self._embed_batches(wave, self._encode_audio, "audio")  # (B, D)

    # ------------------------------------------------------------------ back-end hooks
    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def _encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _check_output(self, emb: torch.Tensor, batch: int, what: str) -> None:
        if emb.shape != (batch, self.dim):
            raise RuntimeError(
                f"{self.name} {what} encoder returned {tuple(emb.shape)}, expected ({batch}, "
                f"{self.dim})"
            )
        check_finite(emb, f"{self.name} {what} embedding")

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Same as :meth:`embed_text`."""
        return self.embed_text(texts)

    def extra_repr(self) -> str:
        audio = f"{self.audio_sample_rate} Hz" if self.supports_audio else "no"
        return f"name={self.name!r}, dim={self.dim}, audio={audio}, cache={self.cache.maxsize}"


def class_prototypes(
    encoder: QueryEncoder, classes: Sequence[str], captions: Mapping[str, Sequence[str]]
) -> torch.Tensor:
    """Each class's *prototype*: the normalised mean embedding of its captions.

    Taught in chapter 4 (QueryNet); chapter 8 (Evaluation) measures query margins with it.

    Args:
        encoder: any :class:`QueryEncoder`.
        classes: ``K`` class names, in the order of the rows.
        captions: ``class → captions`` (at least one per class), e.g.
            :data:`lassnet.ontology.CAPTIONS`.

    Returns:
        ``(K, D)`` unit vectors on the encoder's device. Raises ``ValueError`` for a class
        without captions.
    """
    rows = []
    for name in classes:
        texts = list(captions.get(name, ()))
        if not texts:
            raise ValueError(
                f"class {name!r} has no captions; give captions[{name!r}] a list of strings"
            )
        rows.append(F.normalize(encoder.embed_text(texts).mean(0), dim=0))  # (D,)
    return torch.stack(rows)  # (K, D)
