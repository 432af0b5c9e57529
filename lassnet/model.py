"""``LASSModel``: a query encoder joined to a separator (chapters 0, 7 and 8).

The query encoder (:mod:`lassnet.query`) is frozen and is *not* part of the model's weights:
a checkpoint records its name and options and it is rebuilt on load. The separator
(:class:`~lassnet.separator.SeparationNet`) is what training changes.

:meth:`LASSModel.separate` is the user-facing entry point: any array or tensor, any sample
rate, mono or multichannel, any length, a text or audio query. :meth:`LASSModel.inspect`
separates one short mono clip in one piece and keeps what the separator predicted on the
way: its magnitude and phase masks (a :class:`Separation`, drawn by
:func:`lassnet.plot.plot_separation`; the introduction's demo).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from . import checkpoint, inference
from .checkpoint import CheckpointError
from .checks import WaveLike, as_waveform
from .masks import ideal_ratio_mask
from .metrics import si_sdr
from .separator import SeparationNet, SeparatorConfig
from .stft import STFT

if TYPE_CHECKING:  # the query package is imported lazily (building an encoder is slow)
    from .query.base import QueryEncoder

__all__ = ["LASSModel", "Separation", "QueryLike", "overlap_add_windows", "whole_hop_length"]

#: A query: a caption, several captions (one embedding each), or an audio clip of the wanted
#: sound (``(L,)`` samples, tensor or array, with its sample rate given separately).
QueryLike = str | Sequence[str] | WaveLike


def whole_hop_length(length: int, stft: STFT) -> int:
    """The length, in samples, to zero-pad a clip of ``length`` samples to before separating
    it: at least the STFT's shortest input, rounded up to a whole number of hops.

    On whole hops every sample lies under as many overlapping windows as in the middle of the
    signal, so the inverse STFT does not amplify masking errors at the end (see
    :meth:`SeparationNet.forward <lassnet.separator.SeparationNet.forward>`). Used by
    :meth:`LASSModel.separate` and :meth:`LASSModel.inspect`.
    """
    padded = max(int(length), stft.min_length)
    return padded + (-padded % stft.hop_length)


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


@dataclass
class Separation:
    """One separation and everything needed to look at it (:meth:`LASSModel.inspect`).

    Waves are ``(L,)`` at ``sample_rate``; masks are ``(T, F)`` on the separator's STFT grid
    (frame ``t`` centred at ``t·hop_length`` samples, bin ``f`` at ``freqs[f]`` Hz); all on
    the CPU. ``reference`` is the true sound, when known; ``oracle_mask`` is then the ideal
    ratio mask of the reference in the mixture (chapter 5), the mask a perfect magnitude-only
    separator would predict. Drawn by :func:`lassnet.plot.plot_separation`; taught in the
    introduction (the demo) and chapter 5 (Masks).
    """

    query: str
    sample_rate: int
    mixture: torch.Tensor
    estimate: torch.Tensor
    mag_mask: torch.Tensor
    phase_cos: torch.Tensor
    phase_sin: torch.Tensor
    hop_length: int
    freqs: np.ndarray
    reference: torch.Tensor | None = None
    reference_label: str | None = None
    oracle_mask: torch.Tensor | None = None
    mixture_label: str = "mixture"

    @property
    def phase_angle(self) -> torch.Tensor:
        """``∠P`` in radians, ``(T, F)``: how far the phase mask turns each bin's phase."""
        return torch.atan2(self.phase_sin, self.phase_cos)

    @property
    def scores(self) -> dict[str, float] | None:
        """SI-SDR (dB) of the mixture and of the estimate against the reference, and the
        improvement ``si_sdri``; ``None`` without a reference."""
        if self.reference is None:
            return None
        mix = float(si_sdr(self.mixture, self.reference))
        est = float(si_sdr(self.estimate, self.reference))
        return {"mixture": mix, "estimate": est, "si_sdri": est - mix}


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
        padded = whole_hop_length(length, self.separator.stft)
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

    # ------------------------------------------------------------------ looking inside
    @torch.no_grad()
    def inspect(
        self,
        mixture,
        query: str,
        *,
        reference=None,
        reference_label: str | None = None,
        mixture_label: str = "mixture",
    ) -> Separation:
        """Separate ``mixture`` by a text ``query`` and keep the separator's masks.

        ``mixture``: a mono clip at the model's sample rate, ``(L,)``, ``(1, L)`` or
        ``(1, 1, L)``, tensor or array. It is padded to whole hops (:func:`whole_hop_length`,
        as :meth:`separate` does) and separated in one piece on the separator's device, so
        keep it short (seconds). ``reference``, the true sound (same shape) if known, adds
        the scores and the oracle ideal ratio mask; ``reference_label`` and ``mixture_label``
        name the sounds in figures. Everything returned is on the CPU. The separator's
        train/eval mode is restored afterwards.

        Raises ``ValueError`` for an empty query, a clip that is not mono or not finite, or a
        reference whose shape differs from the mixture's. Taught in the introduction (the
        demo; :func:`lassnet.plot.plot_separation` draws the result).
        """
        wave = _mono(mixture, "mixture")  # (L,) on the CPU
        if not isinstance(query, str) or not query.strip():
            raise ValueError("type a query: a short description of the sound to extract")
        ref = None if reference is None else _mono(reference, "reference")
        if ref is not None and ref.shape != wave.shape:
            raise ValueError(
                f"reference {tuple(ref.shape)} and mixture {tuple(wave.shape)} differ in "
                "shape; pass the true sound of the same clip"
            )
        separator, stft = self.separator, self.separator.stft
        device = next(separator.parameters()).device
        length = wave.shape[-1]
        pad = (0, whole_hop_length(length, stft) - length)
        x = torch.nn.functional.pad(wave, pad)[None, None].to(device)  # (1, 1, L')
        condition = self.embed(query.strip())  # (1, D) on the device
        was_training = separator.training
        separator.eval()
        try:
            out = separator(x, condition, return_masks=True)  # each (1, 1, T, F) / (1, 1, L')
        finally:
            separator.train(was_training)
        oracle = None
        if ref is not None:
            s = stft(torch.nn.functional.pad(ref, pad)[None, None].to(device))  # (1, 1, T, F)
            oracle = ideal_ratio_mask(s, stft(x))[0, 0].cpu()  # (T, F)
        sr = separator.config.sample_rate
        return Separation(
            query=query.strip(),
            sample_rate=sr,
            mixture=wave,
            estimate=out["waveform"][0, 0, :length].cpu(),
            mag_mask=out["mag_mask"][0, 0].cpu(),
            phase_cos=out["phase_cos"][0, 0].cpu(),
            phase_sin=out["phase_sin"][0, 0].cpu(),
            hop_length=stft.hop_length,
            freqs=stft.frequencies(sr).cpu().numpy(),
            reference=ref,
            reference_label=reference_label,
            oracle_mask=oracle,
            mixture_label=mixture_label,
        )


def _fit_length(x: torch.Tensor, length: int) -> torch.Tensor:
    if x.shape[-1] >= length:
        return x[..., :length]
    return torch.nn.functional.pad(x, (0, length - x.shape[-1]))


def _mono(wave, name: str) -> torch.Tensor:
    """``(L,)``, ``(1, L)`` or ``(1, 1, L)`` (tensor or array) → float32 ``(L,)`` on the CPU,
    by :func:`lassnet.checks.as_waveform`'s contract; a clip of several channels is refused."""
    wave = as_waveform(wave, name, layouts=("L", "CL", "BCL")).cpu()
    while wave.dim() > 1 and wave.shape[0] == 1:
        wave = wave[0]
    if wave.dim() != 1:
        raise ValueError(
            f"{name} must be a mono clip (L,) or (1, L), got {tuple(wave.shape)}; "
            "mix the channels down first, e.g. wave.mean(0)"
        )
    return wave
