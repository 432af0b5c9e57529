"""The synthetic sound-event corpus (taught in chapter 6, "Data").

Fourteen everyday sound classes, each made by a small signal recipe (frequency sweeps for a
siren, Karplus–Strong for a plucked string, mains harmonics for an electrical hum, ...) and
described by several natural-language captions. Every clip is a pure function of
``(class, seed, sample_rate, duration)``: the same arguments give the same clip on every
machine, and new seeds give new clips without end. Inside a class, everything a recording
would vary is drawn at random from the seed: pitch, rate, rhythm, duration, onset, level,
timbre, and a little colouring and reverb, so that a separation model has to listen to the
query instead of memorising a waveform.

* :data:`CLASSES`, :data:`CAPTIONS`, :data:`DESCRIPTIONS`: the corpus "ontology", defined
  in the torch-free :mod:`lassnet.ontology` and re-exported here; :func:`class_table` shows it
  (text, Markdown or HTML).
* :func:`synthesize` makes one clip (a ``numpy`` float32 array ``(L,)``).
* :class:`SyntheticClips` is a ``torch`` dataset of labelled, captioned clips for one split;
  ``train``, ``validation`` and ``test`` draw from disjoint seed ranges (:func:`clip_seed`).
* :func:`write_examples` writes a browsable folder of WAV files with a CSV of labels.

All randomness comes from ``numpy.random.default_rng`` seeded explicitly; no global state.
"""

from __future__ import annotations

import csv
import html
import math
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy import signal

from ..files import atomic_write
from ..ontology import CAPTIONS, CLASSES, DESCRIPTIONS
from .base import LabelledClips

__all__ = [
    "CLASSES",
    "CAPTIONS",
    "DESCRIPTIONS",
    "DEFAULT_DURATION",
    "SPLITS",
    "synthesize",
    "clip_seed",
    "clip_caption",
    "SyntheticClips",
    "ClassTable",
    "class_table",
    "corpus_examples",
    "write_examples",
]

#: Default clip length in seconds (the crop length AudioSep trains on).
DEFAULT_DURATION = 5.0

#: The three splits, each with its own range of clip seeds (see :func:`clip_seed`).
SPLITS = ("train", "validation", "test")

#: Width of each split's seed range, and of each base seed's block inside a split.
_SPLIT_STRIDE = 2**48
_BASE_STRIDE = 2**32
#: Default number of clips per split (the training split is unlimited: pass any ``count``).
_DEFAULT_COUNTS = {"train": 14_000, "validation": 700, "test": 700}


# --------------------------------------------------------------------------------------------
# Small signal helpers (all vectorised with numpy).
# --------------------------------------------------------------------------------------------

_TABLE_SIZE = 16384  # a power of two, so that wrapping an index is a bit mask


def _wavetable(amps: Sequence[float], phases: Sequence[float] | None = None) -> np.ndarray:
    """One period of ``sum_k amps[k] · sin(2π (k+1) u + phases[k])`` at 16384 points.

    Built with one inverse FFT: harmonic ``k + 1`` is frequency bin ``k + 1`` of the table.
    """
    amps = np.asarray(amps, dtype=np.float64)
    phases = np.zeros(len(amps)) if phases is None else np.asarray(phases, dtype=np.float64)
    spectrum = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
    # sin(x + φ) = Re(e^{j(x + φ - π/2)}); irfft of a bin of height N/2 gives a unit cosine.
    spectrum[1 : len(amps) + 1] = amps * (_TABLE_SIZE / 2) * np.exp(1j * (phases - np.pi / 2))
    return np.fft.irfft(spectrum, _TABLE_SIZE).astype(np.float32)


