"""The two exercises of chapter 5 (Masks): ``rotate_and_mask`` and ``ratio_mask``.

:func:`check_apply_masks` compares the student's masking (magnitude mask, clipped at 0, and a
phase rotation by the angle-sum identities) with :func:`lassnet.masks.apply_masks`;
:func:`check_ratio_mask` compares the student's ideal ratio mask with
:func:`lassnet.masks.ideal_ratio_mask`. Both use random, odd-length, silent and edge-case
inputs and recognise the typical mistakes (an unrotated or backwards phase, a missing
exponent, the mixture in the denominator, ...). Taught in chapter 5 (Masks).

The *apply* exercise ``harmonic_mask`` (on the book's exercises page) asks for a mask built
from a harmonic tone's fundamental frequency alone; :func:`check_harmonic_mask` applies it to
the tone in white noise and measures the SI-SDR improvement.
"""

from __future__ import annotations

import torch

from ._runner import CheckResult, Exercise, Withhold, _call, _compare, _Mismatch, _run


def _mask_cases():
    from ..masks import apply_masks, mask_maps
    from ..stft import STFT

    def inputs(shape, n_fft=256, hop=64, silent=False):
        wave = torch.zeros(shape) if silent else torch.randn(shape)
        mag, cos, sin = STFT(n_fft, hop).magphase(wave)  # (B, C, T, F) each
        logits = 2.0 * torch.randn(shape[0], shape[1], 3, *mag.shape[-2:])
        masks = mask_maps(logits)
        return [mag, cos, sin, *masks]

    def case(make, note=""):
        def run(fn):
            args = make()
            expected = apply_masks(*args)
            mag, cos, sin, m, mc, ms = args
            got = _call(fn, *(a.clone() for a in args))
            mistakes = [
                ("phase not rotated: cos∠Ŷ and sin∠Ŷ are the mixture's own; rotate them by ∠P",
                 (expected[0], cos, sin)),
                ("rotated the wrong way (by −∠P): a sign error in the angle-sum identities",
                 (expected[0], cos * mc + sin * ms, sin * mc - cos * ms)),
                ("the magnitude mask should scale only the magnitude, not cos and sin",
                 (expected[0], expected[1] * m, expected[2] * m)),
                ("the magnitude is not clipped at 0: |Ŷ| = relu(|X|·M)",
                 (mag * m, expected[1], expected[2])),
                ("cos∠Ŷ and sin∠Ŷ are swapped", (expected[0], expected[2], expected[1])),
            ]
            _compare(("|Ŷ|", "cos∠Ŷ", "sin∠Ŷ"), got, expected, rtol=1e-4, atol=1e-5,
                     mistakes=mistakes, note=note)
        return run

    def identity():
        args = inputs((2, 1, 2000))
        ones = torch.ones_like(args[0])
        return args[:3] + [ones, ones.clone(), torch.zeros_like(ones)]

    def half_turn():
        args = inputs((1, 1, 2000))
        ones = torch.ones_like(args[0])
        return args[:3] + [ones, -ones, torch.zeros_like(ones)]

    def negative_mask():
        args = inputs((2, 1, 1500))
        args[3] = 1.5 * torch.rand_like(args[0]) - 0.5  # values in [-0.5, 1)
        return args

    def silent_top_bin():
        args = inputs((2, 1, 1800))
        args[4][..., -1] = 0.0
        args[5][..., -1] = 0.0
        return args

    return [
        ("random masks, batch of 2", case(lambda: inputs((2, 1, 4000)))),
        ("odd length, batch of 1", case(lambda: inputs((1, 1, 2999), 512, 128))),
        ("identity mask (M = 1, P = 1)", case(identity, "An identity mask returns the input")),
        ("rotation by π (P = −1)", case(half_turn,
                                        "A rotation by π turns every bin's phase around")),
        ("silence", case(lambda: inputs((1, 1, 2048), silent=True))),
        ("a mask with negative values", case(negative_mask)),
        ("a bin with zero rotation (silenced)", case(silent_top_bin)),
    ]


def check_apply_masks(fn, progress: bool = True) -> CheckResult:
    """Check ``rotate_and_mask(mag, cos, sin, M, cos_p, sin_p) -> (|Ŷ|, cos∠Ŷ, sin∠Ŷ)``
    (chapter 5's first exercise) against :func:`lassnet.masks.apply_masks`."""
    return _run(APPLY_MASKS, fn, _mask_cases, progress)


