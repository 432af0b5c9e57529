"""Separation metrics and training losses: SDR, SI-SDR, their improvements, and two losses.

Taught in chapter 8 (Evaluation). All functions work on the last (time) axis and are batched
over any leading axes: inputs of shape ``(..., L)`` give one score per signal, shape ``(...)``;
e.g. ``(B, 1, L) -> (B, 1)``. Shape letters as in :mod:`lassnet.checks`.

Notation: ``s`` is the reference (the true target source), ``ŝ`` the estimate, ``x`` the
mixture, ``‖·‖²`` the energy (sum of squares over time) and ``⟨a, b⟩`` the dot product over
time.

*SDR* is AudioSep's definition, a plain signal-to-noise ratio of the estimate,

    SDR(ŝ, s) = 10·log10( max(mean(s²), ε) / max(mean((s − ŝ)²), ε) ),   ε = 1e-10,

not BSS-Eval's SDR (``museval``, ``fast_bss_eval``, torchmetrics'
``SignalDistortionRatio``), which first lets a 512-tap filter of ``s`` explain as much of
``ŝ`` as it can and so usually gives higher numbers. The two ``max(·, ε)`` floors are
AudioSep's: they act on the *mean* energy per sample, so a perfect estimate scores
``10·log10(mean(s²)) + 100`` dB (100 dB for a unit-power reference), and a silent reference
never gives NaN (see :func:`sdr`).

*SI-SDR* (scale-invariant SDR) first rescales the reference to the estimate's best fit, so that
turning the volume of the estimate up or down changes nothing; it matches torchmetrics'
``scale_invariant_signal_distortion_ratio`` and AudioSep's evaluation code (same ``ε``).

*SDRi* and *SI-SDRi* are the improvements over doing nothing: the score of the estimate minus
the score of the unprocessed mixture against the same reference.

Inputs may be torch tensors or numpy arrays; results come back as the same kind. Computation is
in float64; the result is float64 if an input is float64 and float32 otherwise (float16 and
bfloat16 scores are returned as float32, since dB values near 100 with 0.001 dB resolution do
not fit those types).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from .checks import as_waveform, check_finite

__all__ = [
    "SDR_EPS",
    "bss_eval",
    "sdr",
    "si_sdr",
    "sdri",
    "si_sdri",
    "neg_sdr_loss",
    "l1_wave_loss",
]

#: AudioSep's floor on the mean energies in :func:`sdr` (the ``ε`` in its formula).
SDR_EPS = 1e-10


# --------------------------------------------------------------------------- helpers
def _to_tensor(x, name: str) -> torch.Tensor:
    """``x`` as a tensor of its own floating dtype, by :func:`lassnet.checks.as_waveform`'s
    contract (numpy arrays are shared where possible; NaN/Inf are checked by the caller). The
    autograd graph is kept: every metric is differentiable."""
    return as_waveform(x, name, layouts=("...L",), dtype=None, finite=False, detach=False)


def _prepare(named: dict, *, check_values: bool = True):
    """Validate same-shape inputs; return (float64 tensors, result dtype, numpy-in flag).

    ``named`` maps each argument's name to its value, in signature order. Raises ``ValueError``
    for a wrong type, no time axis, an empty time axis, mismatched shapes, or (when
    ``check_values``) NaN/Inf values.
    """
    as_numpy = all(isinstance(v, np.ndarray) for v in named.values())
    tensors = {name: _to_tensor(v, name) for name, v in named.items()}
    (first_name, first), *rest = tensors.items()
    for name, t in rest:
        if t.shape != first.shape:
            raise ValueError(
                f"{name} shape {tuple(t.shape)} does not match {first_name} shape "
                f"{tuple(first.shape)}; both must be (..., samples) with the same shape"
            )
    if first.dim() == 0:
        raise ValueError(f"{first_name} must have a time axis, shape (..., samples); got a scalar")
    if first.shape[-1] == 0:
        raise ValueError(f"{first_name} has no samples, shape {tuple(first.shape)}")
    if check_values:
        for name, t in tensors.items():
            check_finite(t, name)
    float64 = any(t.dtype == torch.float64 for t in tensors.values())
    out_dtype = torch.float64 if float64 else torch.float32
    return [t.to(torch.float64) for t in tensors.values()], out_dtype, as_numpy


def _finish(result: torch.Tensor, out_dtype: torch.dtype, as_numpy: bool):
    """Cast ``result`` to ``out_dtype``; hand back a numpy value if the inputs were numpy."""
    result = result.to(out_dtype)
    if as_numpy:
        # ``[()]`` turns a 0-d array into a numpy scalar and leaves larger arrays as they are.
        return result.detach().cpu().numpy()[()]
    return result


def _sdr64(estimate: torch.Tensor, reference: torch.Tensor, eps: float) -> torch.Tensor:
    """AudioSep's SDR on float64 tensors of shape ``(..., L)``, result ``(...)``."""
    signal = reference.square().mean(dim=-1).clamp(min=eps)  # (...)
    noise = (reference - estimate).square().mean(dim=-1).clamp(min=eps)  # (...)
    return 10.0 * torch.log10(signal / noise)


