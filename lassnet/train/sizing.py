"""How large a batch fits a GPU: training memory measured on the CPU with the same shapes.

A training step holds, at its peak,

* the **weights**, their **gradients** and the optimiser's state (AdamW keeps two moments
  per weight, AMSGrad a third: the running maximum), all float32 whatever the precision: a
  fixed cost, ``(1 + 1 + 2 or 3) × 4`` bytes per parameter;
* the **activations** autograd saves in the forward pass for the backward pass: a cost
  proportional to the batch, in the autocast dtype where the operation runs in it (16-bit
  convolutions save 16-bit inputs) and float32 elsewhere (the STFT, the masks, batch norm's
  statistics).

:func:`activation_bytes` measures the second exactly, by counting the bytes of every tensor
autograd saves (``torch.autograd.graph.saved_tensors_hooks``, each storage once) in a forward
pass of a batch of one and of two: the difference is the cost of one more example. Those are
the sizes a GPU would hold too; the same shapes on the CPU give the same count (bfloat16 and
float16 are both two bytes). :func:`batch_size_for` turns a card's memory into a batch size,
keeping a share of it free for what the count leaves out (the allocator's rounding, cuDNN's
workspaces, the CUDA context, the loss's temporaries).

Taught in chapter 7 (Training: "On a Colab GPU"); the GPU configs state their arithmetic.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..separator import SeparationNet

__all__ = ["MemoryEstimate", "activation_bytes", "batch_size_for", "GIB"]

GIB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    """Training memory of one network at one input length and precision (bytes)."""

    parameters: int  # number of weights
    fixed: int  # weights + gradients + optimiser state (float32)
    per_example: int  # saved activations of one more example in the batch
    base: int  # saved activations that do not grow with the batch (intercept)

    def total(self, batch: int) -> int:
        """Bytes a step holds at its peak for ``batch`` examples (by this count)."""
        return self.fixed + self.base + batch * self.per_example


def _saved_bytes(net: SeparationNet, batch: int, length: int, precision: str) -> int:
    """Bytes of the tensors autograd saves for backward in one forward pass (each storage
    counted once)."""
    gen = torch.Generator().manual_seed(0)
    mixture = 0.1 * torch.randn(batch, 1, length, generator=gen)  # (B, 1, L)
    condition = F.normalize(torch.randn(batch, net.config.condition_dim, generator=gen), dim=1)
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.device.type != "meta":
            storage = t.untyped_storage()
            seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return t

    ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if precision != "float32"
           else contextlib.nullcontext())
    net.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), ctx:
        out = net(mixture, condition)  # (B, 1, L)
    del out
    return sum(seen.values())


def activation_bytes(preset: str, *, duration: float, condition_dim: int,
                     precision: str = "float16", amsgrad: bool = True,
                     **separator: object) -> MemoryEstimate:
    """Measure training memory of the ``preset`` separator on ``duration`` seconds of audio.

    ``precision``: ``"float32"``, or a 16-bit one (``"float16"``/``"bfloat16"``, measured
    under bfloat16 autocast on the CPU: the same two bytes per value). Runs two forward
    passes (batches of one and two) on the CPU; for the ``audiosep`` preset on 5 s that takes
    a few seconds and about 2 GB.
    """
    torch.manual_seed(0)
    net = SeparationNet.from_preset(preset, condition_dim=condition_dim, **separator)
    length = int(round(duration * net.config.sample_rate))
    one = _saved_bytes(net, 1, length, precision)
    two = _saved_bytes(net, 2, length, precision)
    params = sum(p.numel() for p in net.parameters())
    states = 3 if amsgrad else 2
    return MemoryEstimate(parameters=params, fixed=(2 + states) * 4 * params,
                          per_example=two - one, base=max(2 * one - two, 0))


def batch_size_for(estimate: MemoryEstimate, memory_gib: float, *,
                   headroom: float = 0.25, cap: int | None = None) -> int:
    """The largest batch whose step fits ``memory_gib`` GiB with ``headroom`` (a share) left
    free for what :func:`activation_bytes` does not count; at most ``cap``. Raises
    ``ValueError`` when not even one example fits."""
    if not 0 <= headroom < 1:
        raise ValueError(f"headroom must be a share in [0, 1), got {headroom}")
    usable = memory_gib * GIB * (1 - headroom)
    batch = math.floor((usable - estimate.fixed - estimate.base) / estimate.per_example)
    if batch < 1:
        raise ValueError(
            f"one example needs {estimate.total(1) / GIB:.1f} GiB, more than "
            f"{usable / GIB:.1f} GiB usable of {memory_gib} GiB; use a shorter duration or a "
            "smaller preset"
        )
    return min(batch, cap) if cap else batch
