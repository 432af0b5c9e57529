"""The short-time Fourier transform as a module (taught in chapter 1, "STFT").

A waveform ``(B, C, L)`` becomes a complex spectrogram ``(B, C, T, F)``: ``T`` frames (one
every ``hop_length`` samples) by ``F = n_fft // 2 + 1`` frequency bins. The separator works on
its magnitude ``|X|`` and on the phase written as ``cos∠X`` and ``sin∠X``; :meth:`STFT.inverse`
goes back to a waveform of the requested length, exactly (up to float rounding) when the
spectrogram is left untouched.

Shape letters: ``B`` batch, ``C`` channels, ``L`` samples, ``T`` frames, ``F`` bins.
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import check_waveform

__all__ = ["STFT", "magphase", "overlap_add_of_squares", "MAG_EPS"]

#: Floor on the *squared* magnitude when splitting a spectrogram into magnitude and phase, so
#: that silent bins get a defined phase (cos = sin = 0 there) instead of 0/0.
MAG_EPS = 1e-10

_WINDOWS = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
    "bartlett": torch.bartlett_window,
}


def magphase(real: torch.Tensor, imag: torch.Tensor, eps: float = MAG_EPS):
    """Split ``real + j·imag`` into ``(|X|, cos∠X, sin∠X)``, all of the input's shape.

    ``|X| = sqrt(max(real² + imag², eps))``: the floor keeps the division defined in silent bins.
    """
    mag = torch.clamp(real * real + imag * imag, min=eps).sqrt()
    return mag, real / mag, imag / mag


def overlap_add_of_squares(window: torch.Tensor, hop_length: int) -> torch.Tensor:
    """``Σ_t w²(n − t·H)`` for ``n = 0 … H − 1``: how much squared window covers each sample
    position inside one hop, far from the signal's ends (the sum repeats every ``H``).

    The inverse STFT divides by this sum (plus the partial sums at the ends); it reconstructs
    exactly wherever the sum is not zero (the "NOLA" condition). Taught in chapter 1.
    """
    w2 = window.detach().to("cpu", torch.float64) ** 2
    pad = -w2.numel() % hop_length
    return torch.nn.functional.pad(w2, (0, pad)).reshape(-1, hop_length).sum(dim=0)


class STFT(nn.Module):
    """STFT / iSTFT on ``torch.stft`` with the layout the separator uses.

    Args:
        n_fft: FFT size :math:`N`; gives ``F = N // 2 + 1`` frequency bins.
        hop_length: samples between frames :math:`H` (default ``n_fft // 4``).
        win_length: window length (default ``n_fft``).
        window: ``"hann"`` (periodic, the default), ``"hamming"``, ``"blackman"``,
            ``"bartlett"``, or a 1-D tensor of length ``win_length``.
        center: pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred on sample
            ``t·H``.
        pad_mode: padding mode when ``center`` (``"reflect"`` as in AudioSep).

    ``forward(wave)`` returns the complex spectrogram ``(B, C, T, F)``;
    :meth:`magphase` returns ``(|X|, cos∠X, sin∠X)``; :meth:`inverse` and
    :meth:`inverse_magphase` go back to ``(B, C, L)``.
    """

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int | None = None,
        win_length: int | None = None,
        window: str | torch.Tensor = "hann",
        center: bool = True,
        pad_mode: str = "reflect",
    ):
        super().__init__()
        if n_fft < 2:
            raise ValueError(f"n_fft must be at least 2, got {n_fft}")
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length) if hop_length is not None else self.n_fft // 4
        self.win_length = int(win_length) if win_length is not None else self.n_fft
        if not 0 < self.hop_length <= self.win_length <= self.n_fft:
            raise ValueError(
                "need 0 < hop_length <= win_length <= n_fft, got "
                f"hop_length={self.hop_length}, win_length={self.win_length}, n_fft={self.n_fft}"
            )
        if isinstance(window, str):
            if window not in _WINDOWS:
                raise ValueError(f"unknown window {window!r}; choose from {sorted(_WINDOWS)}")
            # Built on the CPU whatever the default device (a network made under
            # ``torch.device("meta")`` for counting still gets a real window to check).
            win = _WINDOWS[window](self.win_length, periodic=True, device="cpu")
        else:
            win = torch.as_tensor(window, dtype=torch.float32, device="cpu")
            if win.shape != (self.win_length,):
                raise ValueError(
                    f"window must have shape ({self.win_length},), got {tuple(win.shape)}"
                )
        if center and self.hop_length > self.win_length // 2:
            raise ValueError(
                f"hop_length={self.hop_length} is more than half the window "
                f"({self.win_length} samples): the last samples of some lengths would lie under "
                "no window, and the inverse STFT could not return them; use hop_length <= "
                f"{self.win_length // 2}"
            )
        cover = overlap_add_of_squares(win, self.hop_length)
        if float(cover.min()) <= 1e-10 * max(float(cover.max()), 1e-30):
            raise ValueError(
                f"hop_length={self.hop_length} with this {self.win_length}-sample window leaves "
                f"samples that no window covers (the sum of squared windows is "
                f"{float(cover.min()):.1g} at sample {int(cover.argmin())} of each hop), so the "
                "inverse STFT cannot be exact; use a smaller hop (a Hann window needs "
                "hop < win_length; n_fft // 2 or less is the usual choice)"
            )
        self.window_name = window if isinstance(window, str) else "custom"
        self.center = bool(center)
        self.pad_mode = pad_mode
        # Not persistent: the window is derived from the settings, not learned.
        self.register_buffer("window", win, persistent=False)

    @property
    def n_bins(self) -> int:
        """Number of frequency bins ``F``."""
        return self.n_fft // 2 + 1

    @property
    def min_length(self) -> int:
        """Shortest waveform the transform accepts."""
        return self.n_fft // 2 + 1 if self.center else self.n_fft

    def num_frames(self, length: int) -> int:
        """Number of frames ``T`` for a waveform of ``length`` samples."""
        if self.center:
            return length // self.hop_length + 1
        return (length - self.n_fft) // self.hop_length + 1

    def frequencies(self, sample_rate: float) -> torch.Tensor:
        """Centre frequency of each bin in Hz, shape ``(F,)``."""
        return torch.arange(self.n_bins) * (sample_rate / self.n_fft)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Complex spectrogram of ``wave`` ``(B, C, L)`` → ``(B, C, T, F)``."""
        check_waveform(wave, "waveform", min_length=self.min_length, mono=False)
        batch, channels, length = wave.shape
        spec = torch.stft(
            wave.reshape(batch * channels, length),  # (B·C, L)
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(wave.dtype),
            center=self.center,
            pad_mode=self.pad_mode,
            return_complex=True,
        )  # (B·C, F, T)
        return spec.reshape(batch, channels, *spec.shape[-2:]).transpose(-1, -2)  # (B, C, T, F)

    def magphase(self, wave: torch.Tensor):
        """``wave`` ``(B, C, L)`` → ``(|X|, cos∠X, sin∠X)``, each ``(B, C, T, F)``."""
        spec = self(wave)
        return magphase(spec.real, spec.imag)

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Complex spectrogram ``(B, C, T, F)`` → waveform ``(B, C, length)``."""
        if spec.dim() != 4 or spec.shape[-1] != self.n_bins:
            raise ValueError(
                f"spectrogram must have shape (batch, channels, frames, {self.n_bins}), "
                f"got {tuple(spec.shape)}"
            )
        batch, channels, frames, bins = spec.shape
        wave = torch.istft(
            spec.transpose(-1, -2).reshape(batch * channels, bins, frames),  # (B·C, F, T)
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(spec.real.dtype),
            center=self.center,
            length=length,
        )  # (B·C, L)
        return wave.reshape(batch, channels, length)

    def inverse_magphase(
        self, mag: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, length: int
    ) -> torch.Tensor:
        """``(|Y|, cos∠Y, sin∠Y)``, each ``(B, C, T, F)`` → waveform ``(B, C, length)``."""
        return self.inverse(torch.complex(mag * cos, mag * sin), length)

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
            f"window={self.window_name!r}, center={self.center}"
        )