def _si_sdr64(
    estimate: torch.Tensor, reference: torch.Tensor, zero_mean: bool, eps: float
) -> torch.Tensor:
    """SI-SDR on float64 tensors of shape ``(..., L)``, result ``(...)``."""
    if zero_mean:
        estimate = estimate - estimate.mean(dim=-1, keepdim=True)
        reference = reference - reference.mean(dim=-1, keepdim=True)
    # α: the gain that makes α·s the closest multiple of s to ŝ.
    alpha = ((estimate * reference).sum(dim=-1, keepdim=True) + eps) / (
        reference.square().sum(dim=-1, keepdim=True) + eps
    )  # (..., 1)
    target = alpha * reference  # (..., L): the part of ŝ explained by s
    residual = target - estimate  # (..., L): everything else
    return 10.0 * torch.log10(
        (target.square().sum(dim=-1) + eps) / (residual.square().sum(dim=-1) + eps)
    )


def _default_si_eps(*values) -> float:
    """Machine epsilon of the inputs' floating dtype (float32's for non-float inputs).

    With mixed float dtypes this is the smallest epsilon, i.e. that of the promoted dtype.
    """
    eps = [
        float(torch.finfo(v.dtype).eps)
        for v in values
        if isinstance(v, torch.Tensor) and v.is_floating_point()
    ]
    eps += [
        float(np.finfo(v.dtype).eps)
        for v in values
        if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)
    ]
    return min(eps) if eps else float(torch.finfo(torch.float32).eps)


# --------------------------------------------------------------------------- metrics
def sdr(estimate, reference, eps: float = SDR_EPS):
    """Signal-to-distortion ratio in dB, AudioSep's definition.

    Taught in chapter 8 (Evaluation).

        SDR(ŝ, s) = 10·log10( max(mean_t s², ε) / max(mean_t (s − ŝ)², ε) )

    This equals ``10·log10(‖s‖² / ‖s − ŝ‖²)`` whenever neither mean energy is below ``ε``.
    Adding noise of energy ``‖n‖²`` to the reference scores ``10·log10(‖s‖² / ‖n‖²)``;
    a perfect estimate scores ``10·log10(mean(s²) / ε)`` (100 dB for unit power); multiplying
    the estimate by a gain changes the score (SI-SDR is the metric that does not care).

    Silent reference (all zeros): the numerator is floored at ``ε``, so the score is
    ``10·log10(ε / mean(ŝ²))``, finite and very negative for any audible estimate (−100 dB for
    a unit-power one), and exactly 0 dB when the estimate is silent too. Never NaN.

    Args:
        estimate: ``ŝ``, shape ``(..., L)``, a torch tensor or numpy array.
        reference: ``s``, the same shape.
        eps: ``ε``, the floor on both mean energies (AudioSep: 1e-10).

    Returns:
        Shape ``(...)``: one score per signal, e.g. ``(B, 1, L) -> (B, 1)``. Float64 if an input
        is float64, else float32; a numpy value if both inputs are numpy arrays.

    Raises:
        ValueError: mismatched shapes (both named), no time axis, or NaN/Inf values.
    """
    (est, ref), out_dtype, as_numpy = _prepare({"estimate": estimate, "reference": reference})
    return _finish(_sdr64(est, ref, eps), out_dtype, as_numpy)


