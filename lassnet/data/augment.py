"""Augmentation of training clips: each clip of a mixture changed at random before mixing
(taught in chapter 6, "Data", and measured in chapter 9, "From synthetic to real").

A synthesiser draws every class from one small recipe; a separator trained on it can learn
the recipe rather than the sound. :class:`ClipAugment` widens every recipe without writing new
ones, with the changes a recording makes to any sound:

* ``pitch`` (semitones, ``s``): play the clip faster or slower by ``2^(u/12)``, ``u`` uniform in
  ``[-s, s]`` (pitch and tempo together, as a tape or a resampler does); a clip that runs out
  is continued by playing it backwards from its end (no gap, no click);
* ``eq`` (probability): a microphone's or a room's colour: a peaking filter of ±9 dB at a
  frequency between 150 Hz and 0.4·sr, and with probability one half a band limit (a
  high-pass between 50 and 400 Hz and/or a low-pass between 2.5 kHz and 0.45·sr);
* ``room`` (probability): a room: exponentially decaying noise whose high frequencies die
  faster (a late tail), a few early reflections, mixed in at 20 to 60 %;
* ``noise_db`` ``(low, high)``: a noise floor (white or pink, chosen per clip) at a level
  drawn in dB relative to the clip's RMS (``None``: none).

The target is augmented before it is mixed and is the reference the loss compares with, so
what the separator learns is "the sound as this recording chain made it". Every draw comes
from the mixture's own random stream, so a mixture stays a pure function of its index. The
clip's RMS is kept (the mixing sets levels).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from scipy import signal

__all__ = ["ClipAugment"]


class ClipAugment:
    """Random pitch/tempo, equalisation, room and noise floor for training clips.

    Args:
        sample_rate: Hz of the clips.
        pitch: largest shift, in semitones (0: none).
        eq: probability of an equaliser.
        room: probability of a room.
        noise_db: ``(low, high)`` level of a noise floor relative to the clip (dB), or None.

    ``augment(wave (1, L), rng) → (1, L)`` float32; ``ClipAugment.from_options(sr, options)``
    builds one from a config's ``augment`` mapping (unknown keys refused in one line).
    """

    KEYS = ("pitch", "eq", "room", "noise_db")

    def __init__(self, sample_rate: int, pitch: float = 0.0, eq: float = 0.0,
                 room: float = 0.0, noise_db: tuple[float, float] | None = None):
        if not 0.0 <= float(pitch) <= 12.0:
            raise ValueError(f"augment pitch must be in [0, 12] semitones, got {pitch}")
        for name, p in (("eq", eq), ("room", room)):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"augment {name} is a probability in [0, 1], got {p}")
        if noise_db is not None:
            low, high = (float(v) for v in noise_db)
            if not low <= high:
                raise ValueError(f"augment noise_db must be (low, high), got {noise_db}")
            noise_db = (low, high)
        self.sample_rate = int(sample_rate)
        self.pitch, self.eq, self.room = float(pitch), float(eq), float(room)
        self.noise_db = noise_db

    @classmethod
    def from_options(cls, sample_rate: int, options: Mapping[str, Any]) -> ClipAugment:
        unknown = sorted(set(options) - set(cls.KEYS))
        if unknown:
            raise ValueError(f"unknown augment options {unknown}; choose from {list(cls.KEYS)}")
        return cls(sample_rate, **dict(options))

    def to_dict(self) -> dict[str, Any]:
        return {"pitch": self.pitch, "eq": self.eq, "room": self.room,
                "noise_db": list(self.noise_db) if self.noise_db else None}

    def __repr__(self) -> str:
        return f"ClipAugment({self.sample_rate} Hz, {self.to_dict()})"

    def __call__(self, wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        x = wave.detach().to(torch.float32).cpu().numpy()[0].astype(np.float64)  # (L,)
        rms = float(np.sqrt(np.mean(x**2)))
        if rms == 0.0:
            return wave
        if self.pitch:
            x = self._resample(x, 2.0 ** (rng.uniform(-self.pitch, self.pitch) / 12.0))
        if self.eq and rng.random() < self.eq:
            x = self._equalise(x, rng)
        if self.room and rng.random() < self.room:
            x = self._reverberate(x, rng)
        if self.noise_db is not None:
            x = x + self._noise_floor(x, rng)
        new = float(np.sqrt(np.mean(x**2)))
        if not np.isfinite(new) or new == 0.0:
            return wave
        return torch.from_numpy((x * (rms / new)).astype(np.float32))[None]

    # -- the changes -----------------------------------------------------------------------
    @staticmethod
    def _resample(x: np.ndarray, rate: float) -> np.ndarray:
        """Play ``x`` at ``rate`` times its speed (linear interpolation); past its end it
        continues backwards, then forwards again (a mirror, so no jump)."""
        n = len(x)
        pos = np.arange(n) * rate
        period = 2 * (n - 1)
        pos = np.mod(pos, period)
        pos = np.where(pos > n - 1, period - pos, pos)
        y = np.interp(pos, np.arange(n), x)
        if rate > 1.0:  # a gentle low-pass against the aliasing of shrinking
            y = signal.sosfilt(_butter(4, round(min(0.95, 0.9 / rate), 3), "lowpass"), y)
        return y

    def _equalise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sr = self.sample_rate
        f0 = float(np.exp(rng.uniform(np.log(150.0), np.log(0.4 * sr))))
        gain = rng.uniform(-9.0, 9.0)
        q = rng.uniform(0.5, 2.0)
        x = signal.lfilter(*_peaking(f0, gain, q, sr), x)
        if rng.random() < 0.5:
            if rng.random() < 0.6:
                cut = rng.uniform(50.0, 400.0) / (sr / 2)
                x = signal.sosfilt(_butter(2, round(cut, 4), "highpass"), x)
            if rng.random() < 0.6:
                cut = rng.uniform(2500.0, 0.45 * sr) / (sr / 2)
                x = signal.sosfilt(_butter(2, round(cut, 3), "lowpass"), x)
        return x

    def _reverberate(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sr = self.sample_rate
        t60 = rng.uniform(0.2, 1.2)
        length = min(int(t60 * sr), len(x))  # later samples of the response cannot reach x
        t = np.arange(length) / sr
        tail = rng.standard_normal(length) * np.exp(-6.9 * t / t60)
        # highs die faster: low-pass the tail with a cut-off that falls with time
        dark = signal.sosfilt(_butter(1, round(min(0.9, 3000.0 / (sr / 2)), 3), "lowpass"), tail)
        blend = np.clip(t / t60, 0.0, 1.0)
        ir = (1 - blend) * tail + blend * dark
        for _ in range(int(rng.integers(2, 6))):  # early reflections
            at = int(rng.uniform(0.002, 0.04) * sr)
            if at < length:
                ir[at] += rng.uniform(0.3, 0.9) * rng.choice((-1.0, 1.0))
        ir[0] = 1.0
        ir /= np.sqrt(np.sum(ir**2))
        wet = signal.fftconvolve(x, ir)[: len(x)]
        mix = rng.uniform(0.2, 0.6)
        wet *= np.sqrt(np.mean(x**2)) / max(np.sqrt(np.mean(wet**2)), 1e-12)
        return (1 - mix) * x + mix * wet

    def _noise_floor(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        low, high = self.noise_db
        noise = rng.standard_normal(len(x))
        if rng.random() < 0.5:  # pink: a -3 dB/octave slope, through the spectrum
            spectrum = np.fft.rfft(noise)
            f = np.arange(len(spectrum), dtype=np.float64)
            f[0] = 1.0
            noise = np.fft.irfft(spectrum / np.sqrt(f), n=len(x))
        level = np.sqrt(np.mean(x**2)) * 10.0 ** (rng.uniform(low, high) / 20.0)
        return noise * level / max(np.sqrt(np.mean(noise**2)), 1e-12)


@functools.lru_cache(maxsize=4096)
def _butter(order: int, cutoff: float, kind: str) -> np.ndarray:
    """A Butterworth filter's second-order sections (``cutoff`` relative to Nyquist), designed
    once per rounded cut-off: designing one costs more than filtering half a second."""
    return signal.butter(order, cutoff, kind, output="sos")


def _peaking(f0: float, gain_db: float, q: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """The peaking equaliser of the Audio EQ Cookbook (R. Bristow-Johnson): ``(b, a)``."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2 * np.pi * f0 / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp])
    a = np.array([1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp])
    return b / a[0], a / a[0]
