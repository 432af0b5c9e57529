"""Fast inference as an explicit step: fused copies of a separator, and the precision choice.

The network of chapters 2-5 has one forward path, the same in training and evaluation. For
inference, :func:`fuse` (``SeparationNet.fused()``) returns a *new* module that computes the
same function with fewer passes over the data; the network it is given is not changed (not
its weights, not its mode, not its memory format):

* every FiLM-conditioned batch norm becomes a :class:`FusedNorm`: in eval mode a batch norm is
  a per-channel affine map ``x·s + t`` (``s = w / sqrt(var + ε)``, ``t = b − mean·s``), so
  ``BN(x)·(1 + γ) + β = x·s(1 + γ) + (t(1 + γ) + β)``: one multiply-add over the data, or
  PyTorch's native batch norm with ``β`` folded into its shift when there is no ``γ``;
* in every residual block, ``bn2`` follows ``conv1`` with nothing in between, so it folds into
  the convolution (:class:`FusedResidualBlock`): ``bn2(conv1(h))·(1 + γ) + β`` is one
  convolution with weights ``W·s(1 + γ)`` and bias ``t(1 + γ) + β`` when every mixture of the
  batch has the same query (what :meth:`LASSModel.separate <lassnet.model.LASSModel.separate>`
  does), and one convolution plus one multiply-add otherwise;
* optionally, channels-last (NHWC) weights and activations, which oneDNN convolves faster on
  CPUs.

:func:`choose_precision` answers ``precision="auto"``: bfloat16 where it is faster on this
machine, float32 where it is not. On CPUs the answer depends on the processor (bfloat16 was 2×
faster than float32 on one AMD EPYC, and 1.5-2.8× *slower* on an Intel Xeon with the AVX512-BF16
flag but no AMX), so it is measured once per process and network shape; on CUDA it follows the
card's compute capability: bfloat16 from 8.0 (Ampere) where the tensor cores run it natively,
float16 below (a T4, 7.5, has float16 tensor cores and no bfloat16 ones).
:func:`training_precision` makes the same choice for training, where float16 comes with loss
scaling (``torch.amp.GradScaler``).

Taught in chapter 7 (Training: "fast inference"); used by :class:`lassnet.model.LASSModel`.
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import FiLMBatchNorm2d, FiLMParams, ResidualBlock

__all__ = [
    "FusedNorm",
    "FusedResidualBlock",
    "fuse",
    "is_fused",
    "run",
    "PRECISIONS",
    "choose_precision",
    "resolve_precision",
    "training_precision",
    "native_bfloat16",
    "check_precision",
]

#: What ``precision=`` accepts for inference (``float16`` on CUDA only).
PRECISIONS = ("auto", "float32", "bfloat16", "float16")

#: Compute capability from which NVIDIA cards run bfloat16 natively (Ampere, 8.0).
BFLOAT16_CAPABILITY = (8, 0)


def _affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """An eval-mode batch norm as ``x·scale + shift``: ``(C,)`` tensors ``(scale, shift)``."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _inference_only(module: nn.Module) -> None:
    if module.training:
        raise RuntimeError(
            f"{type(module).__name__} is part of a fused copy, which is for inference only "
            "(its batch norms are frozen into weights); train the original network instead"
        )


class FusedNorm(nn.Module):
    """A FiLM-conditioned batch norm frozen for inference: ``x·s(1 + γ) + t(1 + γ) + β``.

    Built from a :class:`~lassnet.blocks.FiLMBatchNorm2d` (its running statistics, affine
    parameters and ``film_key`` are copied). Same call as the original:
    ``forward(x (B, C, T, F), film) → (B, C, T, F)``.
    """

    def __init__(self, bn: FiLMBatchNorm2d):
        super().__init__()
        self.film_key = bn.film_key
        self.eps = bn.eps
        for name in ("running_mean", "running_var", "weight", "bias"):
            self.register_buffer(name, getattr(bn, name).detach().clone())
        scale, shift = _affine(bn)
        self.register_buffer("scale", scale.detach().reshape(1, -1, 1, 1).clone())
        self.register_buffer("shift", shift.detach().reshape(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor, film: FiLMParams | None = None) -> torch.Tensor:
        _inference_only(self)
        beta, gamma = (None, None) if film is None else film[self.film_key]
        if gamma is None and (beta is None or beta.shape[0] == 1):
            # One query (or none): β joins the shift of PyTorch's own batch-norm kernel.
            bias = self.bias if beta is None else self.bias + beta.reshape(-1)
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, bias,
                                False, 0.0, self.eps)
        scale, shift = self.scale, self.shift  # (1, C, 1, 1)
        if gamma is not None:
            scale, shift = scale * (1.0 + gamma), shift * (1.0 + gamma)  # (B|1, C, 1, 1)
        if beta is not None:
            shift = shift + beta
        return torch.addcmul(shift.to(x.dtype), x, scale.to(x.dtype))