def si_sdr(estimate, reference, zero_mean: bool = False, eps: float | None = None):
    """Scale-invariant signal-to-distortion ratio in dB.

    Taught in chapter 8 (Evaluation).

        α = (⟨ŝ, s⟩ + ε) / (‖s‖² + ε)
        SI-SDR(ŝ, s) = 10·log10( (‖α·s‖² + ε) / (‖α·s − ŝ‖² + ε) )

    ``α·s`` is the multiple of the reference closest to the estimate, so scaling the estimate
    by any gain ``g ≠ 0`` leaves the score unchanged (``g < 0`` included). Matches torchmetrics'
    ``scale_invariant_signal_distortion_ratio`` (same ``ε``, same ``zero_mean`` default) and
    AudioSep's evaluation code.

    Silent reference: ``α = 1`` and the score is ``10·log10(ε / (‖ŝ‖² + ε))``, finite and very
    negative; 0 dB when the estimate is silent too. A perfect estimate scores
    ``10·log10((‖s‖² + ε) / ε)``, large and finite. Never NaN.

    Args:
        estimate: ``ŝ``, shape ``(..., L)``, a torch tensor or numpy array.
        reference: ``s``, the same shape.
        zero_mean: subtract each signal's mean over time first (Le Roux et al.'s original
            SI-SDR does; torchmetrics and AudioSep by default do not).
        eps: ``ε``; by default the machine epsilon of the inputs' dtype (1.19e-7 for float32,
            2.2e-16 for float64), as torchmetrics and AudioSep use.

    Returns:
        Shape ``(...)``, e.g. ``(B, 1, L) -> (B, 1)``; dtype and kind as for :func:`sdr`.

    Raises:
        ValueError: mismatched shapes (both named), no time axis, or NaN/Inf values.
    """
    if eps is None:
        eps = _default_si_eps(estimate, reference)
    (est, ref), out_dtype, as_numpy = _prepare({"estimate": estimate, "reference": reference})
    return _finish(_si_sdr64(est, ref, zero_mean, eps), out_dtype, as_numpy)


def sdri(estimate, reference, mixture, eps: float = SDR_EPS):
    """SDR improvement in dB: how much better the estimate is than the mixture itself.

    Taught in chapter 8 (Evaluation).

        SDRi(ŝ, s, x) = SDR(ŝ, s) − SDR(x, s)

    with :func:`sdr`. Returning the mixture unchanged scores exactly 0 dB.

    Args:
        estimate: ``ŝ``, shape ``(..., L)``.
        reference: ``s``, the same shape.
        mixture: ``x``, the separator's input, the same shape.
        eps: ``ε`` of :func:`sdr`.

    Returns:
        Shape ``(...)``; dtype and kind as for :func:`sdr`.

    Raises:
        ValueError: mismatched shapes (named), no time axis, or NaN/Inf values.
    """
    (est, ref, mix), out_dtype, as_numpy = _prepare(
        {"estimate": estimate, "reference": reference, "mixture": mixture}
    )
    return _finish(_sdr64(est, ref, eps) - _sdr64(mix, ref, eps), out_dtype, as_numpy)


def si_sdri(estimate, reference, mixture, zero_mean: bool = False, eps: float | None = None):
    """SI-SDR improvement in dB over the unprocessed mixture.

    Taught in chapter 8 (Evaluation).

        SI-SDRi(ŝ, s, x) = SI-SDR(ŝ, s) − SI-SDR(x, s)

    with :func:`si_sdr`. Returning the mixture, or any rescaled copy of it, scores 0 dB.

    Args:
        estimate: ``ŝ``, shape ``(..., L)``.
        reference: ``s``, the same shape.
        mixture: ``x``, the separator's input, the same shape.
        zero_mean, eps: as for :func:`si_sdr`.

    Returns:
        Shape ``(...)``; dtype and kind as for :func:`sdr`.

    Raises:
        ValueError: mismatched shapes (named), no time axis, or NaN/Inf values.
    """
    if eps is None:
        eps = _default_si_eps(estimate, reference, mixture)
    (est, ref, mix), out_dtype, as_numpy = _prepare(
        {"estimate": estimate, "reference": reference, "mixture": mixture}
    )
    gain = _si_sdr64(est, ref, zero_mean, eps) - _si_sdr64(mix, ref, zero_mean, eps)
    return _finish(gain, out_dtype, as_numpy)


# --------------------------------------------------------------------------- losses
def neg_sdr_loss(estimate: torch.Tensor, reference: torch.Tensor, eps: float = SDR_EPS):
    """Training loss: the negative :func:`sdr`, averaged over examples.

    Taught in chapter 8 (Evaluation); used by :mod:`lassnet.train` (``loss: neg_sdr``).

        loss = −(1/N) Σ_n SDR(ŝ_n, s_n)

    over the ``N`` signals of the batch (every leading index of ``(..., L)``). Each example's
    SDR is a ratio of its own energies, so a quiet, sparse target (a clock's ticks, a bird's
    chirp) weighs as much as a loud one; under :func:`l1_wave_loss` its few small samples barely
    register and the network learns to output near-silence for it.

    Differentiable. Unlike the metrics it does not check for NaN/Inf, so that mixed-precision
    training can skip an overflowed step instead of stopping; shapes are still checked.
    The gradient is zero for an example whose error energy is already below ``ε``.

    Args:
        estimate: ``ŝ``, shape ``(..., L)``, a torch tensor.
        reference: ``s``, the same shape.
        eps: ``ε`` of :func:`sdr`.

    Returns:
        A scalar tensor: float64 if an input is float64, else float32.
    """
    (est, ref), out_dtype, _ = _prepare(
        {"estimate": estimate, "reference": reference}, check_values=False
    )
    return (-_sdr64(est, ref, eps).mean()).to(out_dtype)