def _ratio_cases():
    from ..masks import ideal_binary_mask, ideal_ratio_mask
    from ..stft import STFT

    def case(shape, target_gain=1.0, noise_gain=1.0, same=False, n_fft=256, hop=64, note=""):
        def run(fn):
            stft = STFT(n_fft, hop)
            target = target_gain * torch.randn(shape)
            noise = noise_gain * torch.randn(shape)
            mixture = target if same else target + noise
            S, X = stft(target), stft(mixture)
            expected = ideal_ratio_mask(S, X)
            got = _call(fn, S.clone(), X.clone())
            s, n, x = S.abs(), (X - S).abs(), X.abs()
            floor = 1e-10
            mistakes = [
                ("the exponent ½ is missing: this is the squared ratio",
                 (s**2 / torch.clamp(s**2 + n**2, min=floor))),
                ("use powers |S|² and |N|² in the ratio, not magnitudes",
                 (s / torch.clamp(s + n, min=floor)) ** 0.5),
                ("the denominator should use the interference N = X − S, not the mixture X",
                 (s**2 / torch.clamp(x**2, min=floor)) ** 0.5),
                ("this is the interference's mask: the numerator belongs to the target S",
                 (n**2 / torch.clamp(s**2 + n**2, min=floor)) ** 0.5),
                ("this is the binary mask; the ratio mask is soft (values between 0 and 1)",
                 ideal_binary_mask(S, X)),
            ]
            _compare("the mask", got, expected, rtol=1e-4, atol=1e-5, mistakes=mistakes,
                     note=note, nan_hint="where |S|² + |N|² is 0 the ratio is 0/0; floor the "
                                         "denominator (at 1e-10) so silence gives 0")
        return run

    return [
        ("random target and interference, batch of 2", case((2, 1, 4000))),
        ("odd length, batch of 1", case((1, 1, 3001), n_fft=512, hop=128)),
        ("a quiet target", case((2, 1, 2000), target_gain=0.05)),
        ("silent target", case((1, 1, 2000), target_gain=0.0)),
        ("no interference (mixture = target)", case((2, 1, 2000), same=True,
                                                    note="With no interference the mask is 1")),
        ("silence everywhere", case((1, 1, 2000), target_gain=0.0, noise_gain=0.0,
                                    note="On silence the mask is 0")),
    ]


def check_ratio_mask(fn, progress: bool = True) -> CheckResult:
    """Check ``ratio_mask(target_spec, mixture_spec) -> IRM`` (chapter 5's second exercise)
    against :func:`lassnet.masks.ideal_ratio_mask` (``p = 2``, ``q = ½``)."""
    return _run(RATIO_MASK, fn, _ratio_cases, progress)


APPLY_MASKS = Exercise(
    "apply_masks", "rotate_and_mask", "05_masks", "lassnet.masks.apply_masks",
    "scale the magnitude (clipped at 0); rotate the phase with the angle-sum identities",
    check_apply_masks, teaches=5, withheld=(Withhold("lassnet.masks.apply_masks"),),
)
RATIO_MASK = Exercise(
    "ratio_mask", "ratio_mask", "05_masks", "lassnet.masks.ideal_ratio_mask",
    "(|S|² / (|S|² + |N|²))^½ with N = X − S and a floored denominator", check_ratio_mask,
    teaches=5,
    withheld=(Withhold("lassnet.masks.ideal_ratio_mask"), Withhold("lassnet.evaluate.oracle_irm")),
)


# --------------------------------------------------------------------------- apply: comb mask
SAMPLE_RATE = 16000
#: The SI-SDR improvement a harmonic mask must reach in every case (dB).
HARMONIC_SI_SDRI_DB = 7.0


def _harmonic(f0: float, length: int, generator: torch.Generator) -> torch.Tensor:
    """A steady harmonic tone ``(1, 1, L)``: every multiple of ``f0`` below 7.9 kHz, each with
    its own amplitude and phase."""
    t = torch.arange(length) / SAMPLE_RATE
    wave = torch.zeros(length)
    k = 1
    while k * f0 < SAMPLE_RATE / 2 - 100:
        amplitude = 0.3 + float(torch.rand(1, generator=generator))
        phase = 2 * torch.pi * float(torch.rand(1, generator=generator))
        wave += amplitude * torch.sin(2 * torch.pi * k * f0 * t + phase)
        k += 1
    return wave[None, None]


