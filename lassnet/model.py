"""``LASSModel``: a query encoder joined to a separator (chapters 0, 7 and 8).

The query encoder (:mod:`lassnet.query`) is frozen and is *not* part of the model's weights:
a checkpoint records its name and options and it is rebuilt on load. The separator
(:class:`~lassnet.separator.SeparationNet`) is what training changes.

:meth:`LASSModel.separate` is the user-facing entry point: any array or tensor, any sample
rate, mono or multichannel, any length, a text or audio query.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from . import checkpoint, inference
from .checkpoint import CheckpointError
from .checks import WaveLike, as_waveform
from .separator import SeparationNet, SeparatorConfig

if TYPE_CHECKING:  # the query package is imported lazily (building an encoder is slow)
    from .query.base import QueryEncoder

__all__ = ["LASSModel", "overlap_add_windows", "QueryLike"]

#: A query: a caption, several captions (one embedding each), or an audio clip of the wanted
#: sound (``(L,)`` samples, tensor or array, with its sample rate given separately).
QueryLike = str | Sequence[str] | WaveLike


def overlap_add_windows(length: int, chunk: int, overlap: int):
    """Chunk starts and cross-fade windows for overlap-add over ``length`` samples.

    Returns a list of ``(start, window)``: chunks of ``chunk`` samples start every
    ``chunk − overlap`` samples (the last one is shifted back to end at ``length``). Each
    ``window`` ``(chunk,)`` rises and falls as a raised cosine over ``overlap`` samples where it
    meets a neighbour and is flat elsewhere (also at the signal's two ends). Dividing the
    weighted sum by the summed windows makes the cross-fades exact.
    """
    if chunk <= 0 or not 0 <= overlap < chunk:
        raise ValueError(f"need chunk > overlap >= 0, got chunk={chunk}, overlap={overlap}")
    if length <= chunk:
        return [(0, torch.ones(length))]
    hop = chunk - overlap
    starts = list(range(0, length - chunk, hop)) + [length - chunk]
    ramp = 0.5 - 0.5 * torch.cos(torch.pi * (torch.arange(overlap) + 0.5) / max(overlap, 1))
    pieces = []
    for i, start in enumerate(starts):
        window = torch.ones(chunk)
        if overlap and i > 0:
            window[:overlap] = ramp
        if overlap and i < len(starts) - 1:
            window[-overlap:] = ramp.flip(0)
        pieces.append((start, window))
    return pieces


class LASSModel(nn.Module):
    """Query encoder + separator.

    Args:
        separator: the :class:`SeparationNet`; its ``condition_dim`` must equal the encoder's
            ``dim``.
        encoder: a :class:`lassnet.query.QueryEncoder`, or ``None`` to build it lazily from
            ``query_name`` / ``query_options`` the first time a query is embedded.
        query_name, query_options: how to rebuild the encoder (``lassnet.query.build``).
    """

    def __init__(
        self,
        separator: SeparationNet,
        encoder: QueryEncoder | None = None,
        query_name: str = "minilm",
        query_options: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.separator = separator
        self.query_name = query_name
        self.query_options = dict(query_options or {})
        self._encoder = encoder
        if encoder is not None and encoder.dim != separator.config.condition_dim:
            raise ValueError(
                f"query encoder width {encoder.dim} does not match the separator's "
                f"condition_dim {separator.config.condition_dim}"
            )

    @property
    def sample_rate(self) -> int:
        return self.separator.config.sample_rate

    @property
    def encoder(self) -> QueryEncoder:
        """The frozen query encoder (built on first use)."""
        if self._encoder is None:
            from . import query

            self._encoder = query.build(self.query_name, **self.query_options)
            if self._encoder.dim != self.separator.config.condition_dim:
                raise CheckpointError(
                    f"query encoder {self.query_name!r} gives {self._encoder.dim}-d embeddings "
                    f"but the separator expects {self.separator.config.condition_dim}"
                )
        return self._encoder

    # ------------------------------------------------------------------ queries
    def embed(self, query: QueryLike, sample_rate: int | None = None) -> torch.Tensor:
        """Embed a query: a string, a list of strings, or an audio clip (with ``sample_rate``).

        Returns ``(B, D)`` on the separator's device.
        """
        device = next(self.separator.parameters()).device
        if isinstance(query, str):
            query = [query]
        if isinstance(query, (list, tuple)):
            if not query or any(not isinstance(q, str) or not q.strip() for q in query):
                raise ValueError("query must be a non-empty text (or a list of them)")
            emb = self.encoder.embed_text(list(query))
        elif isinstance(query, (np.ndarray, torch.Tensor)):
            if sample_rate is None:
                raise ValueError("an audio query needs its sample rate (query_sample_rate=...)")
            emb = self.encoder.embed_audio(query, sample_rate)
        else:
            raise ValueError(f"query must be text or an audio array, got {type(query).__name__}")
        return emb.to(device)

    def forward(self, mixture: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """``separator(mixture (B, 1, L), condition (B, D))`` — the training path."""
        return self.separator(mixture, condition)

    # ------------------------------------------------------------------ separation
    @torch.no_grad()
    def separate(
        self,
        wave: WaveLike,
        sample_rate: int,
        query: QueryLike,
        query_sample_rate: int | None = None,
        chunk_seconds: float = 10.0,
        overlap_seconds: float = 1.0,
        batch_size: int = 4,
        precision: str = "auto",
    ) -> WaveLike:
        """Extract the sound described by ``query`` from ``wave``.

        Args:
            wave: numpy array or tensor, ``(L,)`` mono or ``(C, L)`` channels-first. Each
                channel of a multichannel input is separated with the same query, so a
                stereo input gives a stereo output.
            sample_rate: the rate of ``wave``; resampled to the model's rate and back.
            query: text (``"a siren wailing"``) or an audio clip of the wanted sound (then
                give ``query_sample_rate``).
            chunk_seconds, overlap_seconds: long inputs are separated in chunks of this length
                that overlap and cross-fade, so memory stays bounded whatever the length.
            batch_size: chunks separated at once.
            precision: ``"auto"`` (the faster of the two on this machine, measured once per
                process: :func:`lassnet.inference.choose_precision`), ``"float32"`` or
                ``"bfloat16"`` (the U-Net's convolutions; STFT and masks stay float32).

        Returns the separated sound with the input's type, shape and sample rate.
        """
        from .audio import resample

        x = as_waveform(wave, "wave", layouts=("L", "CL"))
        squeeze = x.dim() == 1
        if squeeze:
            x = x[None]  # (C, L)
        if x.shape[0] > x.shape[1]:
            raise ValueError(
                f"wave has shape {tuple(x.shape)}: more channels than samples; pass "
                "(channels, samples), e.g. wave.T for a (samples, channels) array"
            )
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        length = x.shape[-1]
        condition = self.embed(query, query_sample_rate)  # (1, D)
        device = next(self.separator.parameters()).device
        sr = self.sample_rate
        y = resample(x, int(sample_rate), sr) if sample_rate != sr else x  # (C, L')
        out = self._separate_chunks(
            y.to(device), condition, int(chunk_seconds * sr), int(overlap_seconds * sr),
            batch_size, precision,
        )
        out = out.cpu()
        if sample_rate != sr:
            out = resample(out, sr, int(sample_rate))
        out = _fit_length(out, length)  # (C, L)
        if squeeze:
            out = out[0]
        return out.numpy() if isinstance(wave, np.ndarray) else out.to(wave.dtype)

    def _separate_chunks(self, y, condition, chunk, overlap, batch_size, precision):
        channels, length = y.shape
        hop = self.separator.stft.hop_length
        # Whole hops everywhere: the padded signal and every chunk (see SeparationNet.forward).
        padded = max(length, self.separator.stft.min_length)
        padded += -padded % hop
        y = torch.nn.functional.pad(y, (0, padded - length))
        chunk = min(max(hop, chunk - chunk % hop), padded)
        overlap = min(overlap, chunk // 2)
        chunks = overlap_add_windows(padded, chunk, overlap)
        out = torch.zeros(channels, padded, device=y.device)
        weight = torch.zeros(padded, device=y.device)
        jobs = [(c, s, w.to(y.device)) for s, w in chunks for c in range(channels)]
        precision = inference.resolve_precision(precision, self.separator, y.device)
        fast = self.separator.fused(channels_last=y.device.type == "cpu")  # a copy, once
        for i in range(0, len(jobs), batch_size):
            batch = jobs[i : i + batch_size]
            pieces = torch.stack([y[c, s : s + chunk] for c, s, _ in batch])[:, None]  # (b,1,N)
            sep = inference.run(fast, pieces, condition, precision)[:, 0]  # (b, N)
            for (c, s, w), piece in zip(batch, sep, strict=True):
                out[c, s : s + chunk] += piece * w
        for s, w in chunks:
            weight[s : s + chunk] += w.to(y.device)
        return out[:, :length] / weight[:length]

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike, **extra) -> None:
        """Write separator config + weights and the query encoder's recipe (atomic, stamped
        and checksummed; see :mod:`lassnet.checkpoint`)."""
        payload = {
            "config": self.separator.config.to_dict(),
            "state_dict": self.separator.state_dict(),
            "query": {"name": self.query_name, "options": self.query_options},
            **extra,
        }
        checkpoint.save(payload, path, kind="model")

    @classmethod
    def load(cls, path: str | os.PathLike, encoder=None, map_location="cpu") -> LASSModel:
        """Load a model saved by :meth:`save`, a training run's ``model.pt`` or its
        ``checkpoint.pt``.

        The query encoder is rebuilt from the recorded recipe unless ``encoder`` is given.
        Raises :class:`~lassnet.checkpoint.CheckpointError` for any other file.
        """
        payload = checkpoint.load(path, ("model", "train"), map_location)
        query = payload.get("query")
        if (not isinstance(query, dict) or not isinstance(query.get("name"), str)
                or not isinstance(query.get("options") or {}, dict)):
            raise CheckpointError(f"{path}: the query encoder's recipe is missing or malformed")
        try:
            config = SeparatorConfig.from_dict(payload["config"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: bad separator config ({err})") from None
        separator = SeparationNet(config)
        checkpoint.load_state(separator, payload.get("state_dict"), str(path))
        separator.eval()
        return cls(separator, encoder, query["name"], query.get("options"))


def _fit_length(x: torch.Tensor, length: int) -> torch.Tensor:
    if x.shape[-1] >= length:
        return x[..., :length]
    return torch.nn.functional.pad(x, (0, length - x.shape[-1]))
