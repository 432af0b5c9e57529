"""Masks on spectrograms (taught in chapter 5, "Masks").

The separator predicts ``K = 3`` maps ``(a, b, c)`` per time-frequency bin and applies them to
the mixture's spectrogram ``X`` as AudioSep does:

* magnitude mask ``M = sigmoid(a)`` in ``[0, 1]``;
* phase mask ``P = (tanh b + j·tanh c) / |tanh b + j·tanh c|``, a unit complex number that
  rotates the mixture's phase by ``∠P``;
* ``Ŷ = relu(|X|·M) · e^{j(∠X + ∠P)}``. (The ``relu`` changes nothing here: ``|X| ≥ 0`` and
  ``M > 0``. It is kept from Kong et al.'s ResUNet, where a second, linear magnitude term let
  the mask exceed 1; AudioSep's code leaves that term commented out, so its mask is bounded by
  1 and cannot make a bin louder than the mixture's.)

Rotating by ``∠P`` is written with the angle-sum identities, so no angle is ever computed::

    cos(∠X + ∠P) = cos∠X·cos∠P − sin∠X·sin∠P
    sin(∠X + ∠P) = sin∠X·cos∠P + cos∠X·sin∠P

The oracle masks (:func:`ideal_binary_mask`, :func:`ideal_ratio_mask`,
:func:`ideal_amplitude_mask`, :func:`phase_sensitive_mask`, and the rotation
:func:`ideal_phase_rotation`) need the true target. They are *references*, not upper bounds:
each is optimal only by its own criterion, and a separator that also turns the phase can beat
the real-valued ones (chapter 5 compares them). Shapes: any ``(..., T, F)``.
"""

from __future__ import annotations

import torch

from .stft import MAG_EPS, magphase

__all__ = [
    "mask_maps",
    "apply_masks",
    "ideal_binary_mask",
    "ideal_ratio_mask",
    "ideal_amplitude_mask",
    "phase_sensitive_mask",
    "ideal_phase_rotation",
]


def mask_maps(logits: torch.Tensor):
    """Turn the network's ``(…, 3, T, F)`` output maps into masks.

    Returns ``(M, cos∠P, sin∠P)``, each ``(…, T, F)``: ``M = sigmoid(a)`` and the unit phase
    rotation from ``(tanh b, tanh c)``. Where ``tanh b = tanh c = 0`` the rotation is
    undefined and ``cos∠P = sin∠P = 0`` (that bin is silenced).
    """
    if logits.shape[-3] != 3:
        raise ValueError(f"expected 3 maps per bin on dim -3, got shape {tuple(logits.shape)}")
    a, b, c = logits.unbind(dim=-3)
    mag_mask = torch.sigmoid(a)
    real, imag = torch.tanh(b), torch.tanh(c)
    norm = torch.clamp((real * real + imag * imag).sqrt(), min=MAG_EPS)
    return mag_mask, real / norm, imag / norm


def apply_masks(
    mag: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    mag_mask: torch.Tensor,
    phase_cos: torch.Tensor,
    phase_sin: torch.Tensor,
):
    """Apply a magnitude mask ``M`` and a phase rotation ``P`` (given by ``cos∠P``,
    ``sin∠P``: ``phase_cos``, ``phase_sin``) to ``(|X|, cos∠X, sin∠X)``.

    Returns ``(|Ŷ|, cos∠Ŷ, sin∠Ŷ)`` with ``|Ŷ| = relu(|X|·M)`` and ``∠Ŷ = ∠X + ∠P``.
    An identity mask (``M = 1``, ``∠P = 0``) returns the input.
    """
    out_mag = torch.relu(mag * mag_mask)
    out_cos = cos * phase_cos - sin * phase_sin
    out_sin = sin * phase_cos + cos * phase_sin
    return out_mag, out_cos, out_sin


def _check_pair(target: torch.Tensor, mixture: torch.Tensor) -> None:
    if not (target.is_complex() and mixture.is_complex()):
        raise ValueError("oracle masks need complex spectrograms (use lassnet.stft.STFT)")
    if target.shape != mixture.shape:
        raise ValueError(
            f"target {tuple(target.shape)} and mixture {tuple(mixture.shape)} differ in shape"
        )


def ideal_binary_mask(target: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """IBM: 1 where the target dominates the rest (``|S| > |X − S|``), else 0."""
    _check_pair(target, mixture)
    return (target.abs() > (mixture - target).abs()).to(target.real.dtype)


def ideal_ratio_mask(
    target: torch.Tensor, mixture: torch.Tensor, power: float = 2.0, exponent: float = 0.5
) -> torch.Tensor:
    """IRM: ``(|S|^p / (|S|^p + |N|^p))^q`` with ``N = X − S`` (defaults ``p = 2``, ``q = ½``)."""
    _check_pair(target, mixture)
    s = target.abs() ** power
    n = (mixture - target).abs() ** power
    return (s / torch.clamp(s + n, min=MAG_EPS)) ** exponent


def ideal_amplitude_mask(target: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """IAM: ``|S| / |X|`` clipped to ``[0, 1]`` — the best magnitude mask a sigmoid can output."""
    _check_pair(target, mixture)
    mag_x, _, _ = magphase(mixture.real, mixture.imag)
    return torch.clamp(target.abs() / mag_x, 0.0, 1.0)


def phase_sensitive_mask(target: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
    """PSM: ``|S|/|X| · cos(∠S − ∠X)`` clipped to ``[0, 1]``."""
    _check_pair(target, mixture)
    mag_x, cos_x, sin_x = magphase(mixture.real, mixture.imag)
    mag_s, cos_s, sin_s = magphase(target.real, target.imag)
    cos_diff = cos_s * cos_x + sin_s * sin_x
    return torch.clamp(target.abs() / mag_x * cos_diff, 0.0, 1.0)


def ideal_phase_rotation(target: torch.Tensor, mixture: torch.Tensor):
    """The rotation that turns the mixture's phase into the target's, ``∠P = ∠S − ∠X``, as
    ``(cos∠P, sin∠P)`` (the phase of ``S·X̄``); ``(1, 0)`` where either is silent.

    With :func:`ideal_amplitude_mask` as ``M`` it is the best mask of AudioSep's form (a
    magnitude in ``[0, 1]`` times a rotation): :func:`apply_masks` then returns the target
    exactly wherever ``|S| ≤ |X|``.
    """
    _check_pair(target, mixture)
    product = target * mixture.conj()  # e^{j(∠S − ∠X)} · |S||X|
    mag, cos, sin = magphase(product.real, product.imag)
    silent = mag <= MAG_EPS**0.5
    return torch.where(silent, torch.ones_like(cos), cos), torch.where(silent,
                                                                        torch.zeros_like(sin),
                                                                        sin)
