"""Input checks shared by the whole library.

Every public entry point validates its input here first, so that a user sees one clear
``ValueError`` ("mixture must be mono, got 2 channels") instead of a cryptic error from deep
inside torch. Shape letters used across lassnet:

* ``B``: batch, ``C``: audio channels, ``L``: samples,
* ``T``: STFT frames, ``F``: frequency bins, ``D``: embedding width, ``K``: maps per bin.

**One coercion contract for waveforms.** Whatever a user hands in — a numpy array or a torch
tensor — becomes a waveform tensor in :func:`as_waveform`, and only there. Its rules hold at
every entry point:

* numpy arrays and torch tensors are accepted (nothing else), cut from autograd (except in
  training losses);
* samples must be floating point: integer PCM (``int16`` ...) is refused with the fix
  (divide by ``32768``, or read files with :func:`lassnet.audio.load_audio`), as are
  booleans and complex numbers; floats become ``float32`` unless an entry point keeps the
  caller's precision (metrics compute in ``float64``);
* there must be at least one sample, and no NaN or Inf;
* the rank must be one of the entry point's layouts, named in the error.

Each entry point states its layouts and what it does with channels:

=========================================  ==========================  =====================
entry point                                layouts                     channels
=========================================  ==========================  =====================
``LASSModel.separate``, ``save_audio``     ``(L,)``, ``(C, L)``        each kept
``LASSModel.inspect`` (the demo)           ``(L,)``, ``(1, L)``        mono only
``QueryEncoder.embed_audio``               ``(L,)``, ``(B, L)``,       mono only
                                           ``(B, 1, L)``
``spectrogram_db`` / ``plot_spectrogram``  ``(L,)``, ``(C, L)``,       averaged
                                           ``(1, C, L)``
metrics (``sdr``, ``si_sdr``, ...)         ``(..., L)``                each scored
``SeparationNet.forward``                  ``(B, 1, L)`` tensors only  mono only
=========================================  ==========================  =====================
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "WaveLike",
    "as_waveform",
    "check_waveform",
    "check_sample_rate",
    "check_embedding",
    "check_finite",
]

_AXES = {"B": "batch", "C": "channels", "L": "samples"}

#: What a user may hand in as a waveform (see :func:`as_waveform` for the rules).
WaveLike = torch.Tensor | np.ndarray


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or Inf."""
    if not torch.isfinite(x).all():
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise ValueError(f"{name} contains non-finite values ({n_nan} NaN, {n_inf} Inf)")


def _layout_name(layout: str) -> str:
    if layout == "...L":
        return "(..., samples)"
    names = [_AXES[ch] for ch in layout]
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def as_waveform(
    wave,
    name: str = "wave",
    *,
    layouts: tuple[str, ...] = ("L", "CL"),
    dtype: torch.dtype | None = torch.float32,
    min_length: int = 1,
    finite: bool = True,
    detach: bool = True,
) -> torch.Tensor:
    """Turn a user's waveform into a tensor, by the one contract of this module.

    Args:
        wave: a numpy array or torch tensor of floating-point samples.
        name: how error messages call it (``"mixture"``, ``"audio query"``).
        layouts: the accepted shapes, in shape letters: ``"L"`` ``(samples,)``, ``"CL"``
            ``(channels, samples)``, ``"BL"``, ``"BCL"``, or ``"...L"`` (any leading axes).
        dtype: the returned dtype; ``None`` keeps the input's floating dtype.
        min_length: fewest samples accepted on the last axis.
        finite: refuse NaN and Inf.
        detach: cut the tensor from autograd (training losses keep the graph: ``False``).

    Returns a tensor on the input's device (numpy arrays become CPU tensors, sharing memory
    when no conversion is needed). Raises ``ValueError`` naming
    ``name`` and the fix for anything else.
    """
    if isinstance(wave, np.ndarray):
        kind = wave.dtype.kind
        if kind in "iu":
            raise ValueError(
                f"{name} has integer samples ({wave.dtype}); convert them to floats in [-1, 1] "
                "first (divide int16 PCM by 32768; lassnet.audio.load_audio reads files as "
                "floats)"
            )
        if kind != "f":
            raise ValueError(f"{name} must hold floating-point samples, got dtype {wave.dtype}")
        wave = torch.from_numpy(np.ascontiguousarray(wave))
    elif isinstance(wave, torch.Tensor):
        if wave.is_complex() or not wave.is_floating_point():
            hint = (" (convert integer PCM to floats in [-1, 1] first)"
                    if not wave.is_complex() and wave.dtype != torch.bool else "")
            raise ValueError(
                f"{name} must hold floating-point samples, got {wave.dtype}{hint}"
            )
        if detach and wave.requires_grad:
            wave = wave.detach()
    else:
        raise ValueError(
            f"{name} must be a numpy array or a torch tensor, got {type(wave).__name__}"
        )
    if dtype is not None and wave.dtype != dtype:
        wave = wave.to(dtype)
    ranks = {len(layout): layout for layout in layouts if layout != "...L"}
    if not (("...L" in layouts and wave.dim() >= 1) or wave.dim() in ranks):
        allowed = " or ".join(_layout_name(layout) for layout in layouts)
        raise ValueError(f"{name} must have shape {allowed}, got {tuple(wave.shape)}")
    if wave.shape[-1] < max(1, min_length):
        if wave.shape[-1] == 0 or wave.numel() == 0:
            raise ValueError(f"{name} has no samples (shape {tuple(wave.shape)})")
        raise ValueError(
            f"{name} is too short: {wave.shape[-1]} samples, need at least {min_length}"
        )
    if wave.numel() == 0:
        raise ValueError(f"{name} has no samples (shape {tuple(wave.shape)})")
    if finite:
        check_finite(wave, name)
    return wave


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
