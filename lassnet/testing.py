"""Deterministic stand-ins for tests, exercises and benchmarks: fake query encoders and a tiny
separator configuration, in one place.

They need no download and no trained weights, give the same numbers on every machine, and are
small enough that a training step takes milliseconds. They are *not* models of sound or
language: use them to exercise the machinery around an encoder or a separator (caches, batching,
training steps, checkpoints, figures), never to judge separation quality.

==========================  =================================================================
name                        what
==========================  =================================================================
:func:`letter_counts`       texts → how often each letter a–z occurs ``(B, 26)``
:class:`LetterEncoder`      a :class:`~lassnet.query.base.QueryEncoder` on letter counts
                            (text; optionally audio), recording what reaches the network
:class:`CountingEncoder`    the same with a cache and audio queries on (the cache tests)
:class:`FixedQueries`       caption ``"q<i>"`` → row ``i`` of a given table (exercise checks)
:data:`TINY_SEPARATOR`      overrides of the ``tiny`` preset for a two-level, 4-8-channel net
==========================  =================================================================

The query encoders are taught in chapter 4 (QueryNet), the separator in chapter 2 (Encoder and
decoder blocks), training in chapter 7 (Training).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .query.base import QueryEncoder

__all__ = ["CountingEncoder", "FixedQueries", "LetterEncoder", "TINY_SEPARATOR", "letter_counts"]

#: Overrides of the ``tiny`` preset (``SeparationNet.from_preset("tiny", **TINY_SEPARATOR)`` or
#: ``TrainConfig(preset="tiny", separator=TINY_SEPARATOR)``): two encoder levels of 4 and 8
#: channels and an 8-channel centre, so that a training step on a short batch takes
#: milliseconds on a CPU. Lists, as a YAML training config spells them. Copy it before
#: changing it: ``dict(TINY_SEPARATOR, centre_channels=16)``.
TINY_SEPARATOR: dict = dict(channels=[4, 8], pools=[[2, 2], [2, 2]], centre_channels=8)


def letter_counts(texts: Sequence[str]) -> torch.Tensor:
    """``(B, 26)`` float32: how often each letter a–z occurs in each text (case-insensitive;
    other characters are ignored)."""
    counts = torch.zeros(len(texts), 26)
    for i, text in enumerate(texts):
        for ch in text.lower():
            if "a" <= ch <= "z":
                counts[i, ord(ch) - 97] += 1
    return counts


class LetterEncoder(QueryEncoder):
    """A tiny deterministic query encoder: letter counts through a fixed random projection.

    A text becomes :func:`letter_counts` ``(B, 26)`` → ``Linear(26, dim)`` → L2-normalised
    ``(B, dim)`` (the normalisation is the base class's). Texts with the same letters get the
    same embedding; that is all it knows about language. With ``audio=True`` it also takes
    audio queries at 8 kHz: a clip ``(B, L)`` is cut into 26 equal frames (``L ≥ 26``) whose
    mean absolute values go through the same projection.

    The projection is drawn from its own generator seeded with ``seed``: two encoders with the
    same arguments are identical, and building one leaves the global random state alone.
    Every batch that reaches the network is recorded in :attr:`text_calls` (the texts) and
    :attr:`audio_shapes` (``(B, L)`` of each audio batch), so that a test can see what the
    cache and the batching let through.

    Args:
        dim: ``D``, the embedding width.
        seed: the seed of the projection's weights.
        cache_size: texts kept by the embedding cache (0: no cache).
        batch_size: texts or clips per call of the network.
        audio: accept audio queries (at 8 kHz, at least 0.01 s).
    """

    name = "letters"

    def __init__(self, dim: int = 8, *, seed: int = 0, cache_size: int = 0,
                 batch_size: int = 64, audio: bool = False):
        super().__init__(cache_size=cache_size, batch_size=batch_size,
                         audio_sample_rate=8000 if audio else None, min_audio_seconds=0.01)
        generator = torch.Generator().manual_seed(seed)
        self.proj = nn.utils.skip_init(nn.Linear, 26, dim)  # no draw from the global RNG
        with torch.no_grad():
            bound = 26 ** -0.5  # nn.Linear's default range, drawn from our own generator
            self.proj.weight.uniform_(-bound, bound, generator=generator)
            self.proj.bias.uniform_(-bound, bound, generator=generator)
        self._dim = dim
        self.text_calls: list[list[str]] = []
        self.audio_shapes: list[tuple[int, ...]] = []
        self._freeze()

    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        self.text_calls.append(list(texts))
        return self.proj(letter_counts(texts).to(self.device))  # (B, D)

    def _encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        self.audio_shapes.append(tuple(wave.shape))
        usable = (wave.shape[1] // 26) * 26
        frames = wave[:, :usable].reshape(wave.shape[0], 26, -1)  # (B, 26, L // 26)
        return self.proj(frames.abs().mean(-1))  # (B, D)


class CountingEncoder(LetterEncoder):
    """:class:`LetterEncoder` with an embedding cache (16 texts) and audio queries on by
    default: the stand-in for tests of the cache, batching and input checks of
    :class:`~lassnet.query.base.QueryEncoder`, which count the calls in :attr:`text_calls` and
    :attr:`audio_shapes`."""

    name = "counting"

    def __init__(self, cache_size: int = 16, batch_size: int = 64, audio: bool = True, *,
                 dim: int = 8, seed: int = 0):
        super().__init__(dim, seed=seed, cache_size=cache_size, batch_size=batch_size,
                         audio=audio)


class FixedQueries:
    """A stand-in for a text query encoder whose embeddings are given: caption ``"q<i>"`` →
    row ``i`` of ``table``.

    Args:
        table: ``(N, D)`` embeddings; ``dim`` is ``D``.

    ``embed_text(["q1", "q0"])`` returns rows 1 and 0, ``(2, D)``, as they are (not
    normalised again). It has only what :class:`lassnet.train.Trainer` asks of an encoder
    (``dim`` and ``embed_text``), so the exercise checkers can train on known conditions.
    """

    def __init__(self, table: torch.Tensor):
        self.table = table
        self.dim = table.shape[1]

    def embed_text(self, captions: Sequence[str]) -> torch.Tensor:
        """``(B, D)``: the rows named by captions ``"q<i>"``."""
        bad = [c for c in captions if not (c[:1] == "q" and c[1:].isdigit())]
        if bad:
            raise ValueError(f"FixedQueries knows captions 'q0' ... 'q{len(self.table) - 1}', "
                             f"got {bad[0]!r}")
        return self.table[[int(c[1:]) for c in captions]]