def _lookup(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Wavetable oscillator: read ``table`` at the running phase ``cycles`` (in periods)."""
    return table[(cycles * np.float32(_TABLE_SIZE)).astype(np.int64) & (_TABLE_SIZE - 1)]


_BLOCK = 1024  # phase is accumulated in float32 within blocks, and in float64 across them


def _cycles(freq: np.ndarray | float, sr: int, n: int, phase: float = 0.0) -> np.ndarray:
    """Running phase, in periods, of an oscillator of (time-varying) frequency ``freq`` Hz.

    Returns float32 ``(n,)``. Only the fractional part matters (``sin(2π·cycles)``), so the
    phase is wrapped at every block of 1024 samples: that keeps float32 accurate to ~1e-4 of
    a period over any duration, at the cost of float32 arithmetic.
    """
    m = -(-n // _BLOCK)
    if np.ndim(freq) == 0:
        step = float(freq) / sr
        within = np.arange(_BLOCK, dtype=np.float32) * np.float32(step)  # (B,)
        starts = np.mod(phase + step * _BLOCK * np.arange(m), 1.0)  # (m,)
    else:
        inc = np.zeros(m * _BLOCK, dtype=np.float32)
        inc[:n] = freq
        inc *= np.float32(1.0 / sr)
        within = np.cumsum(inc.reshape(m, _BLOCK), axis=1)  # (m, B)
        totals = within[:, -1].astype(np.float64)
        starts = np.mod(phase + np.concatenate(([0.0], np.cumsum(totals[:-1]))), 1.0)
    return (starts.astype(np.float32)[:, None] + within).reshape(-1)[:n]


def _sin(cycles: np.ndarray) -> np.ndarray:
    """``sin(2π·cycles)`` in float32."""
    return np.sin(np.float32(2 * np.pi) * np.asarray(cycles, dtype=np.float32))


def _time(n: int, sr: int) -> np.ndarray:
    """Sample times in seconds, float32 (fine for slow curves; oscillators use ``_cycles``)."""
    return np.arange(n, dtype=np.float32) * np.float32(1.0 / sr)


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White noise of unit variance (uniform samples: as white as Gaussian, and faster)."""
    return (rng.random(n, dtype=np.float32) - np.float32(0.5)) * np.float32(math.sqrt(12.0))


def _resonator(x: np.ndarray, freq: float, q: float, sr: int) -> np.ndarray:
    """Two-pole band-pass (constant peak gain 1) centred on ``freq`` Hz with quality ``q``."""
    freq = min(freq, 0.45 * sr)
    w0 = 2 * np.pi * freq / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([alpha, 0.0, -alpha]) / (1 + alpha)
    a = np.array([1.0, -2 * np.cos(w0) / (1 + alpha), (1 - alpha) / (1 + alpha)])
    return signal.lfilter(b, a, x)


def _one_pole_lowpass(x: np.ndarray, cutoff: float, sr: int) -> np.ndarray:
    """First-order low-pass at ``cutoff`` Hz."""
    c = math.exp(-2 * math.pi * min(cutoff, 0.45 * sr) / sr)
    return signal.lfilter([1 - c], [1, -c], x)


def _add(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Add ``event`` into ``out`` from sample ``start`` on, dropping what falls off the end."""
    if start >= len(out) or start + len(event) <= 0:
        return
    lo = max(start, 0)
    hi = min(len(out), start + len(event))
    out[lo:hi] += event[lo - start : hi - start]


def _ramp_envelope(length: int, ramp: int) -> np.ndarray:
    """Ones with linear fade-in and fade-out of ``ramp`` samples (clicks free)."""
    env = np.ones(length, dtype=np.float32)
    r = max(1, min(ramp, length // 2))
    env[:r] = np.linspace(0.0, 1.0, r, endpoint=False, dtype=np.float32)
    env[length - r :] = env[:r][::-1]
    return env


def _decay(length: int, sr: int, t60: float) -> np.ndarray:
    """Exponential decay reaching -60 dB after ``t60`` seconds."""
    return np.exp(np.arange(length, dtype=np.float32) * np.float32(-6.9078 / (t60 * sr)))


def _onset(rng: np.random.Generator, n: int, sr: int, max_seconds: float = 0.6) -> int:
    """A random start sample: up to ``max_seconds`` in, and never past a fifth of the clip."""
    return int(rng.uniform(0.0, min(max_seconds * sr, 0.2 * n)))


def _lfo(rng: np.random.Generator, n: int, sr: int, rate: tuple[float, float]) -> np.ndarray:
    """A slow smooth random curve in ``[-1, 1]``: two sines of random rates and phases."""
    r1, r2 = rng.uniform(*rate, size=2)
    p1, p2 = rng.random(2)
    c = _time(n, sr)  # slow: a few periods per clip, float32 is exact enough
    return 0.6 * _sin(np.float32(r1) * c + np.float32(p1)) + 0.4 * _sin(
        np.float32(r2 * 1.37) * c + np.float32(p2)
    )


# --------------------------------------------------------------------------------------------
# The fourteen generators. Each takes (rng, sr, n) and returns n samples (any float dtype).
# --------------------------------------------------------------------------------------------


def _siren(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    t = _time(n, sr)
    f_lo = rng.uniform(450.0, 850.0)
    f_hi = min(f_lo * rng.uniform(1.6, 2.4), 0.4 * sr)
    offset = np.float32(rng.random())
    mode = rng.choice(3, p=[0.45, 0.35, 0.2])
    if mode == 0:  # wail: slow smooth rise and fall
        shape = 0.5 - 0.5 * _sin(t / np.float32(rng.uniform(2.0, 4.5)) + offset)
    elif mode == 1:  # yelp: fast triangle sweeps
        shape = 2.0 * np.abs(np.mod(t / np.float32(rng.uniform(0.18, 0.45)) + offset, 1.0) - 0.5)
    else:  # whoop: repeated rising sweeps
        shape = np.mod(t / np.float32(rng.uniform(0.7, 1.6)) + offset, 1.0) ** np.float32(
            rng.uniform(0.5, 0.9)
        )
    freq = np.float32(f_lo) + np.float32(f_hi - f_lo) * shape
    n_harm = max(1, min(int(rng.integers(1, 6)), int(0.45 * sr // f_hi)))
    rolloff = rng.uniform(0.15, 0.55)
    table = _wavetable([rolloff**k for k in range(n_harm)], rng.uniform(0, 2 * np.pi, n_harm))
    wave = _lookup(table, _cycles(freq, sr, n))
    # Passing by: the level drifts by a few dB over the clip.
    gain_db = np.linspace(rng.uniform(-8, 0), rng.uniform(-8, 0), n, dtype=np.float32)
    return wave * np.power(np.float32(10.0), gain_db / np.float32(20))


def _telephone_ring(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    f1 = rng.uniform(380.0, 950.0)
    f2 = f1 * rng.uniform(1.06, 1.3)
    tone = _sin(_cycles(f1, sr, n, rng.random())) + _sin(_cycles(f2, sr, n, rng.random()))
    if rng.random() < 0.25:  # a little harmonic colour, as from a small loudspeaker
        tone = np.tanh(np.float32(rng.uniform(0.5, 1.0)) * tone)
    if rng.random() < 0.6:  # electronic/bell trill at 15-25 Hz
        trill = _sin(_cycles(rng.uniform(15.0, 25.0), sr, n))
        tone = tone * (0.5 + 0.5 * np.tanh(4.0 * trill))
    gate = np.zeros(n, dtype=np.float32)
    start = _onset(rng, n, sr, 0.5)
    double = rng.random() < 0.4
    on = rng.uniform(0.3, 0.45) if double else rng.uniform(0.8, 2.0)
    gap = rng.uniform(0.15, 0.25)
    off = rng.uniform(1.0, 2.5)
    ramp = int(0.008 * sr)
    while start < n:
        bursts = [start, start + int((on + gap) * sr)] if double else [start]
        for b in bursts:
            _add(gate, _ramp_envelope(int(on * sr), ramp), b)
        start = bursts[-1] + int((on + off) * sr)
    return tone * gate


# Partials of a tuned church bell, relative to its "prime" (strike) note.
_BELL_RATIOS = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.51, 2.66, 3.01, 4.1, 5.4])


def _bell(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    f0 = np.exp(rng.uniform(np.log(180.0), np.log(1300.0)))
    ratios = _BELL_RATIOS * rng.uniform(0.97, 1.03, len(_BELL_RATIOS))
    ratios = ratios[ratios * f0 < 0.45 * sr]
    amps = rng.uniform(0.15, 1.0, len(ratios)) * ratios**-0.3
    t60 = rng.uniform(1.2, 4.5) * (ratios / ratios[0]) ** -0.6
    beat = rng.uniform(0.5, 3.0, len(ratios)) * (rng.random(len(ratios)) < 0.3)
    start = _onset(rng, n, sr, 0.8)
    # One strike, computed once: every strike of the same bell rings the same way.
    length = min(n - start, int(t60.max() * sr))
    strike = np.zeros(length, dtype=np.float32)
    for r, a, d, b in zip(ratios, amps, t60, beat, strict=True):
        size = min(length, int(d * sr))  # each partial only as long as it rings
        partial = _sin(_cycles(r * f0, sr, size, rng.random())) * _decay(size, sr, d)
        if b > 0:  # two close modes beating, as in a real bell
            partial *= 0.7 + 0.3 * _sin(_cycles(b, sr, size))
        strike[:size] += np.float32(a) * partial
    attack = min(length, int(0.002 * sr))
    strike[:attack] *= np.linspace(0, 1, attack, dtype=np.float32)
    out = np.zeros(n, dtype=np.float32)
    interval = rng.uniform(0.8, 2.5)
    for _ in range(int(rng.integers(1, 5))):
        if start >= n:
            break
        _add(out, np.float32(rng.uniform(0.6, 1.0)) * strike, start)
        start += int(interval * rng.uniform(0.9, 1.1) * sr)
    return out


def _karplus_strong(excitation: np.ndarray, period: int, length: int, rho: float) -> np.ndarray:
    """Karplus–Strong: ``y[i] = ρ/2 · (y[i-N] + y[i-N-1])``, the first ``N`` samples being the
    excitation. Computed one period (block of ``N`` samples) at a time: each block is the
    previous one, averaged with itself shifted by one sample and damped by ``ρ``."""
    z = np.zeros(length + 1, dtype=np.float32)  # z[i + 1] = y[i], with y[-1] = 0
    z[1 : period + 1] = excitation[:period]
    half = np.float32(0.5 * rho)
    for s in range(period, length, period):
        e = min(s + period, length)
        z[s + 1 : e + 1] = half * (z[s + 1 - period : e + 1 - period] + z[s - period : e - period])
    return z[1:]


def _plucked_string(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    base = np.exp(rng.uniform(np.log(90.0), np.log(400.0)))
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16])  # a major pentatonic scale, in semitones
    t60 = rng.uniform(0.7, 2.5)
    brightness = rng.uniform(1500.0, 6000.0)
    interval = rng.uniform(0.2, 0.9)
    out = np.zeros(n, dtype=np.float32)
    start = _onset(rng, n, sr, 0.4)
    for _ in range(int(rng.integers(2, 8))):
        if start >= n:
            break
        freq = base * 2 ** (rng.choice(scale) / 12)
        period = max(2, int(round(sr / freq)))
        length = min(n - start, int(t60 * sr))
        if length <= period:
            break
        burst = _one_pole_lowpass(_noise(rng, period), brightness, sr)  # soft pluck: darker
        pos = int(period * rng.uniform(0.1, 0.4))  # plucking position: a comb on the burst
        burst = burst - 0.8 * np.roll(burst, pos)
        rho = 10 ** (-3 * period / (sr * t60))  # damping per period for this decay time
        note = _karplus_strong(burst - burst.mean(), period, length, rho)
        _add(out, np.float32(rng.uniform(0.5, 1.0)) * note, start)
        start += int(interval * rng.choice([0.5, 1.0, 1.0, 2.0]) * sr)
    return out


def _engine_idling(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    firing = rng.uniform(18.0, 55.0)
    wobble = 1.0 + np.float32(rng.uniform(0.01, 0.05)) * _lfo(rng, n, sr, (0.3, 2.0))
    cycles = _cycles(np.float32(firing) * wobble, sr, n)
    fire = np.flatnonzero(np.diff(np.floor(cycles))) + 1  # one pulse per firing
    pattern = rng.uniform(0.6, 1.0, 4)  # four cylinders, each a little different
    pulses = np.zeros(n, dtype=np.float32)
    pulses[fire] = pattern[np.arange(len(fire)) % 4] * rng.uniform(0.85, 1.15, len(fire))
    body = _resonator(pulses, rng.uniform(45.0, 160.0), rng.uniform(1.5, 5.0), sr)
    body += rng.uniform(0.1, 0.4) * _resonator(
        pulses, rng.uniform(200.0, 600.0), rng.uniform(1.0, 3.0), sr
    )
    body /= np.abs(body).max() + 1e-9
    # Rumble (exhaust, mechanics): low-passed noise, pulsing with the firing.
    rumble = _one_pole_lowpass(
        _one_pole_lowpass(_noise(rng, n), rng.uniform(150.0, 600.0), sr),
        rng.uniform(300.0, 900.0),
        sr,
    )
    rumble *= 1.0 + np.float32(rng.uniform(0.3, 0.9)) * _sin(cycles)
    rumble /= np.sqrt(np.mean(rumble**2)) + 1e-9
    wave = body + np.float32(rng.uniform(0.05, 0.25)) * rumble
    wave = _one_pole_lowpass(_one_pole_lowpass(wave, rng.uniform(500.0, 1500.0), sr), 2000.0, sr)
    return wave * (1.0 + np.float32(rng.uniform(0.1, 0.35)) * _lfo(rng, n, sr, (0.2, 1.5)))


def _rain(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    duration = n / sr
    out = np.zeros(n)
    for rate, f_range, q_range in (
        (rng.uniform(800.0, 5000.0), (2000.0, 6000.0), (0.7, 2.0)),  # fine patter
        (rng.uniform(40.0, 400.0), (500.0, 3000.0), (3.0, 8.0)),  # big drops on surfaces
    ):
        count = rng.poisson(rate * duration)
        where = rng.integers(0, n, count)
        size = rng.exponential(1.0, count) ** 2  # many small drops, a few big ones
        impulses = np.bincount(where, weights=size * rng.choice([-1.0, 1.0], count), minlength=n)
        drops = _resonator(impulses, rng.uniform(*f_range), rng.uniform(*q_range), sr)
        out += drops * (rng.uniform(0.4, 1.0) / (np.sqrt(np.mean(drops**2)) + 1e-9))
    hiss = _noise(rng, n)
    hiss = hiss - _one_pole_lowpass(hiss, rng.uniform(500.0, 2000.0), sr)  # high-passed
    out += rng.uniform(0.1, 0.5) * hiss
    return out * (1.0 + 0.3 * _lfo(rng, n, sr, (0.05, 0.4)))


def _wind(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    noise = _noise(rng, n)
    n_bands = int(rng.integers(2, 5))
    centres = np.sort(np.exp(rng.uniform(np.log(150.0), np.log(1200.0), n_bands)))
    out = np.zeros(n, dtype=np.float32)
    for i, fc in enumerate(centres):
        howl = i == n_bands - 1 and rng.random() < 0.35  # a narrow, whistling band
        q = rng.uniform(12.0, 30.0) if howl else rng.uniform(1.5, 5.0)
        band = _resonator(noise, fc, q, sr).astype(np.float32)
        band /= np.sqrt(np.mean(band**2)) + 1e-9
        # Each band swells and fades on its own: the wind's colour drifts.
        env = np.clip(0.5 + 0.7 * _lfo(rng, n, sr, (0.08, 0.6)), 0.0, None)
        out += band * env * np.float32(0.5 if howl else 1.0)
    out = _one_pole_lowpass(out, rng.uniform(800.0, 2500.0), sr)  # wind has little treble
    gusts = np.clip(0.6 + 0.6 * _lfo(rng, n, sr, (0.05, 0.3)), 0.05, None)
    return out * gusts


def _clock_ticking(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    period = rng.uniform(0.25, 1.0)
    tock = rng.random() < 0.5  # alternate two click pitches: tick-tock
    clicks = []
    for _ in range(2 if tock else 1):
        length = int(0.04 * sr)
        impulse = np.zeros(length)
        impulse[0] = 1.0
        impulse[1 : int(0.0015 * sr)] = 0.3 * _noise(rng, int(0.0015 * sr) - 1)
        click = _resonator(impulse, rng.uniform(1500.0, 6000.0), rng.uniform(5.0, 20.0), sr)
        click += 0.5 * _resonator(impulse, rng.uniform(700.0, 3000.0), rng.uniform(5.0, 15.0), sr)
        clicks.append((click * _decay(length, sr, rng.uniform(0.005, 0.03))).astype(np.float32))
    out = np.zeros(n, dtype=np.float32)
    start = float(_onset(rng, n, sr, 0.8))
    k = 0
    while start < n:
        _add(out, clicks[k % len(clicks)] * np.float32(rng.uniform(0.85, 1.0)), int(start))
        start += period * sr * rng.uniform(0.99, 1.01)
        k += 1
    return out


def _bird_chirping(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    top = min(7000.0, 0.42 * sr)
    # A bird repeats a few syllable types: draw them once per clip.
    syllables = []
    for _ in range(int(rng.integers(1, 4))):
        f_start = rng.uniform(2500.0, top)
        f_end = np.clip(f_start * 2 ** rng.uniform(-1.5, 0.8), 1800.0, top)
        syllables.append(
            (f_start, f_end, rng.uniform(0.02, 0.12), rng.uniform(0.0, 0.15), rng.uniform(20, 90))
        )
    out = np.zeros(n, dtype=np.float32)
    start = _onset(rng, n, sr, 0.5)
    while start < n:
        f_start, f_end, dur, trill, trill_rate = syllables[int(rng.integers(len(syllables)))]
        gap = rng.uniform(0.04, 0.15)
        for _ in range(int(rng.integers(2, 10))):
            length = int(dur * rng.uniform(0.85, 1.15) * sr)
            u = np.linspace(0.0, 1.0, length, dtype=np.float32)
            freq = f_start * (f_end / f_start) ** u  # exponential sweep
            freq *= 1.0 + np.float32(trill) * _sin(np.float32(trill_rate * dur) * u)
            chirp = _sin(_cycles(np.minimum(freq, top), sr, length))
            _add(out, np.float32(rng.uniform(0.5, 1.0)) * chirp * _sin(u / 2) ** 2, start)
            start += length + int(gap * sr)
        start += int(rng.uniform(0.2, 1.2) * sr)  # pause between phrases
    return out


def _drum(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    step = 60.0 / rng.uniform(70.0, 160.0) / 4  # one sixteenth note, in seconds
    voices = []
    for _ in range(int(rng.integers(1, 3))):
        f0 = np.exp(rng.uniform(np.log(50.0), np.log(400.0)))
        t60 = rng.uniform(0.12, 0.5)
        length = int(t60 * sr)
        drop = rng.uniform(1.2, 2.5)  # pitch falls from drop·f0 to f0
        fall = _decay(length, sr, 6.9 * rng.uniform(0.01, 0.04))  # e^(-t/τ)
        tone = _sin(_cycles(np.float32(f0) * (1 + np.float32(drop - 1) * fall), sr, length))
        ring = f0 * rng.uniform(1.0, 3.0)
        burst = _resonator(_noise(rng, length), ring, rng.uniform(1.0, 4.0), sr)
        burst /= np.abs(burst).max() + 1e-9
        snap = rng.uniform(0.1, 0.8)  # noisy (snare-like) or tonal (tom-like)
        hit = ((1 - snap) * tone + snap * burst) * _decay(length, sr, t60)
        pattern = rng.random(16) < rng.uniform(0.15, 0.5)
        pattern[0] = True
        voices.append((hit.astype(np.float32), pattern))
    out = np.zeros(n, dtype=np.float32)
    t0 = _onset(rng, n, sr, 0.3)
    for k in range(int((n - t0) / (step * sr)) + 1):
        for hit, pattern in voices:
            if pattern[k % 16]:
                _add(out, hit * np.float32(rng.uniform(0.6, 1.0)), t0 + int(round(k * step * sr)))
    return out


def _alarm_beeping(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    f0 = rng.uniform(1800.0, 4200.0)
    odd = [k for k in (1, 3, 5, 7) if k * f0 < 0.45 * sr]  # band-limited square wave
    amps = np.zeros(max(odd))
    amps[np.array(odd) - 1] = [1.0 / k for k in odd]
    table = _wavetable(amps * rng.uniform(0.6, 1.0, len(amps)))
    on = rng.uniform(0.05, 0.25)
    length = int(on * sr)
    beep = _lookup(table, _cycles(f0, sr, length)) * _ramp_envelope(length, int(0.002 * sr))
    group = int(rng.choice([1, 1, 2, 3, 4]))
    inner = on + rng.uniform(0.05, 0.15)
    pause = rng.uniform(0.1, 0.8) if group == 1 else rng.uniform(0.4, 1.2)
    out = np.zeros(n, dtype=np.float32)
    start = _onset(rng, n, sr, 0.4)
    while start < n:
        for j in range(group):
            _add(out, beep, start + int(j * inner * sr))
        start += int(((group - 1) * inner + on + pause) * sr)
    return out


def _electrical_hum(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    mains = rng.choice([50.0, 60.0]) * rng.uniform(0.997, 1.003)
    f0 = mains * (2 if rng.random() < 0.5 else 1)  # transformers hum at twice the mains
    top = min(rng.uniform(600.0, 3000.0), 0.45 * sr)
    n_harm = max(1, int(top // f0))
    k = np.arange(1, n_harm + 1)
    amps = k ** -rng.uniform(0.4, 1.5) * rng.uniform(0.2, 1.0, n_harm)
    if rng.random() < 0.5:  # buzz: odd harmonics stronger (a magnetically saturated core)
        amps[1::2] *= rng.uniform(0.1, 0.5)
    amps[0] = max(amps[0], 0.5)
    table = _wavetable(amps, rng.uniform(0, 2 * np.pi, n_harm))
    wave = _lookup(table, _cycles(f0, sr, n, rng.random()))
    return wave * (1.0 + np.float32(rng.uniform(0.01, 0.05)) * _lfo(rng, n, sr, (0.1, 1.0)))


def _whistling(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    base = np.exp(rng.uniform(np.log(700.0), np.log(2200.0)))
    notes = []  # (start, stop, frequency, glissando)
    start = _onset(rng, n, sr, 0.5)
    semitone = 0.0
    while start < n:
        for _ in range(int(rng.integers(2, 8))):  # a phrase of notes
            stop = min(n, start + int(rng.uniform(0.12, 0.7) * sr))
            if stop <= start:
                break
            semitone = float(np.clip(semitone + rng.integers(-5, 6), -7, 9))
            notes.append((start, stop, base * 2 ** (semitone / 12), rng.random() < 0.2))
            start = stop + int(rng.uniform(0.0, 0.06) * sr)
        start += int(rng.uniform(0.2, 0.8) * sr)
    # Pitch track: each note held until the next, then smoothed (~30 ms glides).
    pitch = np.full(n, notes[0][2], dtype=np.float32)
    gate = np.zeros(n, dtype=np.float32)
    for i, (a, b, f, gliss) in enumerate(notes):
        end = notes[i + 1][0] if i + 1 < len(notes) else n
        pitch[a:end] = f
        if gliss:  # a glissando up, as in a wolf whistle
            pitch[a:b] *= np.linspace(0.8, 1.25, b - a, dtype=np.float32)
        gate[a:b] = 1.0
    pitch = _one_pole_lowpass(pitch - pitch[0], 6.0, sr).astype(np.float32) + pitch[0]
    vibrato = 1.0 + np.float32(rng.uniform(0.005, 0.025)) * _sin(
        _cycles(rng.uniform(4.5, 7.0), sr, n)
    )
    cycles = _cycles(pitch * vibrato, sr, n)
    tone = _sin(cycles) + np.float32(rng.uniform(0.0, 0.05)) * _sin(2 * cycles)
    env = _one_pole_lowpass(gate, 40.0, sr).astype(np.float32)  # soft attacks and releases
    if rng.random() < 0.5:  # breath noise around the pitch
        tone += _resonator(_noise(rng, n), base, 8.0, sr) * rng.uniform(0.01, 0.05)
    return tone * env


def _water_dripping(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    f0 = np.exp(rng.uniform(np.log(600.0), np.log(2500.0)))
    period = rng.uniform(0.2, 0.9)
    jitter = rng.uniform(0.05, 0.35)
    out = np.zeros(n, dtype=np.float32)
    start = float(_onset(rng, n, sr, 0.6))
    while start < n:
        t60 = rng.uniform(0.03, 0.15)
        length = int(t60 * sr)
        f = f0 * rng.uniform(0.85, 1.15)
        rise = rng.uniform(1.2, 2.0)  # a bubble's pitch rises as it shrinks
        settle = _decay(length, sr, 6.9 * rng.uniform(0.005, 0.02))  # e^(-t/τ)
        freq = np.minimum(np.float32(f) * (rise - np.float32(rise - 1) * settle), 0.45 * sr)
        drop = _sin(_cycles(freq, sr, length)) * _decay(length, sr, t60)
        splash = int(0.002 * sr)
        drop[:splash] += 0.3 * _noise(rng, splash) * np.linspace(1, 0, splash, dtype=np.float32)
        _add(out, np.float32(rng.uniform(0.5, 1.0)) * drop, int(start))
        start += period * sr * rng.uniform(1 - jitter, 1 + jitter)
    return out


_GENERATORS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "siren": _siren,
    "telephone_ring": _telephone_ring,
    "bell": _bell,
    "plucked_string": _plucked_string,
    "engine_idling": _engine_idling,
    "rain": _rain,
    "wind": _wind,
    "clock_ticking": _clock_ticking,
    "bird_chirping": _bird_chirping,
    "drum": _drum,
    "alarm_beeping": _alarm_beeping,
    "electrical_hum": _electrical_hum,
    "whistling": _whistling,
    "water_dripping": _water_dripping,
}

#: Classes that sound for the whole clip unless given an activity window (see ``_finish``).
_CONTINUOUS = frozenset({"siren", "engine_idling", "rain", "wind", "electrical_hum"})


def _finish(x: np.ndarray, rng: np.random.Generator, sr: int, continuous: bool) -> np.ndarray:
    """What every clip gets: an activity window (continuous classes), colouring, reverb, level."""
    n = len(x)
    x = np.asarray(x, dtype=np.float32)
    if continuous and rng.random() < 0.5:  # starts late and/or stops early, with fades
        start = int(rng.uniform(0.0, 0.3) * n)
        stop = int(rng.uniform(0.7, 1.0) * n)
        env = np.zeros(n, dtype=np.float32)
        env[start:stop] = _ramp_envelope(stop - start, int(rng.uniform(0.05, 0.4) * sr))
        x = x * env
    colour = rng.random()
    if colour < 0.5:  # darker or brighter: blend with a low-passed copy
        low = _one_pole_lowpass(x, rng.uniform(800.0, 5000.0), sr)
        mix = rng.uniform(0.2, 0.8)
        x = (1 - mix) * x + mix * low if colour < 0.3 else x + mix * (x - low)
    if rng.random() < 0.35:  # a little room: exponentially decaying noise as impulse response
        t60 = rng.uniform(0.15, 0.7)
        length = int(t60 * sr)
        ir = _noise(rng, length) * _decay(length, sr, t60)
        ir /= np.sqrt(np.sum(ir**2))
        wet = signal.fftconvolve(x, ir)[:n]
        mix = rng.uniform(0.1, 0.35)
        x = (1 - mix) * x + mix * wet
    peak = np.abs(x).max()
    if peak < 1e-6:  # cannot happen with the recipes above; kept as a guard
        return np.zeros(n, dtype=np.float32)
    level = 10 ** (rng.uniform(-20.0, -1.0) / 20)  # peak level, -20 to -1 dBFS
    return (x * (level / peak)).astype(np.float32)


def _class_key(class_name: str) -> int:
    """A stable integer for a class id (mixed into its random stream)."""
    return zlib.crc32(class_name.encode("utf-8"))


def _check_class(class_name: str) -> None:
    if class_name not in _GENERATORS:
        raise ValueError(f"unknown class {class_name!r}; choose from {', '.join(CLASSES)}")


def synthesize(
    class_name: str,
    seed: int,
    sample_rate: int = 16000,
    duration: float = DEFAULT_DURATION,
) -> np.ndarray:
    """One clip of ``class_name``: a float32 array ``(L,)`` with ``L = round(duration · sr)``.

    Deterministic: the clip depends only on the arguments (the random stream is
    ``np.random.default_rng([seed, crc32(class_name)])``). Peak level is between -20 and
    -1 dBFS. Frequencies are chosen in Hz independently of ``sample_rate`` (and kept below
    0.45 · ``sample_rate``), so the same seed gives the same kind of sound at 16 and 32 kHz.

    Taught in chapter 6 (Data).
    """
    _check_class(class_name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 4000:
        raise ValueError(f"sample_rate must be an integer of at least 4000 Hz, got {sample_rate!r}")
    n = int(round(float(duration) * sample_rate))
    if not math.isfinite(duration) or n < int(0.05 * sample_rate):
        raise ValueError(f"duration must be at least 0.05 s, got {duration!r}")
    rng = np.random.default_rng([int(seed), _class_key(class_name)])
    raw = _GENERATORS[class_name](rng, int(sample_rate), n)
    return _finish(raw[:n], rng, int(sample_rate), class_name in _CONTINUOUS)


# --------------------------------------------------------------------------------------------
# Splits, captions and the dataset.
# --------------------------------------------------------------------------------------------


def _check_split(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return SPLITS.index(split)


def clip_seed(split: str, index: int, seed: int = 0) -> int:
    """The clip seed of item ``index`` of a split, for base seed ``seed``.

    ``split_number · 2**48 + seed · 2**32 + index``: the three splits occupy disjoint seed
    ranges, so no clip can appear in two splits, and each base seed (``0 ≤ seed < 2**16``)
    has its own block of ``2**32`` clips. Taught in chapter 6 (Data).
    """
    code = _check_split(split)
    if not 0 <= int(seed) < _SPLIT_STRIDE // _BASE_STRIDE:
        raise ValueError(f"seed must be in [0, {_SPLIT_STRIDE // _BASE_STRIDE}), got {seed}")
    if not 0 <= int(index) < _BASE_STRIDE:
        raise ValueError(f"index must be in [0, 2**32), got {index}")
    return code * _SPLIT_STRIDE + int(seed) * _BASE_STRIDE + int(index)


def clip_caption(class_name: str, seed: int) -> str:
    """The caption that goes with the clip of ``class_name`` and ``seed`` (one of its
    :data:`CAPTIONS`, chosen from the seed)."""
    _check_class(class_name)
    rng = np.random.default_rng([int(seed), _class_key(class_name), 1])
    options = CAPTIONS[class_name]
    return options[int(rng.integers(len(options)))]


class SyntheticClips(LabelledClips):
    """Labelled, captioned clips of the synthetic corpus for one split (a ``torch`` Dataset).

    Item ``i`` is ``dict(wave=Tensor (1, L) float32, label=str, caption=str, index=int,
    seed=int)``: class ``classes[i % len(classes)]`` (so every class is equally frequent),
    clip seed :func:`clip_seed` ``(split, i, seed)``. Items are computed on demand and depend
    only on ``(split, seed, i)``: any number of ``DataLoader`` workers, any order, and resumed
    runs all see the same clips.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"`` (disjoint seed ranges).
        sample_rate: Hz.
        duration: clip length in seconds; ``None`` leaves it to the consumer (a
            :class:`~lassnet.data.MixtureDataset` makes the clips at its segment length;
            read directly, such clips last :data:`DEFAULT_DURATION`).
        count: number of items (default 14,000 train, 700 validation/test; up to ``2**32``:
            the corpus is unlimited).
        classes: a subset of :data:`CLASSES` (default all).
        seed: base seed; a different base seed gives a different set of clips of the split.

    Taught in chapter 6 (Data).
    """

    def __init__(
        self,
        split: str = "train",
        sample_rate: int = 16000,
        duration: float | None = DEFAULT_DURATION,
        count: int | None = None,
        classes: Sequence[str] | None = None,
        seed: int = 0,
    ):
        _check_split(split)
        classes = tuple(CLASSES if classes is None else classes)
        if not classes:
            raise ValueError("classes must not be empty")
        for c in classes:
            _check_class(c)
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes must not repeat, got {classes}")
        count = _DEFAULT_COUNTS[split] if count is None else int(count)
        if not 0 < count <= _BASE_STRIDE:
            raise ValueError(f"count must be in [1, 2**32], got {count}")
        clip_seed(split, 0, seed)  # validates seed
        if duration is not None and not duration >= 0.05:
            raise ValueError(f"duration must be at least 0.05 s, got {duration}")
        self.split = split
        self.sample_rate = int(sample_rate)
        self.duration = None if duration is None else float(duration)
        self.count = count
        self.classes = classes
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.count

    def with_duration(self, duration: float) -> SyntheticClips:
        """The same clip set (split, classes, seed, count) with clips of ``duration`` seconds."""
        return SyntheticClips(
            self.split, self.sample_rate, duration, self.count, self.classes, self.seed
        )

    def item_classes(self, index: int) -> tuple[str, ...]:
        return (self.classes[self._check_index(index) % len(self.classes)],)

    def indices_of(self, class_name: str) -> range:
        """Indices of the items of ``class_name``: every ``len(classes)``-th item."""
        if class_name not in self.classes:
            raise ValueError(f"class {class_name!r} is not in this dataset ({self.classes})")
        return range(self.classes.index(class_name), self.count, len(self.classes))

    def __getitem__(self, index: int) -> dict:
        index = self._check_index(index)
        label = self.classes[index % len(self.classes)]
        seed = clip_seed(self.split, index, self.seed)
        duration = DEFAULT_DURATION if self.duration is None else self.duration
        wave = synthesize(label, seed, self.sample_rate, duration)
        return {
            "wave": torch.from_numpy(wave)[None],  # (1, L)
            "label": label,
            "caption": clip_caption(label, seed),
            "index": index,
            "seed": seed,
        }

    def __repr__(self) -> str:
        return (
            f"SyntheticClips(split={self.split!r}, sample_rate={self.sample_rate}, "
            f"duration={self.duration}, count={self.count}, classes={len(self.classes)}, "
            f"seed={self.seed})"
        )


# --------------------------------------------------------------------------------------------
# The class table and the example folder.
# --------------------------------------------------------------------------------------------


class ClassTable(list):
    """The corpus ontology: a list of rows (dicts with ``class``, ``description``,
    ``captions``). Prints as text, shows as an HTML table in a notebook, and converts with
    :meth:`to_text`, :meth:`to_markdown`, :meth:`to_html`."""

    def to_text(self) -> str:
        width = max(len(row["class"]) for row in self)
        lines = []
        for row in self:
            lines.append(f"{row['class']:<{width}}  {row['description']}")
            lines.append(f"{'':<{width}}  captions: " + " | ".join(row["captions"]))
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = ["| class | how it is made | captions |", "| --- | --- | --- |"]
        for row in self:
            caps = "; ".join(f"“{c}”" for c in row["captions"])
            lines.append(f"| `{row['class']}` | {row['description']} | {caps} |")
        return "\n".join(lines)

    def to_html(self) -> str:
        head = "<tr><th>class</th><th>how it is made</th><th>captions</th></tr>"
        body = "".join(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>".format(
                html.escape(row["class"]),
                html.escape(row["description"]),
                "<br>".join(html.escape(c) for c in row["captions"]),
            )
            for row in self
        )
        return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()


def class_table(classes: Sequence[str] | None = None) -> ClassTable:
    """The class/caption table of the corpus, one row per class:
    ``{"class": id, "description": how it is made, "captions": (...)}``.
    Taught in chapter 6 (Data)."""
    classes = CLASSES if classes is None else classes
    for c in classes:
        _check_class(c)
    return ClassTable(
        {"class": c, "description": DESCRIPTIONS[c], "captions": CAPTIONS[c]} for c in classes
    )


def corpus_examples(
    split: str = "test",
    sample_rate: int = 16000,
    duration: float | None = None,
    *,
    seed: int = 0,
    classes: Sequence[str] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """One clip of every class, for looking at the corpus: ``(clips, captions)``, each keyed
    by class id in corpus order (``clips[c]`` a ``(1, L)`` wave, ``captions[c]`` its caption).

    The first clip of each class of ``SyntheticClips(split, sample_rate, duration, seed=seed)``
    (default ``duration``: :data:`DEFAULT_DURATION`). Draw them with
    :func:`lassnet.plot.plot_corpus`. Taught in chapter 6 (Data).
    """
    classes = tuple(CLASSES if classes is None else classes)
    source = SyntheticClips(split, sample_rate, DEFAULT_DURATION if duration is None else duration,
                            count=len(classes), classes=classes, seed=seed)
    items = [source[i] for i in range(len(source))]
    return ({it["label"]: it["wave"] for it in items},
            {it["label"]: it["caption"] for it in items})


def write_examples(
    folder: str | os.PathLike,
    per_class: int = 1,
    sample_rate: int = 16000,
    duration: float = DEFAULT_DURATION,
    split: str = "test",
    seed: int = 0,
    classes: Sequence[str] | None = None,
) -> Path:
    """Write ``per_class`` example clips of every class as WAV files, plus ``metadata.csv``.

    Files are named ``<class>_<k>.wav``; the CSV has columns ``filename, label, caption,
    split, seed`` (the clip seed, to regenerate the clip exactly). The clips are the first
    items of each class in ``SyntheticClips(split, ..., seed=seed)``. The folder can be read
    back with :class:`lassnet.data.FolderDataset`. Returns the CSV path.
    Taught in chapter 6 (Data).
    """
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    from ..audio import save_audio

    clips = SyntheticClips(
        split,
        sample_rate,
        duration,
        count=per_class * len(classes or CLASSES),
        classes=classes,
        seed=seed,
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for cls in clips.classes:
        for k, index in enumerate(clips.indices_of(cls)[:per_class]):
            item = clips[index]
            name = f"{cls}_{k}.wav"
            save_audio(folder / name, item["wave"], sample_rate)
            rows.append(
                {
                    "filename": name,
                    "label": cls,
                    "caption": item["caption"],
                    "split": split,
                    "seed": item["seed"],
                }
            )
    path = folder / "metadata.csv"
    with atomic_write(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["filename", "label", "caption", "split", "seed"])
        writer.writeheader()
        writer.writerows(rows)
    return path
