"""The exercise of chapter 1 (The short-time Fourier transform): ``split_magphase``.

The student turns a complex spectrogram ``X (B, C, T, F)`` into ``(|X|, cos∠X, sin∠X)``;
:func:`check_stft_split` compares it with :meth:`lassnet.stft.STFT.magphase` on random
clips, an odd length, stereo, a loud tone, silence, and silence followed by noise, and
recognises a power instead of a magnitude, swapped cos/sin, and an angle-based phase on silent
bins. Taught in chapter 1 (The short-time Fourier transform).

The *apply* exercise ``choose_n_fft`` (on the book's exercises page) asks for an STFT size
that resolves two tones a given distance apart *and* two clicks a given time apart, or
``None`` when no size does; :func:`check_choose_n_fft` measures the student's choice.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ._runner import CheckResult, Exercise, Withhold, _call, _compare, _Mismatch, _run


def _stft_cases():
    from ..stft import STFT, magphase

    def case(wave, n_fft, hop, note=""):
        def run(fn):
            stft = STFT(n_fft, hop)
            spec = stft(wave)  # (B, C, T, F) complex
            expected = stft.magphase(wave)
            got = _call(fn, spec.clone())
            re, im = spec.real, spec.imag
            power = re * re + im * im
            mag, _, _ = magphase(re, im)
            angle = torch.atan2(im, re)
            mistakes = [
                ("|X| should be the magnitude, not the power |X|² (a square root is missing)",
                 (torch.clamp(power, min=1e-10), expected[1], expected[2])),
                ("cos and sin are swapped: cos∠X belongs to the real part, sin∠X to the "
                 "imaginary part", (expected[0], expected[2], expected[1])),
                ("in silent bins cos∠X and sin∠X should be 0, as lassnet.stft defines them "
                 "(divide the real and imaginary parts by the floored magnitude); "
                 "an angle-based phase gives cos = 1 there",
                 (mag, torch.cos(angle), torch.sin(angle))),
            ]
            _compare(("|X|", "cos∠X", "sin∠X"), got, expected, rtol=1e-4, atol=1e-5,
                     mistakes=mistakes, note=note,
                     nan_hint="silent bins have |X| = 0; floor the squared magnitude at 1e-10 "
                              "before the square root, as the text says")
        return run

    t = torch.arange(8000) / 8000.0
    tone = torch.sin(2 * torch.pi * 440.0 * t)[None, None]
    half = torch.cat([torch.zeros(1, 1, 3000), torch.randn(1, 1, 3000)], dim=-1)
    return [
        ("a random clip, batch of 2", case(torch.randn(2, 1, 4000), 256, 64)),
        ("odd length, batch of 1", case(torch.randn(1, 1, 3001), 512, 128)),
        ("stereo, batch of 3", case(0.1 * torch.randn(3, 2, 2001), 256, 128)),
        ("a loud tone", case(20 * tone, 512, 128)),
        ("silence", case(torch.zeros(1, 1, 2048), 256, 64,
                         note="On silence |X| is the floor and cos = sin = 0")),
        ("silence, then noise", case(half, 256, 64)),
    ]


def check_stft_split(fn, progress: bool = True) -> CheckResult:
    """Check ``split_magphase(spec) -> (|X|, cos∠X, sin∠X)`` (chapter 1's exercise).

    ``spec`` is a complex spectrogram ``(B, C, T, F)`` from :class:`lassnet.stft.STFT`; the
    three outputs must equal :meth:`STFT.magphase <lassnet.stft.STFT.magphase>`.
    """
    return _run(STFT_SPLIT, fn, _stft_cases, progress)


STFT_SPLIT = Exercise(
    "stft_split", "split_magphase", "01_stft", "lassnet.stft.STFT.magphase",
    "|X| from the real and imaginary parts with a floor; cos∠X and sin∠X are the "
    "parts divided by |X|", check_stft_split,
    teaches=1,
    withheld=(Withhold("lassnet.stft.magphase"), Withhold("lassnet.stft.STFT.magphase")),
)


# --------------------------------------------------------------------------- apply: n_fft
#: The sizes the checker of ``choose_n_fft`` tries: powers of two from 32 to 8192 samples.
N_FFT_CHOICES = tuple(2**k for k in range(5, 14))


@functools.cache
def _tones_resolved(sample_rate: int, gap_hz: float, n_fft: int) -> bool:
    """Two equal tones ``gap_hz`` apart (from 1000.37 Hz, 1 s long) are *resolved* by an STFT of
    size ``n_fft`` (Hann window, hop ``n_fft // 4``) when the time-averaged magnitude spectrum
    dips, between the two tones' bins, to at most half of the smaller of the two peaks."""
    from ..stft import STFT

    t = torch.arange(sample_rate) / sample_rate
    f1, f2 = 1000.37, 1000.37 + gap_hz
    wave = (torch.sin(2 * torch.pi * f1 * t) + torch.sin(2 * torch.pi * f2 * t))[None, None]
    if n_fft > sample_rate // 2:
        return False
    mag = STFT(n_fft, n_fft // 4)(wave).abs()[0, 0].mean(0)  # (F,)
    i1, i2 = round(f1 * n_fft / sample_rate), round(f2 * n_fft / sample_rate)
    if i2 - i1 < 2:
        return False
    return bool(mag[i1 + 1:i2].min() <= 0.5 * torch.minimum(mag[i1], mag[i2]))


@functools.cache
def _clicks_resolved(sample_rate: int, gap_s: float, n_fft: int) -> bool:
    """Two clicks ``gap_s`` seconds apart are *resolved* when the frames' energy dips, between
    the two clicks' frames, to at most half of the smaller of the two peaks (same STFT)."""
    from ..stft import STFT

    length = sample_rate
    wave = torch.zeros(1, 1, length)
    first = length // 3
    second = first + round(gap_s * sample_rate)
    wave[..., first] = wave[..., second] = 1.0
    hop = n_fft // 4
    if n_fft > length // 2:
        return False
    energy = STFT(n_fft, hop)(wave).abs().pow(2)[0, 0].sum(-1)  # (T,)
    i1, i2 = round(first / hop), round(second / hop)
    if i2 - i1 < 2:
        return False
    return bool(energy[i1 + 1:i2].min() <= 0.5 * torch.minimum(energy[i1], energy[i2]))


def _n_fft_cases():
    def case(sample_rate, tone_gap, click_gap):
        def run(fn):
            def works():  # the sizes that resolve both (measured only when needed)
                return [n for n in N_FFT_CHOICES if _tones_resolved(sample_rate, tone_gap, n)
                        and _clicks_resolved(sample_rate, click_gap, n)]

            got = _call(fn, sample_rate, tone_gap, click_gap)
            if got is None:
                if works():
                    raise _Mismatch("you returned None, but at least one of the sizes resolves "
                                    "both the tones and the clicks")
                return
            if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
                raise _Mismatch(f"return an int (a power of two) or None, got "
                                f"{type(got).__name__}")
            got = int(got)
            if got not in N_FFT_CHOICES:
                raise _Mismatch(f"n_fft = {got} is not one of the choices (powers of two "
                                f"from {N_FFT_CHOICES[0]} to {N_FFT_CHOICES[-1]})")
            if got > sample_rate // 2:
                raise _Mismatch(f"n_fft = {got} is longer than half of the one-second test "
                                "sounds; choose a shorter window")
            tones = _tones_resolved(sample_rate, tone_gap, got)
            clicks = _clicks_resolved(sample_rate, click_gap, got)
            if tones and clicks:
                return
            if not works():
                raise _Mismatch(f"n_fft = {got} cannot resolve both: for these gaps no size "
                                "does (a window long enough for the tones blurs the clicks); "
                                "return None when the trade-off has no answer")
            if not tones:
                raise _Mismatch(
                    f"with n_fft = {got} the two tones {tone_gap:g} Hz apart merge into one "
                    f"peak: its bins are {sample_rate / got:.3g} Hz apart and a Hann window's "
                    "peak is several bins wide, so the window must be longer")
            raise _Mismatch(
                f"with n_fft = {got} the two clicks {1000 * click_gap:g} ms apart blur into "
                f"one: the window lasts {1000 * got / sample_rate:.3g} ms, so it must be "
                "shorter")
        return run

    return [
        ("16 kHz, tones 100 Hz apart, clicks 30 ms apart", case(16000, 100.0, 0.03)),
        ("8 kHz, tones 50 Hz apart, clicks 100 ms apart", case(8000, 50.0, 0.1)),
        ("16 kHz, tones 20 Hz apart, clicks 200 ms apart", case(16000, 20.0, 0.2)),
        ("22.05 kHz, tones 60 Hz apart, clicks 40 ms apart", case(22050, 60.0, 0.04)),
        ("44.1 kHz, tones 30 Hz apart, clicks 150 ms apart", case(44100, 30.0, 0.15)),
        ("16 kHz, tones 40 Hz apart, clicks 60 ms apart", case(16000, 40.0, 0.06)),
    ]


def check_choose_n_fft(fn, progress: bool = True) -> CheckResult:
    """Check ``choose_n_fft(sample_rate, tone_gap_hz, click_gap_s) -> n_fft | None`` (chapter
    1's apply exercise): the checker *measures* the student's size on two tones ``tone_gap_hz``
    apart and two clicks ``click_gap_s`` apart (:func:`_tones_resolved`,
    :func:`_clicks_resolved`: a dip to half the smaller peak); both must be resolved, or, when
    no power of two from 32 to 8192 resolves both, the answer must be ``None``."""
    return _run(CHOOSE_N_FFT, fn, _n_fft_cases, progress)


CHOOSE_N_FFT = Exercise(
    "choose_n_fft", "choose_n_fft", "exercises", "the checker's measurement of both resolutions",
    "measure, for each power of two, whether the tones and the clicks are resolved",
    check_choose_n_fft, kind="apply", teaches=1, points=2,
    withheld=(Withhold("lassnet.exercises.stft._tones_resolved"),
              Withhold("lassnet.exercises.stft._clicks_resolved")),
)
