"""``SeparationNet``: the query-conditioned ResUNet of AudioSep (chapters 2-5).

Pipeline (shape letters: ``B`` batch, ``L`` samples, ``T`` frames, ``F`` bins, ``D`` embedding
width, ``K = 3`` maps per bin)::

    mixture (B, 1, L) ─ STFT ─► |X|, cos∠X, sin∠X        (B, 1, T, F)
    |X| ─ BN over F ─ pad T, crop F ─ pre-conv ─► encoders ─► centre ─► decoders ─ post-conv
        ─► logits (B, K, T, F) ─► M = sigmoid(a), P = normalise(tanh b + j·tanh c)
    Ŷ = relu(|X|·M)·e^{j(∠X+∠P)} ─ iSTFT ─► separated (B, 1, L)

Every batch norm inside the U-Net is shifted by FiLM from the query embedding ``(B, D)``.
Presets (:data:`PRESETS`) give AudioSep's released ResUNet30 (``audiosep``), the paper-size
model (``large``) and a CPU-sized model (``tiny``).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint, inference
from .blocks import DecoderBlock, EncoderBlock
from .checks import check_embedding, check_sample_rate, check_waveform
from .film import FiLM
from .masks import apply_masks, mask_maps
from .stft import STFT

__all__ = ["SeparatorConfig", "SeparationNet", "PRESETS", "DEFAULT_CONDITION_DIM"]

#: The query width a separator is built for unless told otherwise: that of the default query
#: encoder (``lassnet.query.DEFAULT``, all-MiniLM-L6-v2, 384-d; a test keeps the two in step).
DEFAULT_CONDITION_DIM = 384


@dataclass
class SeparatorConfig:
    """Everything needed to rebuild a :class:`SeparationNet`; saved with every checkpoint.

    Attributes:
        sample_rate: the rate the model is trained at (Hz).
        n_fft, hop_length, window: STFT settings.
        channels: output channels of each encoder block, outermost first.
        pools: pooling factor ``(p_T, p_F)`` of each encoder block (decoders mirror them).
        centre_channels: channels of the centre block (no pooling).
        blocks_per_level: residual blocks in each encoder/decoder/centre block.
        condition_dim: width ``D`` of the query embedding (default: 384, the width of the
            default query encoder, MiniLM; AudioSep's CLAP gives 512).
        film: ``"linear"`` (AudioSep) or ``"mlp"`` (a shared two-layer trunk, lassnet's own);
            ``film_hidden`` for the MLP.
        film_gamma: FiLM also scales (``γ``) as well as shifts (``β``).
        momentum, negative_slope: batch-norm momentum and LeakyReLU slope.
        input_rms: if set, every mixture is scaled to this RMS before the network and the
            output scaled back, so the model works at one input level and its output is
            proportional to its input (``None``: as AudioSep, the raw level goes in).
        preset: the preset this config came from, if any (informational).
    """

    sample_rate: int = 32000
    n_fft: int = 2048
    hop_length: int = 320
    window: str = "hann"
    channels: tuple[int, ...] = (32, 64, 128, 256, 384, 384)
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 2), (2, 2), (2, 2), (1, 2))
    centre_channels: int = 384
    blocks_per_level: int = 1
    condition_dim: int = 384  # DEFAULT_CONDITION_DIM
    film: str = "linear"
    film_hidden: int = 256
    film_gamma: bool = False
    momentum: float = 0.01
    negative_slope: float = 0.01
    input_rms: float | None = None
    preset: str | None = field(default=None, compare=False)

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        self.pools = tuple((int(p[0]), int(p[1])) for p in self.pools)
        if len(self.channels) != len(self.pools) or not self.channels:
            raise ValueError(
                f"channels ({len(self.channels)}) and pools ({len(self.pools)}) must have the "
                "same, non-zero length"
            )
        if min(self.channels) < 1 or self.centre_channels < 1 or self.condition_dim < 1:
            raise ValueError("channels, centre_channels and condition_dim must be positive")
        if any(p < 1 for pool in self.pools for p in pool):
            raise ValueError(f"pooling factors must be >= 1, got {self.pools}")
        if self.input_rms is not None and not self.input_rms > 0:
            raise ValueError(f"input_rms must be positive or None, got {self.input_rms}")
        if self.n_fft // 2 + 1 < self.freq_factor:
            raise ValueError(
                f"n_fft={self.n_fft} gives {self.n_fft // 2 + 1} bins, fewer than the "
                f"frequency pooling factor {self.freq_factor}"
            )

    @property
    def time_factor(self) -> int:
        """Frames are padded to a multiple of this (product of the time pools)."""
        return math.prod(p[0] for p in self.pools)

    @property
    def freq_factor(self) -> int:
        """Bins are cropped to a multiple of this (product of the frequency pools)."""
        return math.prod(p[1] for p in self.pools)

    def to_dict(self) -> dict:
        """Plain-python form (lists and numbers) that ``torch.load(weights_only=True)`` reads."""
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["pools"] = [list(p) for p in self.pools]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SeparatorConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown separator config keys: {sorted(unknown)}")
        return cls(**d)


#: The presets of the design card. ``audiosep`` is AudioSep's released ResUNet30.
PRESETS: dict[str, dict] = {
    "audiosep": dict(
        sample_rate=32000,
        n_fft=2048,
        hop_length=320,
        channels=(32, 64, 128, 256, 384, 384),
        pools=((2, 2),) * 5 + ((1, 2),),
        centre_channels=384,
    ),
    "large": dict(
        sample_rate=32000,
        n_fft=2048,
        hop_length=320,
        channels=(32, 64, 128, 256, 512, 1024),
        pools=((2, 2),) * 5 + ((1, 2),),
        centre_channels=1024,
    ),
    "tiny": dict(
        sample_rate=16000,
        n_fft=512,
        hop_length=256,
        channels=(8, 16, 32, 64),
        pools=((2, 2),) * 4,
        centre_channels=64,
    ),
}


class SeparationNet(nn.Module):
    """Query-conditioned ResUNet separator with magnitude and phase masks.

    Build it from a preset (:meth:`from_preset`), a :class:`SeparatorConfig`, or AudioSep's
    released weights (:func:`lassnet.audiosep.load_audiosep`).

    ``forward(mixture (B, 1, L), condition (B, D)) → separated (B, 1, L)``; a condition batch
    of 1 is shared by every mixture. Any ``L`` of at least ``n_fft // 2 + 1`` samples works:
    frames are padded to the pooling multiple and cropped back.
    """

    def __init__(self, config: SeparatorConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = SeparatorConfig(**overrides)
        elif overrides:
            config = SeparatorConfig.from_dict({**config.to_dict(), **overrides})
        self.config = config
        c = config
        kw = dict(num_blocks=c.blocks_per_level, momentum=c.momentum,
                  negative_slope=c.negative_slope)
        self.stft = STFT(c.n_fft, c.hop_length, window=c.window)
        n_bins = self.stft.n_bins
        self.input_norm = nn.BatchNorm2d(n_bins, momentum=c.momentum)  # BN over frequency
        self.pre_conv = nn.Conv2d(1, c.channels[0], kernel_size=1)
        ins = (c.channels[0],) + c.channels[:-1]
        self.encoders = nn.ModuleList(
            EncoderBlock(i, o, pool=p, **kw)
            for i, o, p in zip(ins, c.channels, c.pools, strict=True)
        )
        self.centre = EncoderBlock(c.channels[-1], c.centre_channels, pool=(1, 1), **kw)
        dec_in = (c.centre_channels,) + tuple(reversed(c.channels))[:-1]
        self.decoders = nn.ModuleList(
            DecoderBlock(i, o, up=p, **kw)
            for i, o, p in zip(dec_in, reversed(c.channels), reversed(c.pools), strict=True)
        )
        self.post_conv = nn.Conv2d(c.channels[0], 3, kernel_size=1)  # K = 3 maps per bin
        for conv in (self.pre_conv, self.post_conv):
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)
        # FiLM is created last: it walks the network built above to find its targets.
        self.film = FiLM(
            self, c.condition_dim, kind=c.film, hidden=c.film_hidden, gamma=c.film_gamma
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(
        cls, name: str, condition_dim: int = DEFAULT_CONDITION_DIM, **overrides
    ) -> SeparationNet:
        """Build a preset (``"audiosep"``, ``"large"``, ``"tiny"``) for a ``condition_dim``-wide
        query embedding (default: the default query encoder's width, 384; pass 512 for CLAP,
        as AudioSep); ``overrides`` change any other :class:`SeparatorConfig` field."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        cfg = SeparatorConfig(
            **{**PRESETS[name], "condition_dim": condition_dim, **overrides, "preset": name}
        )
        return cls(cfg)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or only those with ``requires_grad``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------------ the steps
    def spectrogram(self, mixture: torch.Tensor):
        """``mixture (B, 1, L)`` → ``(|X|, cos∠X, sin∠X)``, each ``(B, 1, T, F)``."""
        return self.stft.magphase(mixture)

    def mask_logits(self, mag: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """The U-Net: ``|X| (B, 1, T, F)`` and ``condition (B, D)`` → logits ``(B, 3, T, F)``."""
        film = self.film(condition)
        frames, bins = mag.shape[-2:]
        x = self.input_norm(mag.transpose(1, 3)).transpose(1, 3)  # BN over F; (B, 1, T, F)
        pad_t = -frames % self.config.time_factor
        used_bins = bins - bins % self.config.freq_factor
        x = F.pad(x, (0, 0, 0, pad_t))[..., :used_bins]  # (B, 1, T_pad, F_used)
        x = self.pre_conv(x)  # (B, C_0, T_pad, F_used)
        skips = []
        for encoder in self.encoders:
            x, skip = encoder(x, film)  # x: (B, C_i, T_pad/Πp_T, F_used/Πp_F)
            skips.append(skip)
        x, _ = self.centre(x, film)  # (B, C_centre, ·, ·)
        for decoder, skip in zip(self.decoders, reversed(skips), strict=True):
            x = decoder(x, skip, film)  # back up to the skip's resolution
        x = self.post_conv(x)  # (B, 3, T_pad, F_used)
        # Dropped bins get zero logits (magnitude mask ½, undefined phase → silenced).
        x = F.pad(x, (0, bins - used_bins))[:, :, :frames]  # (B, 3, T, F)
        return x.float()

    def forward(
        self,
        mixture: torch.Tensor,
        condition: torch.Tensor,
        sample_rate: int | None = None,
        return_masks: bool = False,
    ):
        """Separate ``mixture (B, 1, L)`` by ``condition (B, D)`` → ``(B, 1, L)``.

        ``sample_rate``, if given, must equal the model's. With ``return_masks=True`` returns a
        dict with ``waveform``, ``mag_mask``, ``phase_cos``, ``phase_sin`` and the mixture's
        ``mag``, each ``(B, 1, T, F)``.

        As in AudioSep, any ``L`` works, but when ``L`` is not a whole number of hops the last
        samples lie where the overlapping windows barely cover the signal, and the inverse STFT
        amplifies any masking error there. :meth:`LASSModel.separate
        <lassnet.model.LASSModel.separate>` therefore pads its input to whole hops.
        """
        check_sample_rate(sample_rate, self.config.sample_rate)
        check_waveform(mixture, "mixture", min_length=self.stft.min_length)
        check_embedding(condition, self.config.condition_dim, batch=mixture.shape[0])
        if condition.shape[0] != mixture.shape[0]:
            condition = condition.expand(mixture.shape[0], -1)  # (B, D)
        gain = None
        if self.config.input_rms is not None:  # one working level; the output scales back
            # RMS = peak·RMS(x / peak): squares of samples near 1e20 would overflow float32
            peak = mixture.float().abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-30)
            rms = peak * (mixture.float() / peak).pow(2).mean(dim=(1, 2), keepdim=True).sqrt()
            gain = self.config.input_rms / rms.clamp_min(1e-8)  # (B, 1, 1)
            mixture = mixture * gain.to(mixture.dtype)
        mag, cos, sin = self.spectrogram(mixture)  # (B, 1, T, F) each
        logits = self.mask_logits(mag, condition)  # (B, 3, T, F)
        mag_mask, phase_cos, phase_sin = mask_maps(logits[:, None])  # (B, 1, T, F) each
        out = apply_masks(mag, cos, sin, mag_mask, phase_cos, phase_sin)
        wave = self.stft.inverse_magphase(*out, length=mixture.shape[-1])  # (B, 1, L)
        if gain is not None:
            wave = wave / gain
            mag = mag / gain[..., None]
        if not return_masks:
            return wave
        return dict(
            waveform=wave, mag=mag, mag_mask=mag_mask, phase_cos=phase_cos, phase_sin=phase_sin
        )

    # ------------------------------------------------------------------ fast inference
    def fused(self, channels_last: bool = False) -> SeparationNet:
        """A copy of this network for inference, with batch norms and FiLM folded into the
        convolutions (:func:`lassnet.inference.fuse`); this network is left unchanged."""
        return inference.fuse(self, channels_last=channels_last)

    def infer(
        self,
        mixture: torch.Tensor,
        condition: torch.Tensor,
        precision: str = "auto",
        channels_last: bool = True,
    ) -> torch.Tensor:
        """One-shot fast inference: a fused copy made for this call (channels-last by
        default), no autograd, convolutions in ``precision`` (``"auto"``: the faster of float32
        and bfloat16 here, :func:`lassnet.inference.choose_precision`). To separate many
        batches, fuse once with :meth:`fused` and call :func:`lassnet.inference.run`."""
        precision = inference.resolve_precision(precision, self, mixture.device)
        return inference.run(self.fused(channels_last), mixture, condition, precision)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike, **extra) -> None:
        """Write config + weights to ``path`` (atomic, stamped and checksummed; see
        :mod:`lassnet.checkpoint`). ``extra`` entries (plain data) are stored alongside."""
        payload = {"config": self.config.to_dict(), "state_dict": self.state_dict(), **extra}
        checkpoint.save(payload, path, kind="separator")

    @classmethod
    def load(cls, path: str | os.PathLike, map_location="cpu") -> SeparationNet:
        """Rebuild a separator saved with :meth:`save` (never unpickles arbitrary objects);
        :class:`~lassnet.checkpoint.CheckpointError` for any file that is not one."""
        payload = checkpoint.load(path, "separator", map_location)
        try:
            config = SeparatorConfig.from_dict(payload["config"])
        except (KeyError, TypeError, ValueError) as err:
            raise checkpoint.CheckpointError(f"{path}: bad separator config ({err})") from None
        net = cls(config)
        checkpoint.load_state(net, payload.get("state_dict"), str(path))
        return net

    def extra_repr(self) -> str:
        return f"preset={self.config.preset!r}, parameters={self.num_parameters():,}"

