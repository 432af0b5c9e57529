"""The U-Net's building blocks (taught in chapter 2, "Encoder/decoder blocks").

All blocks work on feature maps ``(B, C, T, F)`` (batch, channels, frames, frequency bins).
Every batch norm that the query conditions is a :class:`FiLMBatchNorm2d`; the FiLM module
(:mod:`lassnet.film`) finds them by walking the network, so no block keeps a list of them.

* :class:`ResidualBlock` — ``BN → +β → LeakyReLU → conv3×3``, twice, plus a shortcut
  (identity, or a 1×1 conv when the channel count changes).
* :class:`EncoderBlock` — residual block(s), then average pooling; returns pooled and skip.
* :class:`DecoderBlock` — ``BN → +β → LeakyReLU → transposed conv`` (upsampling), concatenation
  with the encoder's skip, residual block(s).

Every block has one forward path, the same in training and evaluation. Inference speed-ups
(batch norms and FiLM folded into neighbouring convolutions) are a separate, explicit step that
returns a new module: :func:`lassnet.inference.fuse` (``SeparationNet.fused()``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FiLMBatchNorm2d", "ResidualBlock", "EncoderBlock", "DecoderBlock", "FiLMParams"]

#: What FiLM hands to the network: for every conditioned layer (by its key), a pair
#: ``(β, γ)`` of shape ``(B, C, 1, 1)``; ``γ`` is ``None`` when FiLM only shifts.
FiLMParams = Mapping[str, tuple[torch.Tensor, torch.Tensor | None]]


class FiLMBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose output is shifted (and optionally scaled) by the query.

    ``y = BN(x)·(1 + γ) + β`` where ``β`` (and ``γ``) come from FiLM for this layer. The layer's
    ``film_key`` (its dotted name in the network, set when FiLM is attached) selects its pair
    from the FiLM dictionary; without a dictionary it is a plain batch norm.
    """

    film_key: str = ""

    def forward(self, x: torch.Tensor, film: FiLMParams | None = None) -> torch.Tensor:
        y = super().forward(x)  # (B, C, T, F)
        if film is None:
            return y
        beta, gamma = film[self.film_key]  # (B|1, C, 1, 1) each, γ may be None
        if gamma is not None:
            y = y * (1.0 + gamma)
        return y + beta


class ResidualBlock(nn.Module):
    """Pre-activation residual block: ``(BN → +β → LeakyReLU → conv)`` × 2 + shortcut.

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``; a 1×1 conv shortcut (with bias) maps ``C_in → C_out`` when
            they differ, otherwise the shortcut is the identity.
        kernel_size: conv kernel (3×3 in AudioSep).
        momentum: batch-norm momentum (0.01 in AudioSep).
        negative_slope: LeakyReLU slope (0.01).

    Shapes: ``(B, C_in, T, F) → (B, C_out, T, F)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        momentum: float = 0.01,
        negative_slope: float = 0.01,
    ):
        super().__init__()
        pad = kernel_size // 2
        self.negative_slope = negative_slope
        self.bn1 = FiLMBatchNorm2d(in_channels, momentum=momentum)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.bn2 = FiLMBatchNorm2d(out_channels, momentum=momentum)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, kernel_size=1)
            if in_channels != out_channels
            else nn.Identity()
        )
        for conv in (self.conv1, self.conv2):
            nn.init.xavier_uniform_(conv.weight)
        if isinstance(self.shortcut, nn.Conv2d):
            nn.init.xavier_uniform_(self.shortcut.weight)
            nn.init.zeros_(self.shortcut.bias)

    def forward(self, x: torch.Tensor, film: FiLMParams | None = None) -> torch.Tensor:
        h = F.leaky_relu(self.bn1(x, film), self.negative_slope, inplace=True)  # (B, C_in, T, F)
        h = self.bn2(self.conv1(h), film)  # (B, C_out, T, F)
        h = self.conv2(F.leaky_relu(h, self.negative_slope, inplace=True))
        return h + self.shortcut(x)  # (B, C_out, T, F)


class EncoderBlock(nn.Module):
    """Residual block(s) followed by average pooling.

    Args:
        in_channels, out_channels: channels in and out.
        pool: pooling factor ``(p_T, p_F)`` over (frames, bins); ``(1, 1)`` means no pooling
            (the U-Net's centre).
        num_blocks: residual blocks before pooling.

    Shapes: ``(B, C_in, T, F) → (pooled (B, C_out, T/p_T, F/p_F), skip (B, C_out, T, F))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        pool: tuple[int, int] = (2, 2),
        num_blocks: int = 1,
        momentum: float = 0.01,
        negative_slope: float = 0.01,
    ):
        super().__init__()
        self.pool = tuple(pool)
        self.blocks = nn.ModuleList(
            ResidualBlock(
                in_channels if i == 0 else out_channels,
                out_channels,
                momentum=momentum,
                negative_slope=negative_slope,
            )
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor, film: FiLMParams | None = None):
        for block in self.blocks:
            x = block(x, film)
        skip = x  # (B, C_out, T, F)
        if self.pool != (1, 1):
            x = F.avg_pool2d(x, kernel_size=self.pool)  # (B, C_out, T/p_T, F/p_F)
        return x, skip


class DecoderBlock(nn.Module):
    """Upsample, concatenate the encoder's skip, residual block(s).

    ``BN → +β → LeakyReLU → ConvTranspose(kernel = stride = up)``, then
    ``cat([up, skip])`` along channels and residual block(s) ``2·C_out → C_out``.

    Shapes: ``x (B, C_in, T, F)``, ``skip (B, C_out, T·u_T, F·u_F)`` →
    ``(B, C_out, T·u_T, F·u_F)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        up: tuple[int, int] = (2, 2),
        num_blocks: int = 1,
        momentum: float = 0.01,
        negative_slope: float = 0.01,
    ):
        super().__init__()
        self.negative_slope = negative_slope
        self.norm = FiLMBatchNorm2d(in_channels, momentum=momentum)
        self.up = nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size=tuple(up), stride=tuple(up), bias=False
        )
        nn.init.xavier_uniform_(self.up.weight)
        self.blocks = nn.ModuleList(
            ResidualBlock(
                2 * out_channels if i == 0 else out_channels,
                out_channels,
                momentum=momentum,
                negative_slope=negative_slope,
            )
            for i in range(num_blocks)
        )

    def forward(
        self, x: torch.Tensor, skip: torch.Tensor, film: FiLMParams | None = None
    ) -> torch.Tensor:
        x = self.up(F.leaky_relu(self.norm(x, film), self.negative_slope, inplace=True))
        if x.shape[-2:] != skip.shape[-2:]:
            raise ValueError(
                f"decoder output {tuple(x.shape[-2:])} does not match skip {tuple(skip.shape[-2:])}"
            )
        x = torch.cat((x, skip), dim=1)  # (B, 2·C_out, T', F')
        for block in self.blocks:
            x = block(x, film)
        return x
