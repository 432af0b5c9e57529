"""The exercise of chapter 1 (The short-time Fourier transform): ``split_magphase``.

The student turns a complex spectrogram ``X (B, C, T, F)`` into ``(|X|, cos∠X, sin∠X)``;
:func:`check_stft_split` compares it with :meth:`lassnet.stft.STFT.magphase` on random
clips, an odd length, stereo, a loud tone, silence, and silence followed by noise, and
recognises a power instead of a magnitude, swapped cos/sin, and an angle-based phase on silent
bins. Taught in chapter 1 (The short-time Fourier transform).
"""

from __future__ import annotations

import torch

from ._runner import CheckResult, Exercise, Withhold, _call, _compare, _run


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