def _masked_si_sdri(mask, spec, stft, mixture, target) -> float:
    """SI-SDR improvement (dB) of ``iSTFT(mask · X)`` over the mixture, against the target."""
    from ..metrics import si_sdr

    estimate = stft.inverse(spec * mask, mixture.shape[-1])
    return float(si_sdr(estimate, target) - si_sdr(mixture, target))


def _harmonic_cases():
    from ..stft import STFT

    def case(f0, n_fft, snr_db, seed):
        def run(fn):
            generator = torch.Generator().manual_seed(seed)
            target = _harmonic(f0, SAMPLE_RATE, generator)
            noise = torch.randn(target.shape, generator=generator)
            noise *= (target.pow(2).mean() / noise.pow(2).mean()).sqrt() * 10 ** (-snr_db / 20)
            mixture = target + noise
            stft = STFT(n_fft, n_fft // 4)
            spec = stft(mixture)  # (1, 1, T, F)
            got = _call(fn, spec.clone(), f0, SAMPLE_RATE, n_fft)
            if not isinstance(got, torch.Tensor):
                raise _Mismatch(f"return the mask as a tensor, got {type(got).__name__}")
            got = got.detach()
            if got.is_complex():
                raise _Mismatch("return a real mask (one gain per bin), not a complex one")
            try:
                torch.broadcast_shapes(got.shape, spec.shape)
            except RuntimeError:
                raise _Mismatch(f"the mask's shape {tuple(got.shape)} does not fit the "
                                f"spectrogram's {tuple(spec.shape)} (…, T, F)") from None
            if not bool(torch.isfinite(got).all()) or got.min() < 0 or got.max() > 1:
                raise _Mismatch("a mask's values are gains between 0 and 1 (no NaN)")
            score = _masked_si_sdri(got.to(spec.real.dtype), spec, stft, mixture, target)
            if score < HARMONIC_SI_SDRI_DB:
                if float(got.mean()) > 0.9:
                    why = "the mask keeps almost everything, noise included"
                elif float(got.mean()) < 0.02:
                    why = "the mask removes almost everything, the tone included"
                else:
                    why = ("measure how the score changes with the width of the teeth around "
                           "each harmonic, and check where the harmonics fall in bins "
                           "(frequency of bin i = i · sample_rate / n_fft)")
                raise _Mismatch(f"your mask improves SI-SDR by {score:.1f} dB; it must reach "
                                f"{HARMONIC_SI_SDRI_DB:g} dB: {why}")
        return run

    return [
        ("f0 = 220 Hz, n_fft = 1024, 0 dB", case(220.0, 1024, 0.0, 0)),
        ("f0 = 440 Hz, n_fft = 512, 0 dB", case(440.0, 512, 0.0, 1)),
        ("f0 = 150.5 Hz, n_fft = 2048, 0 dB", case(150.5, 2048, 0.0, 2)),
        ("f0 = 330 Hz, n_fft = 1024, noise 5 dB louder", case(330.0, 1024, -5.0, 3)),
    ]


def check_harmonic_mask(fn, progress: bool = True) -> CheckResult:
    """Check ``harmonic_mask(spec, f0, sample_rate, n_fft) -> mask`` (chapter 5's apply
    exercise): a mask designed from ``f0`` alone (no target) for a harmonic tone in white
    noise; applied to the mixture and inverted, it must improve SI-SDR by at least
    :data:`HARMONIC_SI_SDRI_DB` dB in every case. The oracle masks are withheld (they would
    need the target anyway)."""
    return _run(HARMONIC_MASK, fn, _harmonic_cases, progress)


HARMONIC_MASK = Exercise(
    "harmonic_mask", "harmonic_mask", "exercises",
    f"an SI-SDR improvement of {HARMONIC_SI_SDRI_DB:g} dB, measured",
    "keep the bins near multiples of f0 (a comb), remove the rest; measure the best width",
    check_harmonic_mask, kind="apply", teaches=5, points=2,
    withheld=(Withhold("lassnet.masks.ideal_ratio_mask"),
              Withhold("lassnet.masks.ideal_binary_mask"),
              Withhold("lassnet.masks.ideal_amplitude_mask"),
              Withhold("lassnet.masks.phase_sensitive_mask"),
              Withhold("lassnet.exercises.masks._masked_si_sdri")),
)