class FusedResidualBlock(nn.Module):
    """A :class:`~lassnet.blocks.ResidualBlock` frozen for inference, ``bn2`` folded into
    ``conv1``: ``bn2(conv1(h))·(1 + γ) + β = conv(h; W·s(1 + γ), t(1 + γ) + β)``.

    Same call as the original: ``forward(x (B, C_in, T, F), film) → (B, C_out, T, F)``.
    """

    def __init__(self, block: ResidualBlock):
        super().__init__()
        self.negative_slope = block.negative_slope
        self.bn1 = FusedNorm(block.bn1)
        scale, shift = _affine(block.bn2)  # (C_out,)
        weight = block.conv1.weight.detach() * scale.detach().reshape(-1, 1, 1, 1)
        self.register_buffer("weight1", weight.clone())  # (C_out, C_in, k, k)
        self.register_buffer("bias1", shift.detach().clone())  # (C_out,)
        self.padding = block.conv1.padding
        self.key2 = block.bn2.film_key
        self.conv2 = copy.deepcopy(block.conv2)
        self.shortcut = copy.deepcopy(block.shortcut)

    def forward(self, x: torch.Tensor, film: FiLMParams | None = None) -> torch.Tensor:
        _inference_only(self)
        h = F.leaky_relu(self.bn1(x, film), self.negative_slope, inplace=True)
        weight, bias = self.weight1, self.bias1
        beta, gamma = (None, None) if film is None else film[self.key2]
        if all(p is None or p.shape[0] == 1 for p in (beta, gamma)):
            # One query for the whole batch: FiLM folds into the convolution's weights.
            if gamma is not None:
                weight = weight * (1.0 + gamma.reshape(-1, 1, 1, 1))
                bias = bias * (1.0 + gamma.reshape(-1))
            if beta is not None:
                bias = bias + beta.reshape(-1)
            h = F.conv2d(h, weight.to(h.dtype), bias.to(h.dtype), padding=self.padding)
        else:  # a query per example: the convolution, then one multiply-add
            h = F.conv2d(h, weight.to(h.dtype), bias.to(h.dtype), padding=self.padding)
            if gamma is not None:
                h = h * (1.0 + gamma).to(h.dtype)
            if beta is not None:
                h = h + beta.to(h.dtype)
        h = self.conv2(F.leaky_relu(h, self.negative_slope, inplace=True))
        return h.add_(self.shortcut(x))  # (B, C_out, T, F)


class _ChannelsLast(nn.Module):
    """Runs a module and hands its output on in channels-last (NHWC) memory format."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x).contiguous(memory_format=torch.channels_last)


def _replace(module: nn.Module) -> None:
    """Swap, in place, every residual block and every FiLM batch norm outside one for its fused
    counterpart (children first found by the parent, so blocks are swapped whole)."""
    for name, child in module.named_children():
        if isinstance(child, ResidualBlock):
            setattr(module, name, FusedResidualBlock(child))
        elif isinstance(child, FiLMBatchNorm2d):
            setattr(module, name, FusedNorm(child))
        else:
            _replace(child)


def fuse(net: nn.Module, channels_last: bool = False) -> nn.Module:
    """A fused copy of ``net`` for inference (see the module's docstring); ``net`` is unchanged.

    Args:
        net: a :class:`~lassnet.separator.SeparationNet` (or any module built from
            :mod:`lassnet.blocks`).
        channels_last: store the copy's weights, and the U-Net's activations, in channels-last
            (NHWC) memory format.

    Returns the copy, in eval mode, with no trainable parameters left in its fused parts
    (putting it in training mode and calling it raises ``RuntimeError``). It computes the same
    function as ``net.eval()`` up to float rounding (``tests/test_inference.py`` checks 1e-5).
    """
    fused = copy.deepcopy(net).eval()
    fused.requires_grad_(False)
    _replace(fused)
    if channels_last:
        if hasattr(fused, "pre_conv"):  # the U-Net's first layer: activations go NHWC there
            fused.pre_conv = _ChannelsLast(fused.pre_conv)
        fused = fused.to(memory_format=torch.channels_last)
    fused._lassnet_fused = True
    return fused


def is_fused(net: nn.Module) -> bool:
    """Whether ``net`` is a copy made by :func:`fuse`."""
    return bool(getattr(net, "_lassnet_fused", False))


def run(net: nn.Module, mixture: torch.Tensor, condition: torch.Tensor,
        precision: str = "float32") -> torch.Tensor:
    """``net(mixture, condition)`` without autograd, in eval mode, its convolutions in
    ``precision`` (``"float32"``, or ``"bfloat16"`` / ``"float16"`` (CUDA): autocast; the
    STFT, masks and iSTFT stay float32). ``net``'s train/eval mode is restored afterwards."""
    if precision not in ("float32", "bfloat16", "float16"):
        raise ValueError(
            f"precision must be 'float32', 'bfloat16' or 'float16' here, got {precision!r}"
        )
    was_training = net.training
    net.eval()
    try:
        dtypes = {"bfloat16": torch.bfloat16, "float16": torch.float16}
        ctx = (torch.autocast(mixture.device.type, dtype=dtypes[precision])
               if precision in dtypes else contextlib.nullcontext())
        with torch.inference_mode(), ctx:
            return net(mixture, condition)
    finally:
        net.train(was_training)


# --------------------------------------------------------------------------- precision
_CHOICES: dict[tuple, str] = {}


def _seconds(fn, repeats: int = 3) -> float:
    fn()  # warm-up (oneDNN builds its kernels on the first call)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def choose_precision(net: nn.Module, device: torch.device | str | None = None,
                     measure_seconds: float = 0.5) -> str:
    """The precision that runs ``net``'s inference fastest here.

    On CUDA: ``"bfloat16"`` on cards with native support (compute capability ≥ 8.0), else
    ``"float16"`` (:func:`native_bfloat16`). On other accelerators: ``"float32"``. On the CPU,
    ``"bfloat16"`` or ``"float32"``:
    Elsewhere: a short measurement, a fused copy of ``net`` separating ``measure_seconds`` of
    noise in each precision (best of three after a warm-up), cached for the process per device
    and network configuration, so only the first call pays for it (about 10 forward passes of
    that length). bfloat16 is chosen only when it is at least 5 % faster.
    """
    device = torch.device(device) if device is not None else next(net.parameters()).device
    if device.type == "cuda":
        return "bfloat16" if native_bfloat16(device) else "float16"
    if device.type != "cpu":  # MPS and others: no measurement, the safe choice
        return "float32"
    config = getattr(net, "config", None)
    key = (str(device), repr(config) if config is not None else type(net).__name__,
           torch.get_num_threads())
    if key not in _CHOICES:
        _CHOICES[key] = _measure(net, device, measure_seconds)
    return _CHOICES[key]


