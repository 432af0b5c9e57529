"""Feature-wise linear modulation (taught in chapter 3, "FiLM").

The query embedding ``e`` ``(B, D)`` is mapped to a shift ``β`` (and optionally a scale ``γ``)
for every conditioned batch norm (:class:`~lassnet.blocks.FiLMBatchNorm2d`) in a network. The
layers are discovered by walking the network, so adding a block adds its FiLM outputs without
any hand-written list.

Two mappings, chosen by ``kind``:

* ``"linear"`` — one linear layer ``D → C`` per conditioned layer, as in AudioSep's code.
  All of them are stored as one ``Linear(D, ΣC)`` (one matrix product, then split), which has
  exactly the same parameters as separate layers.
* ``"mlp"`` — ``Linear(D, H) → ReLU → Linear(H, ΣC)``: one shared trunk, a variant of lassnet's
  own that needs fewer weights for narrow networks. (LASS-Net instead gives every conditioned
  convolution its own ``Linear(D, 2C) → ReLU → Linear(2C, C) → ReLU`` and adds its output after
  the convolution and the shortcut; chapter 3 compares them.)
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import FiLMBatchNorm2d, FiLMParams

__all__ = ["FiLM", "conditioned_layers"]


def conditioned_layers(network: nn.Module) -> list[tuple[str, FiLMBatchNorm2d]]:
    """All FiLM-conditioned batch norms of ``network`` as ``(dotted name, layer)``, in order."""
    return [(n, m) for n, m in network.named_modules() if isinstance(m, FiLMBatchNorm2d)]


class FiLM(nn.Module):
    """Map an embedding ``(B, D)`` to ``{layer key: (β, γ)}`` for every conditioned layer.

    Args:
        network: the module whose :class:`FiLMBatchNorm2d` layers are conditioned; each gets
            its dotted name as ``film_key``.
        condition_dim: embedding width ``D``.
        kind: ``"linear"`` or ``"mlp"``.
        hidden: ``H`` for ``"mlp"``.
        gamma: also predict a scale ``γ`` (``y = BN(x)·(1+γ) + β``); AudioSep shifts only.

    ``forward(e)`` returns a dict ``key → (β (B, C, 1, 1), γ (B, C, 1, 1) or None)``.
    """

    def __init__(
        self,
        network: nn.Module,
        condition_dim: int,
        kind: str = "linear",
        hidden: int = 256,
        gamma: bool = False,
    ):
        super().__init__()
        layers = conditioned_layers(network)
        if not layers:
            raise ValueError("network has no FiLMBatchNorm2d layers to condition")
        for name, layer in layers:
            layer.film_key = name
        self.keys = [name for name, _ in layers]
        self.sizes = [layer.num_features for _, layer in layers]
        self.condition_dim = int(condition_dim)
        self.kind = kind
        self.gamma = bool(gamma)
        total = sum(self.sizes) * (2 if gamma else 1)
        if kind == "linear":
            self.net = nn.Linear(condition_dim, total)
        elif kind == "mlp":
            self.net = nn.Sequential(
                nn.Linear(condition_dim, hidden), nn.ReLU(), nn.Linear(hidden, total)
            )
        else:
            raise ValueError(f"unknown FiLM kind {kind!r}; choose 'linear' or 'mlp'")
        last = self.net if kind == "linear" else self.net[-1]
        nn.init.xavier_uniform_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, condition: torch.Tensor) -> FiLMParams:
        out = self.net(condition)  # (B, ΣC) or (B, 2·ΣC)
        betas = out[:, : sum(self.sizes)].split(self.sizes, dim=1)  # each (B, C)
        gammas = (
            out[:, sum(self.sizes) :].split(self.sizes, dim=1)
            if self.gamma
            else [None] * len(self.sizes)
        )
        return {
            key: (b[:, :, None, None], None if g is None else g[:, :, None, None])
            for key, b, g in zip(self.keys, betas, gammas, strict=True)
        }

    def extra_repr(self) -> str:
        return (
            f"kind={self.kind!r}, condition_dim={self.condition_dim}, layers={len(self.keys)}, "
            f"outputs={sum(self.sizes) * (2 if self.gamma else 1)}"
        )