def l1_wave_loss(estimate: torch.Tensor, reference: torch.Tensor):
    """Training loss: mean absolute error between waveforms, AudioSep's default loss.

    Taught in chapter 8 (Evaluation); used by :mod:`lassnet.train` (``loss: l1``).

        loss = mean over all samples of |ŝ − s|

    Differentiable. Loud examples dominate it: see :func:`neg_sdr_loss`. No NaN/Inf check, for
    the same reason as there; shapes are checked.

    Args:
        estimate: ``ŝ``, shape ``(..., L)``, a torch tensor.
        reference: ``s``, the same shape.

    Returns:
        A scalar tensor: float64 if an input is float64, else float32.
    """
    est, ref = _to_tensor(estimate, "estimate"), _to_tensor(reference, "reference")
    if est.shape != ref.shape:
        raise ValueError(
            f"reference shape {tuple(ref.shape)} does not match estimate shape "
            f"{tuple(est.shape)}; both must be (..., samples) with the same shape"
        )
    if est.dim() == 0 or est.shape[-1] == 0:
        raise ValueError(f"estimate must have shape (..., samples), got {tuple(est.shape)}")
    out_dtype = torch.float64 if torch.float64 in (est.dtype, ref.dtype) else torch.float32
    return (est.to(out_dtype) - ref.to(out_dtype)).abs().mean()


# --------------------------------------------------------------------------- BSS Eval
def bss_eval(estimate, reference, mixture, filter_length: int = 512) -> dict[str, torch.Tensor]:
    """BSS Eval's SDR, SIR and SAR (dB) of an estimate of one source of a mixture.

    Taught in chapter 8 (Evaluation). The decomposition of Vincent et al. (2006), computed by
    the ``fast-bss-eval`` package: the estimate is projected onto the target's signal delayed
    by up to ``filter_length − 1`` samples (the part a time-invariant filter of the target
    explains), then onto the interference (here "everything else in the mixture", ``x − s``);
    what remains is artefact. ``SDR = target / (interference + artefacts)``,
    ``SIR = target / interference``, ``SAR = (target + interference) / artefacts``, all
    in dB. Because the filter may explain part of what plain SDR counts as error, BSS Eval's
    SDR reads higher than :func:`sdr` (AudioSep's).

    Args:
        estimate, reference, mixture: ``ŝ``, ``s`` and ``x``, shape ``(..., L)``, the same.
        filter_length: taps of the distortion filter (512, BSS Eval's default).

    Returns ``{"sdr", "sir", "sar"}``, each ``(...)`` float64 tensors.
    """
    import fast_bss_eval

    (est, ref, mix), _, _ = _prepare({"estimate": estimate, "reference": reference,
                                      "mixture": mixture})
    refs = torch.stack([ref, mix - ref], dim=-2)  # (..., 2, L): the target and the rest
    ests = torch.stack([est, mix - est], dim=-2)  # the estimate and what it left out
    with _unbatched_solve():
        sdr_, sir_, sar_ = fast_bss_eval.bss_eval_sources(
            refs, ests, filter_length=filter_length, compute_permutation=False
        )[:3]
    return {"sdr": sdr_[..., 0], "sir": sir_[..., 0], "sar": sar_[..., 0]}


def _solve_each(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.linalg.solve`` one matrix at a time over the leading dimensions."""
    if b.dim() == a.dim() - 1:  # a batch of vectors, as torch.linalg.solve reads it
        return _solve_each(a, b[..., None])[..., 0]
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = a.expand(*batch, *a.shape[-2:]).reshape(-1, *a.shape[-2:])
    b = b.expand(*batch, *b.shape[-2:]).reshape(-1, *b.shape[-2:])
    x = torch.stack([torch.linalg.solve(ai, bi) for ai, bi in zip(a, b, strict=True)])
    return x.reshape(*batch, *x.shape[-2:])


@contextlib.contextmanager
def _unbatched_solve():
    """Make ``fast-bss-eval`` solve its systems one at a time for the duration of the block.

    torch's batched ``linalg.solve`` on the CPU (torch 2.14, MKL) returns invalid pivots
    ("Pivots given to lu_solve must all be greater or equal to 1") in any process that has
    called ``torch.set_num_threads`` — the MiniLM encoder and the trainer do — while the
    same systems solved one by one are right. The result is the same either way.
    """
    import fast_bss_eval.torch.metrics as backend

    before = backend.solve
    backend.solve = _solve_each
    try:
        yield
    finally:
        backend.solve = before