def _measure(net: nn.Module, device: torch.device, seconds: float) -> str:
    config = net.config
    fast = net if is_fused(net) else fuse(net, channels_last=device.type == "cpu")
    fast = fast.to(device)
    gen = torch.Generator().manual_seed(0)
    length = max(int(seconds * config.sample_rate), 4 * config.n_fft)
    mixture = (0.1 * torch.randn(1, 1, length, generator=gen)).to(device)
    condition = F.normalize(torch.randn(1, config.condition_dim, generator=gen), dim=1).to(device)
    times = {p: _seconds(lambda p=p: run(fast, mixture, condition, p))
             for p in ("float32", "bfloat16")}
    return "bfloat16" if times["bfloat16"] < 0.95 * times["float32"] else "float32"


def native_bfloat16(device: torch.device | str) -> bool:
    """Whether the CUDA ``device`` runs bfloat16 on its tensor cores (compute capability
    ≥ 8.0: A100, L4, RTX 30xx and later); a T4 (7.5) or V100 (7.0) does not."""
    return tuple(torch.cuda.get_device_capability(torch.device(device))) >= BFLOAT16_CAPABILITY


_WARNED: set[tuple] = set()


def check_precision(precision: str, device: torch.device | str) -> None:
    """Refuse what cannot run, and warn once (one line) about what runs slowly: float16 needs
    CUDA; bfloat16 on a CUDA card without native support is emulated."""
    device = torch.device(device)
    if precision == "float16" and device.type != "cuda":
        raise ValueError(
            f"precision float16 needs a CUDA GPU, and the device is {device}; use bfloat16 or "
            "float32 (or auto)"
        )
    if precision == "bfloat16" and device.type == "cuda" and not native_bfloat16(device):
        name = torch.cuda.get_device_name(device)
        major, minor = torch.cuda.get_device_capability(device)
        key = ("bf16", name)
        if key not in _WARNED:
            _WARNED.add(key)
            warnings.warn(
                f"bfloat16 on {name} (compute capability {major}.{minor}) has no native "
                "support and runs slowly; float16 is this card's fast path (precision auto "
                "chooses it)",
                UserWarning,
                stacklevel=3,
            )


def resolve_precision(precision: str, net: nn.Module,
                      device: torch.device | str | None = None) -> str:
    """``precision`` checked against :data:`PRECISIONS` and the device
    (:func:`check_precision`), with ``"auto"`` answered by :func:`choose_precision`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device = torch.device(device) if device is not None else next(net.parameters()).device
    if precision == "auto":
        return choose_precision(net, device)
    check_precision(precision, device)
    return precision


def training_precision(net: nn.Module, device: torch.device | str) -> str:
    """``precision: auto`` for training: on CUDA, bfloat16 where the card runs it natively
    (compute capability ≥ 8.0), else float16 with loss scaling; on the CPU, the measurement of
    :func:`choose_precision` (bfloat16 only where it is faster on this processor); float32
    elsewhere. Taught in chapter 7 (Training: "On a Colab GPU")."""
    return choose_precision(net, device)
