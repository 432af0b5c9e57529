"""The audio tower: a small CNN on log-mel spectrograms, and its weights file.

Taught in chapter 4 (QueryNet). CLAP learns a text tower and an audio tower together; here
the text tower is the frozen MiniLM (the default query encoder) and only this audio tower is
learned, so that a sound clip can be the query, offline. :class:`AudioTower` maps a clip to a
``D``-d vector; :class:`~lassnet.query.minilm_audio.MiniLMAudioEncoder` (``build("minilm-audio")``)
pairs it with MiniLM behind the :class:`~lassnet.query.base.QueryEncoder` interface. How it is
trained (CLAP-style InfoNCE on the synthetic corpus) lives in :mod:`lassnet.train_query`:
``python -m lassnet.train_query --out data/audio_encoder_minilm.pt`` (or
``lassnet train-query``); the file keeps the weights, the configuration, the exact command
and seed, and the test-split retrieval accuracy.

Shape letters: ``B`` batch, ``L`` samples, ``F`` mel bands, ``T`` frames, ``C`` channels,
``D`` embedding width (384).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import checkpoint
from ..checkpoint import CheckpointError

__all__ = [
    "AudioEncoderConfig",
    "ConvBlock",
    "AudioTower",
    "WEIGHTS_NAME",
    "PROBE_CAPTION",
    "default_weights_path",
    "save_audio_tower",
    "load_audio_tower",
]

#: the shipped weights file, in the data folder (:func:`default_weights_path`)
WEIGHTS_NAME = "audio_encoder_minilm.pt"
#: a caption whose MiniLM embedding is stored with the weights, to detect another text model
PROBE_CAPTION = "a siren wailing"


@dataclass
class AudioEncoderConfig:
    """Everything that defines an :class:`AudioTower` (saved next to its weights)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 320  # 20 ms frames
    n_mels: int = 64
    f_min: float = 20.0
    f_max: float = 8000.0
    channels: tuple[int, ...] = (8, 16, 32, 64, 128)
    hidden: int = 256
    dim: int = 384  # MiniLM's width
    min_seconds: float = 0.25  # shortest clip the encoder accepts

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be positive, got {self.channels}")
        if self.f_max > self.sample_rate / 2:
            raise ValueError(f"f_max {self.f_max} Hz is above Nyquist ({self.sample_rate / 2})")
        if self.n_mels < 2 ** len(self.channels):
            raise ValueError(f"{self.n_mels} mel bands cannot be pooled {len(self.channels)} times")


class ConvBlock(nn.Module):
    """(3×3 conv → BN → ReLU) twice, then 2×2 average pooling: ``(B, C_in, F, T) →
    (B, C_out, ⌈F/2⌉, ⌈T/2⌉)``. Taught in chapter 4 (QueryNet)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.net(x), 2, ceil_mode=True)


class AudioTower(nn.Module):
    """A small CNN on log-mel spectrograms that maps a clip to a ``D``-d embedding.

    Taught in chapter 4 (QueryNet). ``wave (B, L)`` at ``config.sample_rate`` → log-mel
    ``(B, 1, F, T)`` → minus its own mean (so the clip's level does not matter) → batch norm
    per mel band → conv blocks → mean over frequency, max + mean over time → MLP → ``(B, D)``
    (not normalised; :class:`MiniLMAudioEncoder` normalises). Any length of at least
    ``config.min_seconds`` works.
    """

    def __init__(self, config: AudioEncoderConfig | None = None):
        super().__init__()
        import torchaudio

        self.config = config = config or AudioEncoderConfig()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            f_min=config.f_min,
            f_max=config.f_max,
            n_mels=config.n_mels,
            power=2.0,
        )
        self.bn0 = nn.BatchNorm2d(config.n_mels)
        widths = (1, *config.channels)
        pairs = zip(widths[:-1], widths[1:], strict=True)
        self.blocks = nn.Sequential(*(ConvBlock(a, b) for a, b in pairs))
        self.head = nn.Sequential(
            nn.Linear(config.channels[-1], config.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden, config.dim),
        )

    def logmel(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` → natural-log mel power ``(B, 1, F, T)``."""
        return torch.log(self.mel(wave).clamp_min(1e-10))[:, None]

    def embed_logmel(self, logmel: torch.Tensor) -> torch.Tensor:
        """``(B, 1, F, T)`` log-mel → ``(B, D)``."""
        x = logmel - logmel.mean(dim=(2, 3), keepdim=True)  # level-independent
        x = self.bn0(x.transpose(1, 2)).transpose(1, 2)  # per mel band: (B, F, 1, T) and back
        x = self.blocks(x)  # (B, C, F', T')
        x = x.mean(dim=2)  # (B, C, T')
        x = x.amax(dim=2) + x.mean(dim=2)  # (B, C)
        return self.head(x)  # (B, D)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.embed_logmel(self.logmel(wave))


# ---------------------------------------------------------------------------- files
def default_weights_path() -> Path:
    """``data/audio_encoder_minilm.pt`` beside the package (``$LASSNET_DATA`` overrides), the
    shipped weights of :class:`~lassnet.query.minilm_audio.MiniLMAudioEncoder`."""
    from ..paths import data_dir

    return data_dir() / WEIGHTS_NAME


def save_audio_tower(tower: AudioTower, path: str | Path, metadata: dict) -> Path:
    """Write weights + configuration + ``metadata`` (plain data) to ``path`` (atomic, stamped
    and checksummed; see :mod:`lassnet.checkpoint`). Returns the path.

    Taught in chapter 4 (QueryNet); :func:`lassnet.train_query.train_audio_encoder` writes the
    shipped file with it."""
    config = asdict(tower.config)
    config["channels"] = list(config["channels"])
    payload = {
        "config": config,
        "state_dict": {k: v.detach().cpu().clone() for k, v in tower.state_dict().items()},
        "metadata": metadata,
    }
    return checkpoint.save(payload, path, kind="audio-tower")


def load_audio_tower(path: str | Path) -> tuple[AudioTower, dict]:
    """Read a file written by :func:`save_audio_tower` (safely: ``weights_only=True``).

    Taught in chapter 4 (QueryNet).

    Returns ``(tower in eval mode, metadata)``; raises
    :class:`~lassnet.checkpoint.CheckpointError` naming the command that makes the file when
    it is missing, and for a file of another kind.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"no audio-encoder weights at {path}; train them with "
            f"`python -m lassnet.train_query --out {path}` (or `lassnet train-query --out {path}`)"
        )
    payload = checkpoint.load(path, "audio-tower")
    try:
        tower = AudioTower(AudioEncoderConfig(**payload["config"]))
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: bad audio-tower config ({err})") from None
    checkpoint.load_state(tower, payload.get("state_dict"), str(path))
    tower.eval()
    return tower, dict(payload.get("metadata", {}))
