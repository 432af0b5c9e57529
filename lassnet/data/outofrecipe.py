"""An out-of-recipe test corpus: the same fourteen classes, made another way (taught in
chapter 9, "From synthetic to real": how far the separator generalises beyond its recipes).

The separator is trained on :mod:`lassnet.data.synthetic`, whose every class comes from one
small recipe (Karplus–Strong for a plucked string, church-bell partials for a bell, ...). A
model can score well on that corpus's own test split by learning the recipes rather than the
sounds. This module is an independently written second synthesiser of the same classes, to
test on *sounds of these classes the model was not built around*:

* other sound models for every class (a two-tone or a mechanical siren passing by with its
  Doppler shift, a 400 + 450 Hz double ring or a clapper between two gongs, FM, tubular and
  small bells, modal synthesis of plucked strings, engines of one to eight cylinders with
  their firing orders, rain on a roof, leaves, a window or the ground, ...; see
  :data:`OUT_OF_RECIPE_DESCRIPTIONS`);
* a recording chain drawn independently for every clip: a room (early reflections and a
  decaying tail whose highs die first, outdoors, in a room or in a hall), a microphone's
  equaliser (band limits, tilt, a presence bump; sometimes a telephone band), soft clipping
  or compression, a noise floor, and a level set by the loudness of the sound, not its peak;
* captions written independently of the training captions (:data:`OUT_OF_RECIPE_CAPTIONS`:
  none equal to a training caption, most in other words).

It has a test split only: :class:`OutOfRecipeClips` refuses ``"train"`` and ``"validation"``,
since a model trained or tuned on it would no longer be tested out of recipe. Its clip seeds
(:func:`out_of_recipe_seed`) lie outside the three seed ranges of the main corpus, and its
random streams carry their own key, so no clip of either corpus is a clip of the other.

Every clip is a pure function of ``(class, seed, sample_rate, duration)``
(:func:`synthesize_out_of_recipe`): the same on every machine. All randomness comes from
``numpy.random.default_rng`` seeded explicitly.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import scipy.fft
import torch
from scipy import signal

from .base import LabelledClips
from .synthetic import CLASSES, DEFAULT_DURATION

__all__ = [
    "OUT_OF_RECIPE_CAPTIONS",
    "OUT_OF_RECIPE_DESCRIPTIONS",
    "synthesize_out_of_recipe",
    "out_of_recipe_seed",
    "out_of_recipe_caption",
    "OutOfRecipeClips",
]

#: Captions of the out-of-recipe corpus: paraphrases written apart from the training captions
#: (:data:`lassnet.data.CAPTIONS`), none equal to one of them. A clip's caption is one of its
#: class's, drawn from its seed.
OUT_OF_RECIPE_CAPTIONS: dict[str, tuple[str, ...]] = {
    "siren": (
        "a police car's siren going past",
        "an ambulance speeding by with its two-tone horn",
        "the rising and falling howl of an air-raid warning",
        "emergency vehicles blaring through traffic",
        "a fire truck's siren approaching and fading",
        "the hee-haw of a European ambulance",
    ),
    "telephone_ring": (
        "an old rotary phone's bell jangling",
        "a landline ringing in the next room",
        "the double ring of a British telephone",
        "a desk phone that nobody answers",
        "the brrring of a vintage telephone",
        "a cordless handset trilling",
    ),
    "bell": (
        "a handbell being rung",
        "the deep toll of a large bell",
        "a bicycle bell dinging",
        "tubular bells struck once",
        "a small brass bell chiming",
        "a singing bowl resonating after a strike",
    ),
    "plucked_string": (
        "fingers plucking the strings of a harp",
        "a ukulele strummed gently",
        "someone picking a melody on a mandolin",
        "pizzicato notes on a violin",
        "the twang of a plucked bass string",
        "a classical guitar arpeggio",
    ),
    "engine_idling": (
        "a parked car with its motor running",
        "a motorcycle ticking over at a standstill",
        "a diesel truck rumbling while stationary",
        "a boat engine chugging at low revs",
        "a tractor idling in the yard",
        "a bus waiting with the engine on",
    ),
    "rain": (
        "a downpour drumming on a tin roof",
        "rain pattering on leaves",
        "raindrops tapping against a window",
        "a steady shower outside",
        "drizzle falling on the pavement",
        "a rainstorm",
    ),
    "wind": (
        "a gale blowing outside",
        "gusts of wind whistling through a gap",
        "wind moaning around the house",
        "air rushing past in strong gusts",
        "a blustery day with the wind roaring",
        "a stiff breeze",
    ),
    "clock_ticking": (
        "a grandfather clock's slow tick-tock",
        "a wristwatch ticking",
        "the steady tick of a mantel clock",
        "a clockwork kitchen timer clicking away",
        "a pendulum keeping time in a quiet room",
        "the tick-tock of a timepiece on the shelf",
    ),
    "bird_chirping": (
        "a sparrow chirping",
        "songbirds calling to each other",
        "a bird trilling in a tree",
        "the dawn chorus",
        "a little bird tweeting outside the window",
        "a finch warbling",
    ),
    "drum": (
        "someone beating a tom-tom",
        "hand drums being played",
        "a conga rhythm",
        "bongos being tapped",
        "a djembe played with bare hands",
        "a bass drum pounding",
    ),
    "alarm_beeping": (
        "a digital alarm clock beeping",
        "a truck's reversing beeper",
        "the high-pitched beep of a smoke detector",
        "a microwave beeping when it is done",
        "an intermittent electronic warning tone",
        "a watch alarm going beep beep beep",
    ),
    "electrical_hum": (
        "the drone of a transformer",
        "a fluorescent light buzzing",
        "mains hum coming from an amplifier",
        "a ground loop humming through speakers",
        "the buzz of an electrical substation",
        "a neon sign buzzing",
    ),
    "whistling": (
        "a little song whistled by a passer-by",
        "a cheerful tune whistled while working",
        "a wolf whistle",
        "a boy whistling to himself",
        "a breathy whistle of a few notes",
        "someone whistling for a dog",
    ),
    "water_dripping": (
        "a tap slowly dripping into a bucket",
        "drips falling into a puddle",
        "water dripping drop by drop in a cave",
        "a leaking pipe dripping",
        "droplets plinking into a basin",
        "a slow drip in the kitchen sink",
    ),
}

#: How each class is made here, in one line (set beside :data:`lassnet.data.DESCRIPTIONS`).
OUT_OF_RECIPE_DESCRIPTIONS: dict[str, str] = {
    "siren": "two-tone hi-lo, a mechanical rotor spinning up and down, or a warble; "
    "harmonic-rich; half of them passing by (Doppler shift and distance)",
    "telephone_ring": "440+480 Hz or 400+450 Hz double rings, a clapper between two gongs, "
    "or two alternating electronic tones, in telephone cadences",
    "bell": "FM bells, tubular bells (free-bar modes), small bells with beating doublets "
    "rung in twos, or singing bowls",
    "plucked_string": "modal synthesis: slightly inharmonic partials, pluck-position spectrum, "
    "highs decaying faster; harp, guitar, pizzicato, bass or banjo; melodies, arpeggios, strums",
    "engine_idling": "one to eight cylinders with their firing orders (uneven for a V-twin), "
    "exhaust pulses through a pipe resonance, rpm hunting, sometimes diesel clatter",
    "rain": "drops with a surface's sound (tin roof pings, leaf taps, window clicks, ground "
    "splashes) at many densities, over a wash of distant rain",
    "wind": "pink or brown noise whose gusts (a random walk) brighten it, sometimes with "
    "whistling narrow bands whose pitch follows the gusts",
    "clock_ticking": "escapement clicks (two or three sub-clicks through case modes), tick "
    "and tock told apart, with a beat error; 0.5 to 8 beats per second",
    "bird_chirping": "syllables of a repertoire (trills, down-slurs, warbles, chips, thin "
    "whistles) in phrases, one or two birds",
    "drum": "membrane modes (circular-membrane ratios) with a hand or stick attack; toms, "
    "congas, bongos, bass drum; clave, tresillo and other patterns, humanised",
    "alarm_beeping": "piezo beeps (2-4 kHz), square or pulse waves, in patterns such as "
    "beep-beep-beep-pause, fast groups of four, or a reversing beeper",
    "electrical_hum": "60 Hz family: rectified-sine transformer hum at 120 Hz, soft-square "
    "ground-loop buzz (odd harmonics), ballast pulses, motor harmonics",
    "whistling": "melodic motifs, wolf whistles and calls, glides between notes, vibrato "
    "that sets in late, breath noise around the pitch",
    "water_dripping": "chirped-bubble drops, drops ringing a bucket, low plops, from one or "
    "two taps at their own rates",
}

#: Where this corpus's clip seeds start: after the three split ranges of the main corpus
#: (``split · 2**48`` for splits 0-2; see :func:`lassnet.data.clip_seed`).
_SEED_OFFSET = 3 * 2**48
_BASE_STRIDE = 2**32
_MAX_BASE_SEED = 2**16
_DEFAULT_COUNT = 700
#: Mixed into every random stream of this corpus, so that its streams are not the main's.
_KEY = zlib.crc32(b"lassnet out-of-recipe corpus")


# --------------------------------------------------------------------------------------------
# Signal helpers (numpy, vectorised; float32 signals, float64 where phase accumulates).
# --------------------------------------------------------------------------------------------

_TWO_PI = 2.0 * math.pi


def _phase(freq: np.ndarray | float, sr: int, n: int, start: float = 0.0) -> np.ndarray:
    """Phase in radians, wrapped to ``[0, 2π)``, float32 ``(n,)``, of an oscillator of
    (time-varying) frequency ``freq`` Hz. Accumulated in float64, then wrapped, so that it
    stays exact over any duration."""
    if np.ndim(freq) == 0:
        cycles = start + np.arange(n, dtype=np.float64) * (float(freq) / sr)
    else:
        cycles = start + np.cumsum(np.asarray(freq, dtype=np.float64)[:n]) / sr
    return (np.mod(cycles, 1.0) * _TWO_PI).astype(np.float32)


def _harmonics(theta: np.ndarray, amps: Sequence[float]) -> np.ndarray:
    """``Σ_k amps[k-1] · sin(k·θ)`` for ``k = 1..len(amps)`` (zero amplitudes skipped)."""
    out = np.zeros(len(theta), dtype=np.float32)
    for k, a in enumerate(amps, start=1):
        if a:
            out += np.float32(a) * np.sin(np.float32(k) * theta)
    return out


def _uniform_noise(rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
    """Zero-mean noise of unit variance (uniform samples)."""
    return (rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(math.sqrt(12))


def _biquad(kind: str, freq: float, q: float, sr: int, gain_db: float = 0.0):
    """Coefficients ``(b, a)`` of a second-order filter (the audio-EQ cookbook's forms):
    ``"bandpass"`` (peak gain 1) or ``"peak"`` (a bump of ``gain_db`` at ``freq``)."""
    freq = min(max(freq, 1.0), 0.45 * sr)
    w = _TWO_PI * freq / sr
    cw, alpha = math.cos(w), math.sin(w) / (2.0 * q)
    if kind == "bandpass":
        b = [alpha, 0.0, -alpha]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:  # peak
        g = 10 ** (gain_db / 40)
        b = [1 + alpha * g, -2 * cw, 1 - alpha * g]
        a = [1 + alpha / g, -2 * cw, 1 - alpha / g]
    return np.array(b) / a[0], np.array(a) / a[0]


def _filter(x: np.ndarray, kind: str, freq: float, q: float, sr: int, gain_db: float = 0.0):
    """``x`` through :func:`_biquad` ``(kind, freq, q)``; float32 out."""
    b, a = _biquad(kind, freq, q, sr, gain_db)
    return signal.lfilter(b, a, x).astype(np.float32)


def _smooth(x: np.ndarray, cutoff: float, sr: int) -> np.ndarray:
    """One-pole low-pass at ``cutoff`` Hz (for control curves and gentle colouring)."""
    c = math.exp(-_TWO_PI * min(cutoff, 0.45 * sr) / sr)
    return signal.lfilter([1 - c], [1, -c], x).astype(np.float32)


def _wander(rng: np.random.Generator, n: int, sr: int, rate: float) -> np.ndarray:
    """A smooth random curve in ``[-1, 1]``: random values ``rate`` times a second, joined by
    smoothstep segments. Float32 ``(n,)``."""
    knots = int(n / sr * rate) + 3
    values = rng.uniform(-1.0, 1.0, knots).astype(np.float32)
    pos = np.arange(n, dtype=np.float32) * np.float32(rate / sr) + np.float32(rng.random())
    i = pos.astype(np.int64)
    u = pos - i
    u = u * u * (np.float32(3) - np.float32(2) * u)
    return values[i] + (values[i + 1] - values[i]) * u


def _band_noise(
    rng: np.random.Generator, centre: np.ndarray | float, bandwidth: float, sr: int, n: int
) -> np.ndarray:
    """Narrow-band noise of unit variance around a (moving) centre frequency: a slowly varying
    random complex amplitude (``bandwidth`` Hz wide, drawn at a low rate and interpolated)
    carried by an oscillator at ``centre``. Float32 ``(n,)``."""
    rate = 2.0 * bandwidth  # knots per second
    knots = int(n / sr * rate) + 2
    pos = np.arange(n, dtype=np.float64) * (rate / sr)
    grid = np.arange(knots)
    re = np.interp(pos, grid, rng.standard_normal(knots)).astype(np.float32)
    im = np.interp(pos, grid, rng.standard_normal(knots)).astype(np.float32)
    theta = _phase(centre, sr, n, rng.random())
    return (re * np.cos(theta) - im * np.sin(theta)) * np.float32(math.sqrt(1.5))


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pink noise (−3 dB per octave), unit variance: white noise through a three-pole
    approximation of a 1/f filter."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    x = signal.lfilter(b, a, _uniform_noise(rng, n)).astype(np.float32)
    return x / (np.float32(np.std(x)) + np.float32(1e-9))


def _brown(rng: np.random.Generator, n: int, sr: int, corner: float = 40.0) -> np.ndarray:
    """Brown noise (−6 dB per octave above ``corner`` Hz), unit variance."""
    x = _smooth(_uniform_noise(rng, n), corner, sr)
    return x / (np.float32(np.std(x)) + np.float32(1e-9))


def _place(out: np.ndarray, event: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Add ``gain · event`` into ``out`` from sample ``start``, cut at the end of ``out``."""
    if start >= len(out) or start < 0:
        return
    stop = min(len(out), start + len(event))
    out[start:stop] += np.float32(gain) * event[: stop - start]


def _convolve_trains(n: int, trains: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """``Σ_k trains[k][0] * trains[k][1]``: impulse trains ``(n,)`` convolved with their event
    kernels, summed and cut to ``n`` samples; one inverse FFT for all of them."""
    size = scipy.fft.next_fast_len(n + max(len(k) for _, k in trains) - 1, real=True)
    total = None
    for impulses, kernel in trains:
        spec = scipy.fft.rfft(impulses.astype(np.float32), size) * scipy.fft.rfft(
            kernel.astype(np.float32), size
        )
        total = spec if total is None else total + spec
    return scipy.fft.irfft(total, size)[:n].astype(np.float32)


def _train(n: int, starts: np.ndarray, gains: np.ndarray | float = 1.0) -> np.ndarray:
    """An impulse train ``(n,)``: ``gains`` at the sample indices ``starts`` (those past the
    end dropped; coinciding impulses add)."""
    starts = np.asarray(starts, dtype=np.int64)
    gains = np.broadcast_to(np.asarray(gains, dtype=np.float64), starts.shape)
    keep = (starts >= 0) & (starts < n)
    return np.bincount(starts[keep], weights=gains[keep], minlength=n).astype(np.float32)


def _decaying(length: int, sr: int, t60: float, power: float = 1.0) -> np.ndarray:
    """``exp(-(t/τ)^power)`` reaching −60 dB at ``t60`` seconds (power 1: exponential;
    above 1 a held, then faster, fall)."""
    t = np.arange(length, dtype=np.float32) / np.float32(t60 * sr)
    if power != 1:
        t = t ** np.float32(power)
    return np.exp(np.float32(-6.9078) * t)


_RING_BLOCK = 512


def _ringing(
    freqs: np.ndarray, amps: np.ndarray, t60s: np.ndarray, phases: np.ndarray, sr: int,
    length: int,
) -> np.ndarray:
    """``Σ_k amps[k] · exp(−6.91·t / t60s[k]) · sin(2π·freqs[k]·t + phases[k])``, float32
    ``(length,)``: exponentially decaying sinusoids (a struck or plucked object's modes).

    Each mode is a complex exponential ``z_k^i`` with ``z_k = exp(−6.91/(t60_k·sr) +
    j·2π·f_k/sr)``. Written as blocks of 512 samples, ``z_k^(512·m + b) = z_k^(512·m) ·
    z_k^b``, the sum over the modes is a matrix product of the block starts ``(M, K)`` and
    the first block ``(K, 512)`` (its imaginary part: two real products, stacked): no sine or
    exponential per sample. The product is taken a few rows at a time, small enough for BLAS
    to run it on one thread (threads only slow such small products down on a busy machine).
    """
    keep = (freqs < 0.45 * sr) & (amps > 0)
    if not keep.any():
        return np.zeros(length, dtype=np.float32)
    rate = -6.9078 / (t60s[keep] * sr) + 1j * (_TWO_PI / sr) * freqs[keep]  # (K,)
    first = np.exp(np.outer(rate, np.arange(_RING_BLOCK)))  # (K, B)
    first *= (amps[keep] * np.exp(1j * phases[keep]))[:, None]
    starts = np.exp(np.outer(np.arange(-(-length // _RING_BLOCK)) * _RING_BLOCK, rate))  # (M, K)
    # Im(S·F) = Re(S)·Im(F) + Im(S)·Re(F): one real product of (M, 2K) and (2K, B).
    left = np.concatenate([starts.real, starts.imag], axis=1).astype(np.float32)  # (M, 2K)
    right = np.concatenate([first.imag, first.real], axis=0).astype(np.float32)  # (2K, B)
    out = np.empty((len(left), _RING_BLOCK), dtype=np.float32)  # (M, B)
    rows = max(1, 200_000 // right.size)
    for i in range(0, len(left), rows):
        np.matmul(left[i : i + rows], right, out=out[i : i + rows])
    return out.reshape(-1)[:length]


def _modes(
    freqs: Sequence[float], amps: Sequence[float], t60s: Sequence[float], sr: int, length: int,
    rng: np.random.Generator, beat: Sequence[float] | None = None,
) -> np.ndarray:
    """A struck object: its modes as decaying sinusoids ``(length,)`` in random phases. A
    nonzero ``beat`` (Hz) splits a mode into two close ones (65 % and 35 % of its amplitude)
    that beat at that rate, as the slightly asymmetric modes of a real bell do."""
    freqs, amps, t60s = (np.asarray(v, dtype=np.float64) for v in (freqs, amps, t60s))
    if beat is not None:
        beat = np.asarray(beat, dtype=np.float64)
        split = beat > 0
        freqs = np.concatenate([freqs, freqs[split] + beat[split]])
        amps = np.concatenate([np.where(split, 0.65, 1.0) * amps, 0.35 * amps[split]])
        t60s = np.concatenate([t60s, t60s[split]])
    return _ringing(freqs, amps, t60s, rng.uniform(0.0, _TWO_PI, len(freqs)), sr, length)


def _first_onset(rng: np.random.Generator, n: int, sr: int) -> int:
    """Where a clip's first event starts: within 0.25 s and within the first 15 % of the clip,
    so that short clips are never silent."""
    return int(rng.uniform(0.0, min(0.25 * sr, 0.15 * n)))


def _ramped(length: int, ramp: int) -> np.ndarray:
    """A gate of ``length`` ones with raised-cosine ramps of ``ramp`` samples at both ends."""
    gate = np.ones(length, dtype=np.float32)
    r = max(1, min(ramp, length // 2))
    rise = (0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, r, dtype=np.float32))).astype(np.float32)
    gate[:r] = rise
    gate[length - r :] = rise[::-1]
    return gate


# --------------------------------------------------------------------------------------------
# The fourteen recipes. Each takes (rng, sr, n) and returns n float32 samples, any level.
# --------------------------------------------------------------------------------------------


def _siren(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float64) / sr
    style = rng.choice(3, p=[0.4, 0.3, 0.3])
    if style == 0:  # two-tone hi-lo: the pitch jumps between two notes
        low, ratio, dwell = rng.uniform(380, 950), rng.uniform(1.2, 1.5), rng.uniform(0.3, 0.9)
        high = np.floor(t / dwell + rng.uniform(0.0, 2.0)) % 2
        freq = np.exp(_smooth(np.log(low) + high * np.log(ratio), 40.0, sr)).astype(np.float64)
    elif style == 1:  # a mechanical siren: a rotor spinning up under power, coasting down
        top = rng.uniform(450, 1100)
        bottom = top * rng.uniform(0.25, 0.55)
        tau_up, tau_down = rng.uniform(0.3, 1.2), rng.uniform(0.6, 2.0)
        on, off = rng.uniform(1.0, 3.0), rng.uniform(0.8, 2.5)
        speed = np.empty(n)
        level, powered, pos = rng.uniform(0.0, 1.0), bool(rng.integers(2)), 0
        first = True
        while pos < n:
            span = (on if powered else off) * (rng.uniform(0.2, 1.0) if first else 1.0)
            stop = min(n, pos + max(1, int(span * sr)))
            goal, tau = (1.0, tau_up) if powered else (0.0, tau_down)
            seg = goal + (level - goal) * np.exp(-(t[pos:stop] - t[pos]) / tau)
            speed[pos:stop] = seg
            level, powered, pos, first = seg[-1], not powered, stop, False
        freq = bottom + (top - bottom) * speed
    else:  # electronic warble (slow) or yelp (fast): sinusoidal frequency modulation
        centre, depth = rng.uniform(550, 1300), rng.uniform(0.08, 0.25)
        rate = rng.uniform(0.3, 1.0) if rng.random() < 0.5 else rng.uniform(3.0, 9.0)
        freq = centre * (1 + depth * np.sin(_TWO_PI * rate * t + rng.uniform(0, _TWO_PI)))
    gain = np.ones(n, dtype=np.float32)
    if rng.random() < 0.5:  # passing by: Doppler shift and distance
        speed_ms, dist = rng.uniform(8.0, 28.0), rng.uniform(4.0, 30.0)
        x = speed_ms * (t - rng.uniform(0.2, 0.8) * n / sr)  # along the road, metres
        r = np.hypot(x, dist)
        freq = freq * 343.0 / (343.0 + speed_ms * x / r)  # receding: lower
        gain = np.maximum(dist / r, 0.08).astype(np.float32)
    count = int(max(1, min(14, 0.45 * sr // freq.max())))
    k = np.arange(1, count + 1)
    timbre = rng.choice(3)
    if timbre == 0:  # sawtooth-like
        amps = 1.0 / k
    elif timbre == 1:  # square-like: odd harmonics
        amps = np.where(k % 2 == 1, 1.0 / k, 0.0)
    else:  # a horn's formant over a sawtooth
        formant = rng.uniform(1200, 3000)
        amps = k**-0.8 * (1 + 3 * np.exp(-(((k * freq.mean() - formant) / 600.0) ** 2)))
    return _harmonics(_phase(freq, sr, n), amps) * gain


def _cadence(
    rng: np.random.Generator, n: int, sr: int, bursts: Sequence[tuple[float, float]], off: float
) -> list[tuple[int, int]]:
    """Ring bursts ``(start, stop)`` in samples: the pattern ``bursts`` (pairs of on-time and
    the gap after it, seconds) then ``off`` seconds of silence, repeated from the onset."""
    spans = []
    pos = _first_onset(rng, n, sr)
    while pos < n:
        for on, gap in bursts:
            spans.append((pos, min(n, pos + int(on * sr))))
            pos += int((on + gap) * sr)
        pos += int(off * sr)
    return [(a, b) for a, b in spans if b > a]


def _telephone_ring(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    style = rng.choice(4, p=[0.3, 0.25, 0.25, 0.2])
    if style == 0:  # North American ring: 440 + 480 Hz, long rings
        tones = (440.0, 480.0)
        spans = _cadence(rng, n, sr, [(rng.uniform(1.6, 2.0), 0.0)], rng.uniform(3.0, 4.0))
    elif style in (1, 2):  # British double ring (also rung by a bell)
        tones = (400.0, 450.0)
        on, gap = rng.uniform(0.35, 0.45), rng.uniform(0.18, 0.25)
        spans = _cadence(rng, n, sr, [(on, gap), (on, 0.0)], rng.uniform(1.8, 2.2))
    else:  # an electronic ringer: two tones alternating 12-20 times a second
        low = rng.uniform(900, 1600)
        tones = (low, low * rng.uniform(1.2, 1.45))
        spans = _cadence(rng, n, sr, [(rng.uniform(0.8, 1.5), 0.0)], rng.uniform(1.5, 3.0))
    tones = tuple(f * rng.uniform(0.985, 1.015) for f in tones)
    if style == 2:  # a clapper striking two gongs in turn while the ringer is powered
        rate = rng.uniform(15.0, 22.0)
        gong = []
        base = rng.uniform(700, 1400)
        for pitch in (base, base * rng.uniform(1.05, 1.2)):
            t60 = rng.uniform(0.3, 0.9)
            ratios = np.array([1.0, 2.32, 4.25])
            length = int(t60 * sr)
            gong.append(
                _modes(pitch * ratios, [1.0, 0.5, 0.25], t60 * ratios**-0.5, sr, length, rng)
            )
        trains = [np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)]
        for a, b in spans:
            hits = np.arange(a, b, sr / (2 * rate)).astype(np.int64)
            jitter = rng.uniform(0.8, 1.0, len(hits))
            trains[0] += _train(n, hits[0::2], jitter[0::2])
            trains[1] += _train(n, hits[1::2], jitter[1::2])
        return _convolve_trains(n, list(zip(trains, gong, strict=True)))
    gate = np.zeros(n, dtype=np.float32)
    for a, b in spans:
        gate[a:b] = _ramped(b - a, int(0.006 * sr))
    if style == 3:
        switch = np.floor(np.arange(n) * (rng.uniform(12.0, 20.0) / sr)) % 2
        tone = np.sin(_phase(np.where(switch > 0, tones[1], tones[0]), sr, n))
    else:
        tone = np.sin(_phase(tones[0], sr, n, rng.random())) + np.sin(
            _phase(tones[1], sr, n, rng.random())
        )
    drive = np.float32(rng.uniform(0.3, 2.0))  # a small ringer loudspeaker
    return np.tanh(drive * tone) * gate


# Mode frequencies of a free-free bar (tubular bells, chimes), relative to the lowest.
_BAR_RATIOS = np.array([1.0, 2.756, 5.404, 8.933, 13.345])


def _bell(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    style = rng.choice(4)
    onset = _first_onset(rng, n, sr)
    strikes, spacing, repeat = int(rng.integers(1, 4)), rng.uniform(0.8, 2.5), 0.0
    if style == 0:  # FM bell: modulation index and loudness decaying together
        fc = math.exp(rng.uniform(math.log(150), math.log(1200)))
        fm = fc * rng.choice([1.4, 1.21, 3.5, 2.8]) * rng.uniform(0.99, 1.01)
        t60 = rng.uniform(1.0, 5.0)
        index = min(rng.uniform(2.0, 8.0), max(0.5, (0.45 * sr - fc) / fm - 1))
        length = min(n - onset, int(t60 * sr))
        env = _decaying(length, sr, t60)
        mod = np.float32(index) * _decaying(length, sr, t60 * rng.uniform(0.2, 0.5))
        strike = np.sin(_phase(fc, sr, length) + mod * np.sin(_phase(fm, sr, length))) * env
    else:
        if style == 1:  # tubular bell: free-bar modes, low, long
            f1, ratios = rng.uniform(120, 500), _BAR_RATIOS
            t60 = rng.uniform(2.5, 7.0)
            amps, beat = ratios**-0.5, np.zeros(len(ratios))
        elif style == 2:  # a small bell (hand or bicycle bell): high, short, doublets
            top = min(4500.0, 0.4 * sr)
            f1, ratios = math.exp(rng.uniform(math.log(1200), math.log(top))), np.array(
                [1.0, 2.32, 4.25, 6.63]
            )
            t60 = rng.uniform(0.3, 1.5)
            amps, beat = np.array([1.0, 0.6, 0.35, 0.2]), rng.uniform(2.0, 8.0, 4)
            strikes = int(rng.integers(1, 3))
            spacing, repeat = rng.uniform(0.6, 1.2), rng.uniform(0.08, 0.15)
        else:  # singing bowl: a few modes, strong slow beating, very long
            f1, ratios = rng.uniform(180, 650), np.array([1.0, 2.71, 5.02, 7.96])
            t60 = rng.uniform(4.0, 10.0)
            amps, beat = np.array([1.0, 0.7, 0.3, 0.15]), rng.uniform(0.5, 3.0, 4)
            strikes = 1
        amps = amps * rng.uniform(0.6, 1.0, len(amps))
        length = min(n - onset, int(t60 * sr))
        strike = _modes(f1 * ratios, amps, t60 * ratios**-0.7, sr, length, rng, beat)
    attack = min(len(strike), max(1, int(0.001 * sr)))
    strike[:attack] *= np.linspace(0.0, 1.0, attack, dtype=np.float32)
    starts, gains = [], []
    for i in range(strikes):
        first = onset + int(i * spacing * sr)
        starts += [first, first + int(repeat * sr)] if repeat else [first]
        gains += [rng.uniform(0.7, 1.0), rng.uniform(0.5, 0.9)] if repeat else [rng.uniform(0.7, 1)]
    return _convolve_trains(n, [(_train(n, np.array(starts), np.array(gains)), strike)])


_SCALES = (
    (0, 2, 3, 5, 7, 8, 10),  # natural minor
    (0, 2, 3, 5, 7, 9, 10),  # dorian
    (0, 2, 4, 5, 7, 9, 11),  # major
    (0, 2, 3, 5, 7, 8, 11),  # harmonic minor
)

# Plucked instruments: lowest-note range (Hz), decay time range (s), inharmonicity,
# spectral slope of the pluck, body resonances (Hz).
_INSTRUMENTS = {
    "harp": ((150.0, 500.0), (1.0, 3.0), 2e-5, 1.4, (180.0, 450.0)),
    "guitar": ((110.0, 330.0), (0.8, 2.5), 5e-5, 1.1, (100.0, 220.0)),
    "pizzicato": ((200.0, 600.0), (0.2, 0.6), 3e-5, 1.2, (280.0, 460.0)),
    "bass": ((55.0, 110.0), (1.0, 3.0), 2e-4, 1.2, (60.0, 120.0)),
    "banjo": ((150.0, 400.0), (0.4, 1.2), 4e-5, 0.8, (300.0, 600.0)),
}


def _pluck(f0: float, sr: int, length: int, t60: float, b: float, slope: float,
           position: float, damping: float) -> np.ndarray:
    """One plucked note by modal synthesis: partials ``f_k = k·f0·√(1 + B·k²)`` with the
    spectrum of a string released at ``position`` (``|sin(πkp)| / k^slope``), each decaying
    with ``1/T60_k = 1/T60 + damping·(f_k / 1 kHz)²`` (highs die first)."""
    k = np.arange(1, 25, dtype=np.float64)
    freqs = k * f0 * np.sqrt(1 + b * k * k)
    amps = np.abs(np.sin(math.pi * k * position)) / k**slope
    t60s = 1.0 / (1.0 / t60 + damping * (freqs / 1000.0) ** 2)
    out = _ringing(freqs, amps, t60s, np.zeros(len(k)), sr, length)  # all start at rest
    attack = min(length, max(2, int(0.0015 * sr)))
    out[:attack] *= np.linspace(0.0, 1.0, attack, dtype=np.float32)
    return out


def _plucked_string(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    name = list(_INSTRUMENTS)[int(rng.integers(len(_INSTRUMENTS)))]
    (lo, hi), (d_lo, d_hi), b, slope, body = _INSTRUMENTS[name]
    root = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    t60 = rng.uniform(d_lo, d_hi)
    scale = _SCALES[int(rng.integers(len(_SCALES)))]
    position, damping = rng.uniform(0.08, 0.35), rng.uniform(0.1, 1.0)
    beat = rng.uniform(0.18, 0.45)

    def degree(d: int) -> int:  # scale degree (any integer) → semitones above the root
        return 12 * (d // 7) + scale[d % 7]

    chord = [0, 2, 4] + ([6] if rng.random() < 0.4 else [])
    pattern = rng.choice(3)
    notes: list[tuple[float, int]] = []  # (time in seconds, semitones above the root)
    time = _first_onset(rng, n, sr) / sr
    step = 0
    while time < n / sr:
        if pattern == 0:  # a melody: steps of the scale, a rhythm of beats
            step = int(np.clip(step + rng.choice([-2, -1, -1, 1, 1, 2, 3]), -3, 9))
            notes.append((time, degree(step)))
            time += beat * rng.choice([0.5, 1.0, 1.0, 1.5, 2.0])
        elif pattern == 1:  # an arpeggio up and down the chord
            for d in chord + chord[-2:0:-1]:
                notes.append((time, degree(d + step)))
                time += beat * 0.5
            step = int(rng.choice([0, 3, 4, -2]))
        else:  # strums: the chord's strings a few ms apart, down and up
            strings = [degree(d + step) for d in chord + [7]]
            if len(notes) // len(strings) % 2:
                strings = strings[::-1]
            spread = rng.uniform(0.008, 0.03)
            for i, s in enumerate(strings):
                notes.append((time + i * spread, s))
            time += beat * rng.choice([1.0, 2.0, 2.0, 3.0])
            step = int(rng.choice([0, 3, 4, -2]))
    out = np.zeros(n, dtype=np.float32)
    cache: dict[int, np.ndarray] = {}
    length = min(n, int(t60 * sr))
    for when, semis in notes:
        if semis not in cache:
            cache[semis] = _pluck(root * 2 ** (semis / 12), sr, length, t60, b, slope,
                                  position, damping)
        _place(out, cache[semis], int(when * sr), rng.uniform(0.55, 1.0))
    for f in body:  # the instrument's body: two resonant bumps
        out = _filter(out, "peak", f * rng.uniform(0.85, 1.15), 2.0, sr, rng.uniform(3.0, 9.0))
    return out


# Firing offsets within a four-stroke cycle (fractions of two revolutions).
_FIRING = {
    1: (0.0,),
    2: (0.0, 315.0 / 720.0),  # a 45-degree V-twin: uneven, "potato-potato"
    3: (0.0, 1 / 3, 2 / 3),
    4: (0.0, 0.25, 0.5, 0.75),
    6: tuple(i / 6 for i in range(6)),
    8: tuple(i / 8 for i in range(8)),
}


def _engine_idling(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    cylinders = int(rng.choice([1, 2, 3, 4, 6, 8], p=[0.1, 0.15, 0.15, 0.3, 0.15, 0.15]))
    rpm = rng.uniform(1100, 1700) if cylinders == 1 else (
        rng.uniform(850, 1100) if cylinders == 2 else rng.uniform(600, 950)
    )
    hunting = 1 + rng.uniform(0.005, 0.03) * _wander(rng, n, sr, rng.uniform(0.5, 2.0))
    cycles = np.cumsum((rpm / 120.0 / sr) * hunting.astype(np.float64))  # four-stroke cycles
    cylinder_gain = rng.uniform(0.75, 1.0, cylinders)
    spread = rng.uniform(0.08, 0.25)  # cycle-to-cycle variation of the combustion
    impulses = np.zeros(n, dtype=np.float32)
    for c, offset in enumerate(_FIRING[cylinders]):
        fires = np.flatnonzero(np.diff(np.floor(cycles - offset)) > 0) + 1
        gains = cylinder_gain[c] * rng.lognormal(0.0, spread, len(fires))
        gains[rng.random(len(fires)) < rng.uniform(0.0, 0.04)] *= 0.2  # a misfire
        impulses += _train(n, fires, gains)
    # One exhaust pulse: two damped resonances and a burst of combustion noise...
    length = int(0.12 * sr)
    t = np.arange(length, dtype=np.float32) / np.float32(sr)
    f1, f2 = rng.uniform(50, 160), rng.uniform(180, 450)
    pulse = np.sin(np.float32(_TWO_PI * f1) * t) * np.exp(-t / np.float32(rng.uniform(0.015, 0.05)))
    pulse += np.float32(rng.uniform(0.2, 0.5)) * np.sin(np.float32(_TWO_PI * f2) * t) * np.exp(
        -t / np.float32(rng.uniform(0.005, 0.02))
    )
    burst = _smooth(_uniform_noise(rng, length), rng.uniform(300, 900), sr)
    pulse += np.float32(rng.uniform(0.1, 0.3)) * burst * np.exp(-t / np.float32(0.006))
    if rng.random() < 0.35:  # diesel clatter: a sharp knock with every firing
        knock = _filter(_uniform_noise(rng, length), "bandpass", rng.uniform(1500, 3000), 4.0, sr)
        pulse += np.float32(rng.uniform(0.05, 0.15)) * knock * np.exp(-t / np.float32(0.002))
    # ...through the exhaust pipe: echoes every round trip, each a little weaker.
    delay = int(sr / (2 * rng.uniform(40.0, 120.0)))
    echo = rng.uniform(0.3, 0.65)
    piped = np.zeros(length + 8 * delay, dtype=np.float32)
    for m in range(9):
        piped[m * delay : m * delay + length] += np.float32(echo**m * (-1) ** m) * pulse
    body = _convolve_trains(n, [(impulses, piped)])
    # Intake and mechanical noise, pulsing with the cycle.
    rumble = _brown(rng, n, sr, rng.uniform(60.0, 200.0))
    rumble *= np.float32(1.0) + np.float32(0.5) * np.sin(
        _phase(rpm / 120.0 * cylinders, sr, n)
    )
    body /= np.float32(np.std(body)) + np.float32(1e-9)
    return body + np.float32(rng.uniform(0.05, 0.2)) * rumble


def _rain_kernels(rng: np.random.Generator, sr: int, surface: str) -> list[np.ndarray]:
    """A few drop sounds for one surface (each drop of the clip is one of them)."""
    top = 0.42 * sr
    kernels = []
    for _ in range(4):
        if surface == "roof":  # tin roof: metallic pings
            f = rng.uniform(1500.0, min(6000.0, top))
            decay = rng.uniform(0.01, 0.05)
            ring = _modes([f, f * rng.uniform(1.4, 2.7)], [1.0, 0.5], [decay, decay * 0.6], sr,
                          int(decay * sr) + 1, rng)
            ring[0] += 1.0
            kernels.append(ring)
        elif surface == "leaves":  # soft, dull taps
            size = int(rng.uniform(0.002, 0.008) * sr) + 2
            tap = _uniform_noise(rng, size) * _decaying(size, sr, size / sr)
            kernels.append(_smooth(tap, rng.uniform(2000.0, 5000.0), sr))
        elif surface == "window":  # glass: a sharp click and a high, short ring
            decay = rng.uniform(0.005, 0.02)
            size = int(decay * sr) + 2
            click = _modes([rng.uniform(3000.0, min(7000.0, top)), rng.uniform(800.0, 1500.0)],
                           [0.6, 0.4], [decay, 0.003], sr, size, rng)
            click[0] += 1.0
            kernels.append(click)
        else:  # ground: a splash of noise, sometimes a small bubble
            size = int(rng.uniform(0.003, 0.01) * sr) + 2
            splash = np.diff(_uniform_noise(rng, size + 1)) * _decaying(size, sr, size / sr)
            if rng.random() < 0.4:
                bubble = int(0.012 * sr)
                f = rng.uniform(2000.0, min(5000.0, top)) * np.exp2(
                    np.linspace(0, 0.7, bubble, dtype=np.float32)
                )
                chirp = np.sin(_phase(np.minimum(f, top), sr, bubble)) * _decaying(
                    bubble, sr, 0.012)
                splash = np.concatenate([splash, np.zeros(bubble, dtype=np.float32)])
                splash[: bubble] += 0.5 * chirp[: len(splash)]
            kernels.append(splash.astype(np.float32))
    return kernels


def _rain(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    surface = ("roof", "leaves", "window", "ground")[int(rng.integers(4))]
    heaviness = rng.random()
    rate = math.exp(math.log(150.0) + heaviness * (math.log(6000.0) - math.log(150.0)))
    if surface == "window":
        rate *= 0.3  # only the drops that reach the pane
    count = int(rng.poisson(rate * n / sr))
    where = rng.integers(0, n, count)
    sizes = np.minimum(rng.pareto(2.5, count) + 0.2, 8.0) * rng.choice([-1.0, 1.0], count)
    which = rng.integers(0, 4, count)
    kernels = _rain_kernels(rng, sr, surface)
    trains = [(_train(n, where[which == k], sizes[which == k]), kernels[k]) for k in range(4)]
    drops = _convolve_trains(n, trains)
    drops /= np.float32(np.std(drops)) + np.float32(1e-9)
    wash = _filter(_pink(rng, n), "bandpass", rng.uniform(800.0, 3000.0), 0.7, sr)
    wash /= np.float32(np.std(wash)) + np.float32(1e-9)
    wash_level = np.float32(rng.uniform(0.1, 0.3) + 0.4 * heaviness)
    swell = np.float32(1.0) + np.float32(rng.uniform(0.1, 0.35)) * _wander(
        rng, n, sr, rng.uniform(0.2, 0.8)
    )
    return (drops + wash_level * wash) * swell


def _wind(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    # Wind speed: a log-normal random walk, gusting a few times a second or slower.
    gusts = np.exp(np.float32(rng.uniform(0.3, 0.9)) * _wander(rng, n, sr, rng.uniform(0.3, 1.5)))
    gusts /= gusts.mean()
    base = _pink(rng, n) if rng.random() < 0.5 else _brown(rng, n, sr, rng.uniform(60, 200))
    dark = _smooth(base, rng.uniform(200.0, 500.0), sr)
    bright = _smooth(base, rng.uniform(900.0, 2500.0), sr) - dark
    dark /= np.float32(np.std(dark)) + np.float32(1e-9)
    bright /= np.float32(np.std(bright)) + np.float32(1e-9)
    out = dark * gusts + np.float32(rng.uniform(0.2, 0.6)) * bright * gusts**2  # gusts brighten
    for _ in range(int(rng.choice([0, 0, 1, 2]))):  # whistling through a gap or along a wire
        pitch = rng.uniform(350.0, 1600.0) * (0.6 + 0.4 * gusts)  # rises with the wind speed
        strong = np.maximum(gusts - np.float32(rng.uniform(0.8, 1.1)), 0.0) ** 1.5
        whistle = _band_noise(rng, pitch, rng.uniform(5.0, 25.0), sr, n)
        out += np.float32(rng.uniform(0.3, 1.0)) * whistle * strong
    return out


def _clock_ticking(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    kind = rng.choice(4, p=[0.25, 0.3, 0.25, 0.2])
    # beats per second, case resonance range (Hz), click length (s)
    rate, (f_lo, f_hi), length = (
        (rng.uniform(0.5, 1.0), (200.0, 1500.0), rng.uniform(0.08, 0.15)),  # longcase clock
        (rng.uniform(1.0, 2.5), (700.0, 4000.0), rng.uniform(0.03, 0.06)),  # mantel / wall
        (rng.uniform(2.5, 4.5), (1500.0, 5000.0), rng.uniform(0.02, 0.04)),  # kitchen timer
        (rng.uniform(5.0, 8.0), (2500.0, 6500.0), rng.uniform(0.008, 0.016)),  # wristwatch
    )[kind]
    f_hi = min(f_hi, 0.42 * sr)
    size = int(length * sr)
    sounds = []
    for _ in range(2):  # tick and tock: the escapement's two sides sound different
        excitation = np.zeros(size, dtype=np.float32)
        for j in range(int(rng.integers(2, 4))):  # unlock, impulse, drop
            at = int(j * rng.uniform(0.002, 0.005) * sr)
            burst = max(2, int(rng.uniform(0.0003, 0.001) * sr))
            _place(excitation, _uniform_noise(rng, burst) * _decaying(burst, sr, burst / sr), at,
                   rng.uniform(0.4, 1.0))
        modes = np.exp(rng.uniform(math.log(f_lo), math.log(f_hi), 3))
        click = sum(
            _filter(excitation, "bandpass", f, rng.uniform(8.0, 40.0), sr) for f in modes
        )
        sounds.append(click * _decaying(size, sr, length))
    sounds[1] *= np.float32(rng.uniform(0.5, 0.9))
    period = 1.0 / rate
    beat_error = rng.uniform(-0.08, 0.08) * period
    beats = np.arange(_first_onset(rng, n, sr), n, period * sr)
    tick = beats[0::2] + rng.normal(0.0, 0.0005 * sr, len(beats[0::2]))
    tock = beats[1::2] + beat_error * sr + rng.normal(0.0, 0.0005 * sr, len(beats[1::2]))
    return _convolve_trains(n, [
        (_train(n, np.round(tick).astype(np.int64), rng.uniform(0.85, 1.0, len(tick))), sounds[0]),
        (_train(n, np.round(tock).astype(np.int64), rng.uniform(0.85, 1.0, len(tock))), sounds[1]),
    ])


def _syllable(rng: np.random.Generator, sr: int, lo: float, hi: float) -> np.ndarray:
    """One bird syllable type, as a pitch contour (Hz per sample) and an envelope."""
    kind = rng.choice(5)
    if kind == 0:  # trill: a short note repeated 10-30 times a second
        note = rng.uniform(0.015, 0.04)
        reps = int(rng.integers(4, 12))
        gap = 1.0 / rng.uniform(10.0, 30.0) - note
        f_a, f_b = rng.uniform(lo, hi, 2)
        one = int(note * sr)
        u = np.linspace(0, 1, one, dtype=np.float32)
        pitch_one = f_a + (f_b - f_a) * u
        env_one = np.sin(np.float32(math.pi) * u) ** 2
        pad = np.zeros(max(0, int(gap * sr)), dtype=np.float32)
        pitch = np.concatenate([np.concatenate([pitch_one, np.full(len(pad), f_b, np.float32)])
                                for _ in range(reps)])
        env = np.concatenate([np.concatenate([env_one, pad]) for _ in range(reps)])
        return np.stack([pitch, env])
    length = int(rng.uniform(*((0.06, 0.2), (0.1, 0.3), (0.005, 0.015), (0.1, 0.25))[kind - 1])
                 * sr)
    u = np.linspace(0, 1, max(length, 8), dtype=np.float32)
    if kind == 1:  # down-slur
        f_a = rng.uniform(0.6 * hi + 0.4 * lo, hi)
        pitch = f_a * (rng.uniform(lo, 0.8 * f_a) / f_a) ** u ** np.float32(rng.uniform(0.5, 2))
    elif kind == 2:  # warble: a fast, random, smooth contour
        middle, width = rng.uniform(lo, hi), rng.uniform(0.05, 0.2)
        pitch = middle * (1 + np.float32(width) * np.sin(
            np.float32(_TWO_PI * rng.uniform(5, 20) * length / sr) * u + np.float32(rng.random())
        ) * np.sin(np.float32(_TWO_PI * rng.uniform(1, 6) * length / sr) * u))
    elif kind == 3:  # chip: very short, steep downward sweep
        pitch = hi - (hi - lo) * u**0.5
    else:  # a thin whistle, rising slightly
        f_a = rng.uniform(lo, hi)
        pitch = f_a * (1 + np.float32(rng.uniform(0.0, 0.08)) * u)
    a, b = rng.uniform(0.3, 1.5), rng.uniform(0.8, 3.0)  # asymmetric: fast rise, slow fall
    env = u ** np.float32(a) * (1 - u) ** np.float32(b)
    env /= env.max() + np.float32(1e-9)
    return np.stack([np.clip(pitch, lo * 0.7, hi), env])


def _bird_chirping(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    top = min(8000.0, 0.42 * sr)
    out = np.zeros(n, dtype=np.float32)
    for bird in range(int(rng.choice([1, 1, 2]))):
        lo = rng.uniform(1500.0, 3500.0)
        hi = min(top, lo * rng.uniform(1.5, 3.0))
        repertoire = [_syllable(rng, sr, lo, hi) for _ in range(int(rng.integers(2, 5)))]
        second = np.float32(rng.uniform(0.0, 0.2))  # a little of the second harmonic
        level = 1.0 if bird == 0 else rng.uniform(0.3, 0.6)
        pos = _first_onset(rng, n, sr) if bird == 0 else int(rng.uniform(0.0, 0.5) * n)
        while pos < n:
            for _ in range(int(rng.integers(2, 7))):  # a phrase
                pitch, env = repertoire[int(rng.integers(len(repertoire)))]
                theta = _phase(pitch, sr, len(pitch), rng.random())
                tone = np.sin(theta)
                if 2 * hi < 0.45 * sr:
                    tone += second * np.sin(np.float32(2) * theta)
                _place(out, tone * env, pos, level * rng.uniform(0.6, 1.0))
                pos += len(pitch) + int(rng.uniform(0.02, 0.12) * sr)
            pos += int(rng.uniform(0.3, 1.5) * sr)
    return out


# Modes of an ideal circular membrane, relative to the lowest (zeros of Bessel functions).
_MEMBRANE = np.array([1.0, 1.594, 2.136, 2.296, 2.653, 2.918, 3.156, 3.501])
# Rhythms on a grid of steps: (steps per beat, pattern of one bar).
_RHYTHMS = (
    (2, "x..x..x."),  # tresillo
    (4, "x..x..x...x.x..."),  # son clave
    (4, "x.x.x..xx.x.x..x"),  # a tumbao-like conga line
    (3, "x.xx.xx.xx.x"),  # a 12/8 bell-like pattern
    (2, "x.x.xxx."),
    (4, "x...x.x.x...x.xx"),
)


def _drum_hit(rng: np.random.Generator, sr: int, f0: float, t60: float, slap: float):
    """One drum stroke: membrane modes with a short glide down in pitch, and the noise of
    the hand or stick (``slap`` its share)."""
    length = int(t60 * sr)
    freqs = f0 * _MEMBRANE * rng.uniform(0.97, 1.03, len(_MEMBRANE))
    amps = rng.uniform(0.2, 1.0, len(freqs)) * _MEMBRANE**-1.0
    amps[0] = 1.0
    t60s = t60 * _MEMBRANE**-0.8
    # The fundamental glides down a little as the membrane's tension relaxes after the hit.
    glide = np.float32(rng.uniform(0.03, 0.12)) * _decaying(length, sr, 0.05)
    hit = np.float32(amps[0]) * np.sin(_phase(f0 * (1 + glide), sr, length)) * _decaying(
        length, sr, t60s[0]
    )
    hit += _ringing(freqs[1:], amps[1:], t60s[1:], rng.uniform(0, _TWO_PI, len(freqs) - 1), sr,
                    length)
    contact = max(2, int(rng.uniform(0.002, 0.008) * sr))
    noise = np.diff(_uniform_noise(rng, contact + 1)) * _decaying(contact, sr, contact / sr)
    hit /= np.abs(hit).max() + np.float32(1e-9)
    hit[:contact] += np.float32(slap * 2.0) * noise
    return hit


def _drum(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    kit = rng.choice(4)
    # (lowest mode range of each voice, decay range, slap share)
    voices = (
        [((70.0, 140.0), (0.4, 0.9), 0.15), ((120.0, 220.0), (0.3, 0.7), 0.15)],  # toms
        [((170.0, 260.0), (0.2, 0.5), 0.35), ((250.0, 380.0), (0.15, 0.4), 0.45)],  # congas
        [((300.0, 450.0), (0.1, 0.3), 0.4), ((420.0, 600.0), (0.08, 0.25), 0.45)],  # bongos
        [((45.0, 75.0), (0.3, 0.6), 0.25), ((90.0, 180.0), (0.3, 0.7), 0.2)],  # bass drum + tom
    )[kit]
    steps_per_beat, bar = _RHYTHMS[int(rng.integers(len(_RHYTHMS)))]
    step = 60.0 / rng.uniform(70.0, 170.0) / steps_per_beat
    swing = rng.uniform(0.0, 0.15) * step
    hits = [
        _drum_hit(rng, sr, rng.uniform(*f), rng.uniform(*d), s * rng.uniform(0.7, 1.3))
        for f, d, s in voices
    ]
    onset = _first_onset(rng, n, sr)
    count = int((n - onset) / (step * sr)) + 1
    k = np.arange(count)
    on = np.array([bar[i % len(bar)] == "x" for i in k])
    fill = rng.random(count) < rng.uniform(0.0, 0.15)  # extra, quieter notes
    times = onset + (k * step + (k % 2) * swing) * sr + rng.normal(0.0, 0.006 * sr, count)
    times[0] = onset
    velocity = np.where(on, rng.uniform(0.7, 1.0, count), rng.uniform(0.25, 0.5, count))
    play = on | fill
    play[0] = True
    voice = (rng.random(count) < rng.uniform(0.2, 0.6)).astype(int)  # which drum
    voice[0] = 0
    trains = []
    for v in range(2):
        chosen = play & (voice == v)
        trains.append((_train(n, np.round(times[chosen]).astype(np.int64), velocity[chosen]),
                       hits[v]))
    return _convolve_trains(n, trains)


def _alarm_beeping(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    kind = rng.choice(3, p=[0.5, 0.3, 0.2])
    top = 0.42 * sr
    if kind == 0:  # a piezo sounder: nearly a sine, 2-4 kHz
        f0 = rng.uniform(2000.0, min(4000.0, top))
        amps = [1.0, rng.uniform(0.0, 0.1), rng.uniform(0.0, 0.1)]
    elif kind == 1:  # a square wave from a buzzer
        f0 = rng.uniform(800.0, 2500.0)
        amps = [1.0 / k if k % 2 else 0.0 for k in range(1, 10)]
    else:  # a pulse wave (all harmonics), e.g. a reversing beeper
        f0 = rng.uniform(800.0, 1500.0)
        duty = rng.uniform(0.15, 0.4)
        amps = [math.sin(math.pi * k * duty) / k for k in range(1, 10)]
    amps = [a if (k + 1) * f0 < 0.45 * sr else 0.0 for k, a in enumerate(amps)]
    tone = _harmonics(_phase(f0, sr, n, rng.random()), amps)
    pattern = rng.choice(4)
    scale = rng.uniform(0.5, 1.0)
    if pattern == 0:  # beep-beep-beep-pause (a smoke alarm's temporal pattern)
        on = 0.5 * scale
        bursts, off = [(on, on)] * 2 + [(on, 0.0)], 1.5 * scale
    elif pattern == 1:  # fast groups of four (an alarm clock)
        on = rng.uniform(0.05, 0.1)
        bursts, off = [(on, on * rng.uniform(0.6, 1.0))] * 3 + [(on, 0.0)], rng.uniform(0.5, 0.8)
    elif pattern == 2:  # steady on-off (a reversing beeper)
        on = rng.uniform(0.4, 0.6)
        bursts, off = [(on, 0.0)], rng.uniform(0.4, 0.6)
    else:  # two beeps, then a pause
        on = rng.uniform(0.1, 0.25)
        bursts, off = [(on, rng.uniform(0.08, 0.15)), (on, 0.0)], rng.uniform(0.6, 1.2)
    gate = np.zeros(n, dtype=np.float32)
    for a, b in _cadence(rng, n, sr, bursts, off):
        gate[a:b] = _ramped(b - a, int(0.003 * sr))
    return tone * gate


def _electrical_hum(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    mains = 60.0 * (1 + rng.uniform(-4e-4, 4e-4))  # the grid drifts by a few hundredths of Hz
    theta = _phase(mains, sr, n, rng.random())
    s = np.sin(theta)
    parts = []
    for kind in rng.permutation(4)[: int(rng.integers(1, 3))]:
        if kind == 0:  # transformer: magnetostriction, twice per mains cycle (120 Hz family)
            wave = np.abs(s) ** np.float32(rng.uniform(1.0, 3.0))
        elif kind == 1:  # ground-loop buzz: a soft square, odd harmonics of 60 Hz
            wave = np.tanh(np.float32(rng.uniform(1.5, 5.0)) * s)
        elif kind == 2:  # a ballast: narrow pulses at every half cycle, rich in harmonics
            width = np.float32(rng.uniform(0.06, 0.2))  # radians
            dist = np.minimum(np.abs(theta - np.float32(math.pi / 2)),
                              np.abs(theta - np.float32(3 * math.pi / 2)))
            wave = np.exp(-0.5 * (dist / width) ** 2)
        else:  # a motor: the first few harmonics of 60 Hz, each at its own level
            wave = _harmonics(theta, rng.uniform(0.2, 1.0, 4) * np.array([1.0, 0.8, 0.5, 0.3]))
        wave = wave - wave.mean()
        wave /= np.float32(np.std(wave)) + np.float32(1e-9)
        drift = np.float32(1.0) + np.float32(rng.uniform(0.02, 0.1)) * _wander(
            rng, n, sr, rng.uniform(0.2, 1.0)
        )
        parts.append(np.float32(rng.uniform(0.4, 1.0)) * wave * drift)
    return sum(parts)


# Whistled motifs, in semitones above the base note, with note lengths in beats.
_MOTIFS = (
    ((0, 4, 7, 12, 7, 4), (1, 1, 1, 2, 1, 2)),  # an arpeggio up and back
    ((12, 11, 9, 7, 5, 4, 2, 0), (1, 1, 1, 1, 1, 1, 1, 3)),  # down the scale
    ((7, 7, 9, 7, 12, 11), (1.5, 0.5, 2, 2, 2, 4)),  # a birthday-song-like opening
    ((0, 0, 7, 7, 9, 9, 7), (1, 1, 1, 1, 1, 1, 2)),  # a nursery-tune-like opening
    ((4, 2, 0, 2, 4, 4, 4), (1.5, 0.5, 1, 1, 1, 1, 2)),
    ((0, 5, 4, 0, -3, 0), (1, 2, 1, 1, 1, 3)),
)


def _whistling(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    base = math.exp(rng.uniform(math.log(600.0), math.log(min(2200.0, 0.3 * sr))))
    style = rng.choice(3, p=[0.6, 0.2, 0.2])
    pitch = np.zeros(n, dtype=np.float32)  # in semitones above base, before gliding
    gate = np.zeros(n, dtype=np.float32)
    starts = []
    pos = _first_onset(rng, n, sr)
    while pos < n:
        if style == 0:  # a tune: motifs, transposed, at a tempo
            semis, beats = _MOTIFS[int(rng.integers(len(_MOTIFS)))]
            shift, beat = int(rng.integers(-3, 4)), rng.uniform(0.12, 0.3)
            for s, d in zip(semis, beats, strict=True):
                stop = min(n, pos + int(d * beat * sr))
                pitch[pos:stop], gate[pos:stop - int(0.02 * sr)] = s + shift, 1.0
                starts.append(pos)
                pos = stop
            pos += int(rng.uniform(0.2, 0.8) * sr)
        elif style == 1:  # a wolf whistle: a glide up, then a long glide up and down
            up, down = int(rng.uniform(0.15, 0.3) * sr), int(rng.uniform(0.4, 0.7) * sr)
            gap = int(rng.uniform(0.08, 0.15) * sr)
            glides = (
                (np.linspace(-5, 7, up, dtype=np.float32), 1.0),
                (np.full(gap, -3, dtype=np.float32), 0.0),
                (np.concatenate([np.linspace(-3, 9, down // 3, dtype=np.float32),
                                 np.linspace(9, -7, down - down // 3, dtype=np.float32)]), 1.0),
            )
            for glide, sounding in glides:
                stop = min(n, pos + len(glide))
                pitch[pos:stop], gate[pos:stop] = glide[: stop - pos], sounding
                if sounding:
                    starts.append(pos)
                pos = stop
            pos += int(rng.uniform(0.6, 1.5) * sr)
        else:  # calling a dog: a high note and a rising "phweet"
            for s, d in ((7, rng.uniform(0.15, 0.3)), (0, rng.uniform(0.25, 0.45))):
                if pos >= n:
                    break
                stop = min(n, pos + int(d * sr))
                pitch[pos:stop] = s + (np.linspace(0, 5, stop - pos) if s == 0 else 0.0)
                gate[pos:stop - int(0.03 * sr)] = 1.0
                starts.append(pos)
                pos = stop + int(0.05 * sr)
            pos += int(rng.uniform(0.5, 1.2) * sr)
    # Glides between notes: the pitch follows its target with a lag of 15-60 ms.
    pitch = _smooth(pitch, 1.0 / (_TWO_PI * rng.uniform(0.015, 0.06)), sr)
    # Vibrato that sets in a little after each note starts.
    since = np.full(n, 10.0, dtype=np.float32)
    for a in starts:
        since[a:] = np.arange(n - a, dtype=np.float32) / np.float32(sr)
    onset = np.float32(rng.uniform(0.1, 0.3))
    depth = np.float32(rng.uniform(0.0, 0.5)) * np.clip(since / onset - 1, 0, 1)  # semitones
    vibrato = depth * np.sin(_phase(rng.uniform(4.0, 7.0), sr, n))
    freq = np.float32(base) * np.exp2((pitch + vibrato) / np.float32(12))
    env = _smooth(gate, rng.uniform(15.0, 40.0), sr)
    tone = np.sin(_phase(freq, sr, n))
    breath = _band_noise(rng, freq, rng.uniform(40.0, 150.0), sr, n)
    hiss = _uniform_noise(rng, n)
    hiss = hiss - _smooth(hiss, 2000.0, sr)
    mix = tone + np.float32(rng.uniform(0.1, 0.35)) * breath + np.float32(
        rng.uniform(0.01, 0.05)) * hiss
    return mix * env


def _water_dripping(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    top = 0.42 * sr
    out = np.zeros(n, dtype=np.float32)
    for tap in range(int(rng.choice([1, 1, 2]))):
        kind = rng.choice(3)
        period = rng.uniform(0.35, 1.5)
        jitter = rng.uniform(0.02, 0.2)
        f0 = (rng.uniform(800.0, 2500.0), rng.uniform(300.0, 1500.0), rng.uniform(250.0, 700.0))[
            kind
        ]
        modes = np.exp(rng.uniform(math.log(300.0), math.log(2000.0), 4))  # a bucket's
        pos = float(_first_onset(rng, n, sr) if tap == 0 else rng.uniform(0.1, 0.6) * n)
        level = 1.0 if tap == 0 else rng.uniform(0.4, 0.8)
        while pos < n:
            size = int(rng.uniform(0.02, 0.06) * sr)
            f = f0 * rng.uniform(0.9, 1.1)
            if kind == 1:  # a drop on a bucket: the bucket rings, a small bubble sometimes
                size = int(rng.uniform(0.06, 0.15) * sr)
                drop = _modes(modes * rng.uniform(0.98, 1.02, 4), rng.uniform(0.3, 1.0, 4),
                              rng.uniform(0.04, 0.15, 4), sr, size, rng)
                drop[0] += 1.0
            else:  # a bubble: a chirp rising by octaves per second, held then falling
                octaves = rng.uniform(10.0, 40.0) if kind == 0 else rng.uniform(3.0, 10.0)
                u = np.arange(size, dtype=np.float32) / np.float32(sr)
                freq = np.minimum(np.float32(f) * np.exp2(np.float32(octaves) * u), top)
                drop = np.sin(_phase(freq, sr, size)) * _decaying(size, sr, size / sr, 1.6)
            _place(out, drop, int(pos), level * rng.uniform(0.5, 1.0))
            pos += period * sr * rng.uniform(1 - jitter, 1 + jitter)
    return out


_RECIPES: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
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

#: Classes more often heard outdoors (they get an open-air "room" more often).
_OUTDOORS = frozenset({"siren", "engine_idling", "rain", "wind", "bird_chirping"})


# --------------------------------------------------------------------------------------------
# The recording chain: room, microphone, dynamics, noise floor, level.
# --------------------------------------------------------------------------------------------


def _room_response(rng: np.random.Generator, sr: int, outdoors: bool) -> np.ndarray:
    """A room's impulse response: the direct sound, a few early reflections and a diffuse
    tail whose highs die sooner than its lows. Outdoors, in a room or in a hall."""
    space = rng.choice(3, p=[0.6, 0.3, 0.1] if outdoors else [0.15, 0.6, 0.25])
    t60, drr_db, reflections, spread = (
        (rng.uniform(0.08, 0.3), rng.uniform(10.0, 25.0), 1, (0.002, 0.012)),  # open air
        (rng.uniform(0.2, 0.6), rng.uniform(3.0, 15.0), int(rng.integers(4, 9)), (0.0015, 0.02)),
        (rng.uniform(0.7, 1.4), rng.uniform(0.0, 8.0), int(rng.integers(6, 13)), (0.005, 0.04)),
    )[space]
    length = int(min(t60 * 0.8, 1.0) * sr) + 2
    ir = np.zeros(length, dtype=np.float32)
    ir[0] = 1.0
    delays = (rng.uniform(*spread, reflections) * sr).astype(np.int64)
    gains = rng.uniform(0.2, 0.6, reflections) * rng.choice([-1.0, 1.0], reflections)
    np.add.at(ir, np.minimum(delays, length - 1), gains.astype(np.float32))
    start = int(rng.uniform(*spread) * sr)
    noise = _uniform_noise(rng, length - start)
    low = np.convolve(noise, np.array([0.25, 0.5, 0.25], dtype=np.float32), "same")
    tail = low * _decaying(len(noise), sr, t60) + (noise - low) * _decaying(
        len(noise), sr, t60 * rng.uniform(0.35, 0.7)
    )  # the highs (above ~sr/4) die sooner
    tail[: int(0.01 * sr)] *= np.linspace(0.0, 1.0, min(len(tail), int(0.01 * sr)),
                                          dtype=np.float32)
    direct = float(np.sum(ir**2))
    tail *= np.float32(math.sqrt(direct / (float(np.sum(tail**2)) + 1e-12) / 10 ** (drr_db / 10)))
    ir[start:] += tail
    return ir


def _microphone(rng: np.random.Generator, size: int, sr: int) -> np.ndarray:
    """A microphone's (and its preamp's) magnitude response at the ``size // 2 + 1`` bins of
    a real FFT of ``size`` points: band limits, a tilt and a presence bump, or a telephone
    band. Computed on 512 frequencies and interpolated (the curve is smooth)."""
    f = np.linspace(0.0, sr / 2, 512)
    f[0] = 1.0
    if rng.random() < 0.15:  # a telephone or a cheap recorder
        high_pass, low_pass, order = rng.uniform(250.0, 400.0), rng.uniform(3000.0, 3800.0), 4
    else:
        high_pass = math.exp(rng.uniform(math.log(40.0), math.log(250.0)))
        low_pass, order = rng.uniform(4000.0, 7500.0), int(rng.integers(1, 4))
    response = 1.0 / np.sqrt(1.0 + (high_pass / f) ** 4)
    if low_pass < 0.45 * sr:
        response /= np.sqrt(1.0 + (f / low_pass) ** (2 * order))
    tilt = rng.uniform(-3.0, 3.0)  # dB per octave around 1 kHz
    response *= 10 ** (tilt * np.log2(np.clip(f, 50.0, sr / 2) / 1000.0) / 20)
    bump_db, centre = rng.uniform(-6.0, 6.0), rng.uniform(800.0, 5000.0)
    response *= 10 ** (bump_db * np.exp(-0.5 * (np.log2(f / centre) / 0.5) ** 2) / 20)
    response[0] = 0.0  # no DC
    bins = np.linspace(0.0, sr / 2, size // 2 + 1)
    return np.interp(bins, np.linspace(0.0, sr / 2, 512), response).astype(np.float32)


def _dynamics(x: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Soft clipping, an asymmetric (valve-like) curve, a compressor, or nothing; ``x`` has a
    peak of 1."""
    kind = rng.choice(4, p=[0.3, 0.35, 0.15, 0.2])
    if kind == 1:
        drive = np.float32(rng.uniform(0.3, 1.3))
        return np.tanh(drive * x) / np.tanh(drive)
    if kind == 2:
        drive, bias = np.float32(rng.uniform(0.5, 1.3)), np.float32(rng.uniform(0.05, 0.2))
        y = np.tanh(drive * (x + bias)) - np.tanh(drive * bias)
        return y - y.mean()
    if kind == 3:
        level = _smooth(np.abs(x), rng.uniform(5.0, 30.0), sr)  # the compressor's detector
        threshold, ratio = np.float32(rng.uniform(0.2, 0.5)), np.float32(rng.uniform(1.5, 3.0))
        over = np.maximum(level / threshold, np.float32(1.0))
        return x * over ** (np.float32(1.0) / ratio - np.float32(1.0))
    return x


def _loudness(x: np.ndarray, sr: int) -> float:
    """RMS of the clip's active part: the 20 ms frames within 25 dB of the loudest."""
    frame = max(1, int(0.02 * sr))
    m = max(1, len(x) // frame)
    energy = np.mean(x[: m * frame].reshape(m, -1) ** 2, axis=1) if len(x) >= frame else np.array(
        [np.mean(x**2)]
    )
    active = energy[energy >= energy.max() * 10 ** (-2.5)]
    return float(np.sqrt(active.mean()))


def _noise_floor(rng: np.random.Generator, size: int, sr: int) -> np.ndarray:
    """The spectrum (``size // 2 + 1`` bins of a real FFT of ``size`` points) of a noise floor
    of unit RMS: white, pink or brown (a recorder's hiss, a room's rumble), random phases."""
    bins = size // 2 + 1
    spectrum = (rng.random(bins, dtype=np.float32) - np.float32(0.5)) + 1j * (
        rng.random(bins, dtype=np.float32) - np.float32(0.5)
    )
    f = np.linspace(0.0, sr / 2, bins, dtype=np.float32)
    slope = (0.0, 0.5, 1.0)[int(rng.integers(3))]  # amplitude ∝ f^-slope: white, pink, brown
    if slope:
        spectrum *= np.maximum(f, np.float32(20.0)) ** np.float32(-slope)
    spectrum[0] = 0.0
    power = 2.0 * float(np.sum(np.abs(spectrum) ** 2)) / size**2  # Parseval, for irfft
    return (spectrum / np.float32(math.sqrt(power) + 1e-30)).astype(np.complex64)


def _record(
    x: np.ndarray, rng: np.random.Generator, sr: int, outdoors: bool, recording: bool = True
) -> np.ndarray:
    """The recording chain, every setting drawn from ``rng``: the room and the noise floor,
    both through the microphone's response (one FFT convolution), then the dynamics, the
    level (by loudness) and a ceiling. ``recording=False`` keeps only the level and the
    ceiling."""
    n = len(x)
    x = x / (np.float32(np.abs(x).max()) + np.float32(1e-12))
    if not recording:
        return _level(x, rng, sr)
    ir = _room_response(rng, sr, outdoors)
    size = scipy.fft.next_fast_len(n + len(ir) - 1, real=True)
    spectrum = scipy.fft.rfft(x, size) * scipy.fft.rfft(ir, size)
    mean_power = 2.0 * float(np.sum(np.abs(spectrum) ** 2)) / size / n  # Parseval: Σx² / n
    snr_db = rng.uniform(35.0, 55.0)  # below the sound's mean power
    spectrum += _noise_floor(rng, size, sr) * np.float32(
        math.sqrt(mean_power) * 10 ** (-snr_db / 20)
    )
    spectrum *= _microphone(rng, size, sr)
    y = scipy.fft.irfft(spectrum, size)[:n].astype(np.float32)
    y /= np.float32(np.abs(y).max()) + np.float32(1e-12)
    return _level(_dynamics(y, rng, sr).astype(np.float32), rng, sr)


def _level(y: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    """``y`` set to a loudness of −32 to −16 dBFS (RMS of its active part), under a 0.99
    ceiling."""
    y = y * np.float32(10 ** (rng.uniform(-32.0, -16.0) / 20) / (_loudness(y, sr) + 1e-12))
    peak = float(np.abs(y).max())
    if peak > 0.99:  # a limiter's ceiling
        y *= np.float32(0.99 / peak)
        np.clip(y, -0.99, 0.99, out=y)  # float32 rounding stays under it too
    return y


# --------------------------------------------------------------------------------------------
# Clips, seeds, captions and the dataset.
# --------------------------------------------------------------------------------------------


def _class_key(class_name: str) -> int:
    return zlib.crc32(f"out-of-recipe/{class_name}".encode())


def _check_class(class_name: str) -> None:
    if class_name not in _RECIPES:
        raise ValueError(f"unknown class {class_name!r}; choose from {', '.join(CLASSES)}")


def synthesize_out_of_recipe(
    class_name: str,
    seed: int,
    sample_rate: int = 16000,
    duration: float = DEFAULT_DURATION,
    recording: bool = True,
) -> np.ndarray:
    """One out-of-recipe clip of ``class_name``: float32 ``(L,)``, ``L = round(duration·sr)``.

    The sound comes from this module's own recipe for the class, then passes through a
    recording chain (room, microphone, dynamics, noise floor, level) drawn for this clip;
    ``recording=False`` gives the dry sound at a level (to tell the effect of the new recipes
    from that of the recording).
    Deterministic: the clip depends only on the arguments (the random streams are
    ``default_rng([seed, crc32("out-of-recipe/" + class), key])`` for the sound and the same
    with a trailing ``1`` for the recording). Peak within ``[-0.99, 0.99]``; the level is
    set by loudness (−32 to −16 dBFS RMS over the active part). Frequencies are chosen in Hz
    and kept below 0.45 · ``sample_rate``.

    Taught in chapter 9 (From synthetic to real), as the out-of-recipe test set.
    """
    _check_class(class_name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 4000:
        raise ValueError(f"sample_rate must be an integer of at least 4000 Hz, got {sample_rate!r}")
    n = int(round(float(duration) * sample_rate)) if math.isfinite(duration) else 0
    if n < int(0.05 * sample_rate):
        raise ValueError(f"duration must be at least 0.05 s, got {duration!r}")
    key = [int(seed), _class_key(class_name), _KEY]
    raw = _RECIPES[class_name](np.random.default_rng(key), int(sample_rate), n)
    raw = np.asarray(raw[:n], dtype=np.float32)
    return _record(raw, np.random.default_rng(key + [1]), int(sample_rate),
                   class_name in _OUTDOORS, recording)


def out_of_recipe_seed(index: int, seed: int = 0) -> int:
    """The clip seed of item ``index`` of the out-of-recipe test set, for base seed ``seed``:
    ``3 · 2**48 + seed · 2**32 + index``, past the seed ranges of the main corpus's three
    splits (``split · 2**48 + ...``, splits 0-2). Taught in chapter 9."""
    if not 0 <= int(seed) < _MAX_BASE_SEED:
        raise ValueError(f"seed must be in [0, {_MAX_BASE_SEED}), got {seed}")
    if not 0 <= int(index) < _BASE_STRIDE:
        raise ValueError(f"index must be in [0, 2**32), got {index}")
    return _SEED_OFFSET + int(seed) * _BASE_STRIDE + int(index)


def _caption_table(
    captions: Mapping[str, Sequence[str]] | None, classes: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    table = OUT_OF_RECIPE_CAPTIONS if captions is None else captions
    out = {}
    for c in classes:
        options = tuple(table.get(c, ()))
        if not options or not all(isinstance(o, str) and o.strip() for o in options):
            raise ValueError(
                f"captions has no non-empty caption for class {c!r}; give every class at "
                "least one (or leave captions=None for OUT_OF_RECIPE_CAPTIONS)"
            )
        out[c] = options
    return out


def out_of_recipe_caption(
    class_name: str, seed: int, captions: Mapping[str, Sequence[str]] | None = None
) -> str:
    """The caption of the out-of-recipe clip of ``class_name`` and ``seed``: one of its
    :data:`OUT_OF_RECIPE_CAPTIONS` (or of ``captions[class_name]``), chosen from the seed."""
    _check_class(class_name)
    options = _caption_table(captions, [class_name])[class_name]
    rng = np.random.default_rng([int(seed), _class_key(class_name), _KEY, 2])
    return options[int(rng.integers(len(options)))]


class OutOfRecipeClips(LabelledClips):
    """Labelled, captioned clips of the out-of-recipe corpus (a ``torch`` Dataset; test only).

    Item ``i`` is ``dict(wave=Tensor (1, L) float32, label=str, caption=str, index=int,
    seed=int)``: class ``classes[i % len(classes)]``, clip seed
    :func:`out_of_recipe_seed` ``(i, seed)``, made by :func:`synthesize_out_of_recipe`.
    Items are computed on demand and depend only on ``(seed, i)`` (and ``captions``).

    Args:
        split: ``"test"``, the only split. ``"train"`` and ``"validation"`` are refused: the
            corpus measures sounds a model was not built around, so it must never be trained
            or tuned on.
        sample_rate: Hz.
        duration: clip length in seconds; ``None`` leaves it to the consumer (a
            :class:`~lassnet.data.MixtureDataset` makes the clips at its segment length, as
            it does for the main corpus; read directly, such clips last
            :data:`~lassnet.data.DEFAULT_DURATION`).
        count: number of items (default 700; up to ``2**32``).
        classes: a subset of :data:`~lassnet.data.CLASSES` (default all).
        seed: base seed (``0 ≤ seed < 2**16``): another set of clips.
        captions: ``class → captions`` to draw the items' captions from (default
            :data:`OUT_OF_RECIPE_CAPTIONS`; pass :data:`lassnet.data.CAPTIONS` to query with
            the training captions and so separate the effect of new sounds from that of new
            words).
        recording: ``False`` leaves out the recording chain (room, microphone, dynamics,
            noise floor): the new recipes alone.

    ``captions`` is kept as the attribute :attr:`captions` (``class → tuple``). Taught in
    chapter 9 (From synthetic to real).
    """

    def __init__(
        self,
        split: str = "test",
        sample_rate: int = 16000,
        duration: float | None = DEFAULT_DURATION,
        count: int | None = None,
        classes: Sequence[str] | None = None,
        seed: int = 0,
        captions: Mapping[str, Sequence[str]] | None = None,
        recording: bool = True,
    ):
        if split != "test":
            raise ValueError(
                f"the out-of-recipe corpus has only a 'test' split, got split={split!r}: it "
                "measures sounds a model was not built around, so it must never be trained "
                "or tuned on; train and validate on the synthetic corpus "
                "(SyntheticClips or clip_source('synthetic', ...)) and test here with "
                "split='test'"
            )
        classes = tuple(CLASSES if classes is None else classes)
        if not classes:
            raise ValueError("classes must not be empty")
        for c in classes:
            _check_class(c)
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes must not repeat, got {classes}")
        count = _DEFAULT_COUNT if count is None else int(count)
        if not 0 < count <= _BASE_STRIDE:
            raise ValueError(f"count must be in [1, 2**32], got {count}")
        out_of_recipe_seed(0, seed)  # validates seed
        if duration is not None and not duration >= 0.05:
            raise ValueError(f"duration must be at least 0.05 s, got {duration}")
        self.split = split
        self.sample_rate = int(sample_rate)
        self.duration = None if duration is None else float(duration)
        self.count = count
        self.classes = classes
        self.seed = int(seed)
        self.captions = _caption_table(captions, classes)
        self.recording = bool(recording)

    def __len__(self) -> int:
        return self.count

    def with_duration(self, duration: float) -> OutOfRecipeClips:
        """The same clip set (classes, seed, count, captions, recording) with clips of
        ``duration`` seconds."""
        return OutOfRecipeClips(self.split, self.sample_rate, duration, self.count,
                                self.classes, self.seed, self.captions, self.recording)

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
        seed = out_of_recipe_seed(index, self.seed)
        duration = DEFAULT_DURATION if self.duration is None else self.duration
        wave = synthesize_out_of_recipe(label, seed, self.sample_rate, duration, self.recording)
        return {
            "wave": torch.from_numpy(wave)[None],  # (1, L)
            "label": label,
            "caption": out_of_recipe_caption(label, seed, self.captions),
            "index": index,
            "seed": seed,
        }

    def __repr__(self) -> str:
        return (
            f"OutOfRecipeClips(split='test', sample_rate={self.sample_rate}, "
            f"duration={self.duration}, count={self.count}, classes={len(self.classes)}, "
            f"seed={self.seed}, recording={self.recording})"
        )
