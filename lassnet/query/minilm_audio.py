"""``minilm-audio``: MiniLM for text plus the trained audio tower for audio, one 384-d space.

Taught in chapter 4 (QueryNet). Because the tower was trained to land next to MiniLM's
caption embeddings (:mod:`lassnet.train_query`), a separator trained on MiniLM *text* queries
also takes *audio* queries through this encoder.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .audio_tower import PROBE_CAPTION, default_weights_path, load_audio_tower
from .minilm import MiniLMEncoder

__all__ = ["MiniLMAudioEncoder"]


class MiniLMAudioEncoder(MiniLMEncoder):
    """MiniLM for text plus the trained :class:`~lassnet.query.audio_tower.AudioTower` for
    audio, one 384-d space.

    Taught in chapter 4 (QueryNet).

    Args:
        weights: the tower's file (default
            :func:`~lassnet.query.audio_tower.default_weights_path`, the shipped one).
        device, cache_size, batch_size, model_path: as :class:`~lassnet.query.minilm.MiniLMEncoder`.

    ``embed_text(B strings) -> (B, 384)``; ``embed_audio(wave (B, 1, L), sr) -> (B, 384)``
    (resampled to 16 kHz, at least 0.25 s). :attr:`metadata` holds how the tower was trained.
    """

    name = "minilm-audio"

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str | torch.device | None = None,
        cache_size: int = 4096,
        batch_size: int = 64,
        model_path: str | Path | None = None,
    ):
        super().__init__(
            device=device, cache_size=cache_size, batch_size=batch_size, model_path=model_path
        )
        self.weights_path = Path(weights) if weights is not None else default_weights_path()
        tower, self.metadata = load_audio_tower(self.weights_path)
        if tower.config.dim != self.dim:
            raise ValueError(
                f"the audio tower in {self.weights_path} gives {tower.config.dim}-d embeddings "
                f"but the text model gives {self.dim}-d"
            )
        self.tower = tower.to(self.device)
        self.audio_sample_rate = tower.config.sample_rate
        self.min_audio_seconds = tower.config.min_seconds
        self._freeze()
        probe = self.metadata.get("probe_embedding")
        if probe is not None:
            now = self.embed_text([PROBE_CAPTION])[0].cpu()
            if float(now @ torch.as_tensor(probe, dtype=torch.float32)) < 0.99:
                raise ValueError(
                    f"the audio tower in {self.weights_path} was trained against another text "
                    "model than the one loaded; retrain it or load the matching text model"
                )

    def _encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        return self.tower(wave)  # (B, 384)
