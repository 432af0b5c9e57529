"""Input checks shared by the whole library.

Every public entry point validates its input here first, so that a user sees one clear
``ValueError`` ("mixture must be mono, got 2 channels") instead of a cryptic error from deep
inside torch. Shape letters used across lassnet:

* ``B``: batch, ``C``: audio channels, ``L``: samples,
* ``T``: STFT frames, ``F``: frequency bins, ``D``: embedding width, ``K``: maps per bin.
"""

from __future__ import annotations

import math

import torch

__all__ = ["check_waveform", "check_sample_rate", "check_embedding", "check_finite"]


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or Inf."""
    if not torch.isfinite(x).all():
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise ValueError(f"{name} contains non-finite values ({n_nan} NaN, {n_inf} Inf)")


def check_waveform(
    wave: torch.Tensor,
    name: str = "waveform",
    *,
    min_length: int = 1,
    mono: bool = True,
) -> torch.Tensor:
    """Check a batched waveform of shape ``(B, 1, L)`` (or ``(B, C, L)`` when ``mono=False``).

    Returns the tensor unchanged. Raises ``ValueError`` naming ``name`` for: a non-tensor,
    wrong rank, more than one channel where mono is needed, a non-floating dtype, fewer than
    ``min_length`` samples, or NaN/Inf values.
    """
    if not isinstance(wave, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(wave).__name__}")
    if wave.dim() != 3:
        hint = ""
        if wave.dim() == 1:
            hint = " (use wave[None, None] for a single mono clip)"
        elif wave.dim() == 2:
            hint = " (use wave[:, None] for a batch of mono clips)"
        raise ValueError(
            f"{name} must have shape (batch, channels, samples), got {tuple(wave.shape)}{hint}"
        )
    if mono and wave.shape[1] != 1:
        raise ValueError(
            f"{name} must be mono (1 channel), got {wave.shape[1]} channels; "
            "mix down first, e.g. wave.mean(dim=1, keepdim=True)"
        )
    if not wave.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {wave.dtype}")
    if wave.shape[-1] < min_length:
        raise ValueError(
            f"{name} is too short: {wave.shape[-1]} samples, need at least {min_length}"
        )
    check_finite(wave, name)
    return wave


def check_sample_rate(sample_rate, expected: int, what: str = "the model") -> None:
    """Raise ``ValueError`` unless ``sample_rate`` equals ``expected``."""
    if sample_rate is None:
        return
    if not isinstance(sample_rate, (int, float)) or not math.isfinite(sample_rate):
        raise ValueError(f"sample_rate must be a number, got {sample_rate!r}")
    if int(sample_rate) != int(expected):
        raise ValueError(
            f"sample rate {int(sample_rate)} Hz does not match {what} ({int(expected)} Hz); "
            "resample first (lassnet.audio.resample) or use LASSModel.separate, which does"
        )


def check_embedding(emb: torch.Tensor, dim: int, batch: int | None = None) -> torch.Tensor:
    """Check a query embedding of shape ``(B, D)`` with ``D == dim``."""
    if not isinstance(emb, torch.Tensor):
        raise ValueError(f"condition embedding must be a torch.Tensor, got {type(emb).__name__}")
    if emb.dim() == 1:
        raise ValueError(
            f"condition embedding must have shape (batch, {dim}), got {tuple(emb.shape)}; "
            "use emb[None] for a single query"
        )
    if emb.dim() != 2 or emb.shape[1] != dim:
        raise ValueError(
            f"condition embedding must have shape (batch, {dim}), got {tuple(emb.shape)}; "
            f"the separator was built with condition_dim={dim}"
        )
    if batch is not None and emb.shape[0] not in (1, batch):
        raise ValueError(
            f"condition embedding batch {emb.shape[0]} does not match mixture batch {batch}"
        )
    check_finite(emb, "condition embedding")
    return emb
