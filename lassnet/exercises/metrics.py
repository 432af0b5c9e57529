"""The exercises for chapter 8 (Evaluation) on the exercises page: ``si_sdr_db`` and
``si_sdr_improvement``.

:func:`check_si_sdr` compares the student's SI-SDR with :func:`lassnet.metrics.si_sdr` (noisy,
quiet, negated, perfect and silent-reference estimates, odd lengths, float64) and recognises
the plain SDR, swapped arguments, 20·log10 and the natural logarithm; :func:`check_si_sdri`
compares the improvement with :func:`lassnet.metrics.si_sdri`. Taught in chapter 8
(Evaluation); the exercises are on the book's exercises page.

The *apply* exercise ``paired_difference`` (also there) asks whether system B beats system A
on the same mixtures: the mean difference and a bootstrap interval that resamples the pairs;
:func:`check_paired` compares with its own bootstrap on cases where pairing decides.
"""

from __future__ import annotations

import numpy as np
import torch

from ._runner import CheckResult, Exercise, Withhold, _call, _compare, _Mismatch, _run


def _si_sdr_inputs(shape, noise=0.3, gain=1.0, silent=False, perfect=False, dtype=None):
    reference = torch.zeros(shape) if silent else torch.randn(shape)
    estimate = reference.clone() if perfect else reference + noise * torch.randn(shape)
    if silent:
        estimate = noise * torch.randn(shape)
    estimate = gain * estimate
    if dtype is not None:
        estimate, reference = estimate.to(dtype), reference.to(dtype)
    return estimate, reference


def _si_sdr_cases():
    from ..metrics import sdr, si_sdr

    def case(note="", **kw):
        def run(fn):
            estimate, reference = _si_sdr_inputs(**kw)
            expected = si_sdr(estimate, reference)
            got = _call(fn, estimate.clone(), reference.clone())
            swapped = si_sdr(reference, estimate)
            mistakes = [
                ("this is the plain SDR: it changes when the estimate is scaled; first scale "
                 "the reference by α, its best fit to the estimate", sdr(estimate, reference)),
                ("estimate and reference are swapped: scale the *reference* by α to fit the "
                 "estimate", swapped),
                ("use 10·log10 of an energy ratio (20·log10 is for amplitude ratios)",
                 2 * expected),
                ("use log10, not the natural logarithm",
                 expected * np.log(10.0)),
            ]
            _compare("SI-SDR", got, expected, rtol=0.0, atol=1e-3, mistakes=mistakes,
                     note=note, nan_hint="a silent reference or a perfect estimate makes an "
                     "energy 0; add ε to the numerator and the denominator as in the formula")
        return run

    return [
        ("a batch of 3 noisy estimates, shape (3, 1, L)", case(shape=(3, 1, 1600))),
        ("odd length, shape (2, L)", case(shape=(2, 999), noise=1.0)),
        ("batch of 1", case(shape=(1, 1, 800), noise=0.05)),
        ("an estimate at a quarter of the volume", case(shape=(2, 1, 1000), gain=0.25,
                                                        note="SI-SDR ignores the volume")),
        ("a negated, louder estimate", case(shape=(2, 1, 1000), gain=-3.0)),
        ("a perfect estimate", case(shape=(2, 1, 1000), perfect=True,
                                    note="A perfect estimate scores 10·log10((‖s‖² + ε) / ε)")),
        ("a silent reference", case(shape=(2, 1, 1000), silent=True,
                                    note="With a silent reference the score is set by ε alone: "
                                         "ε = torch.finfo(dtype).eps, placed as in the formula")),
        ("float64 inputs", case(shape=(2, 1, 1000), dtype=torch.float64)),
    ]


def check_si_sdr(fn, progress: bool = True) -> CheckResult:
    """Check ``si_sdr_db(estimate, reference) -> scores`` (the exercises chapter) against
    :func:`lassnet.metrics.si_sdr`: inputs ``(..., L)``, one score in dB per signal ``(...)``."""
    return _run(SI_SDR, fn, _si_sdr_cases, progress)


def _si_sdri_cases():
    from ..metrics import sdri, si_sdr, si_sdri

    def case(kind, shape):
        def run(fn):
            reference = torch.randn(shape)
            mixture = reference + torch.randn(shape)
            if kind == "mixture":
                estimate = mixture.clone()
            elif kind == "scaled mixture":
                estimate = 0.3 * mixture
            else:
                estimate = reference + 0.2 * torch.randn(shape)
            expected = si_sdri(estimate, reference, mixture)
            got = _call(fn, estimate.clone(), reference.clone(), mixture.clone())
            mistakes = [
                ("sign error: the improvement is the estimate's score *minus* the mixture's",
                 -expected),
                ("this uses the plain SDR; the improvement here is in SI-SDR",
                 sdri(estimate, reference, mixture)),
                ("this is the estimate's SI-SDR alone; subtract the mixture's score",
                 si_sdr(estimate, reference)),
            ]
            note = "Returning the mixture (at any volume) improves nothing: 0 dB" \
                if "mixture" in kind else ""
            _compare("SI-SDRi", got, expected, rtol=0.0, atol=1e-3, mistakes=mistakes, note=note)
        return run

    return [
        ("a good estimate, batch of 3", case("estimate", (3, 1, 1600))),
        ("odd length, batch of 1", case("estimate", (1, 1, 1001))),
        ("the mixture itself", case("mixture", (2, 1, 1000))),
        ("the mixture, quieter", case("scaled mixture", (2, 1, 1000))),
    ]


def check_si_sdri(fn, progress: bool = True) -> CheckResult:
    """Check ``si_sdr_improvement(estimate, reference, mixture) -> dB`` (the exercises
    chapter) against :func:`lassnet.metrics.si_sdri`."""
    return _run(SI_SDRI, fn, _si_sdri_cases, progress)


SI_SDR = Exercise(
    "si_sdr", "si_sdr_db", "exercises", "lassnet.metrics.si_sdr",
    "α = (⟨ŝ, s⟩ + ε) / (‖s‖² + ε), then 10·log10 of the energies of α·s and α·s − ŝ (each + ε)",
    check_si_sdr,
    teaches=8,
    withheld=(Withhold("lassnet.metrics.si_sdr"), Withhold("lassnet.metrics.si_sdri"),
              Withhold("lassnet.metrics._si_sdr64"),
              Withhold("torchmetrics.functional.scale_invariant_signal_distortion_ratio"),
              Withhold("torchmetrics.functional.scale_invariant_signal_noise_ratio")),
)
SI_SDRI = Exercise(
    "si_sdri", "si_sdr_improvement", "exercises", "lassnet.metrics.si_sdri",
    "the estimate's SI-SDR minus the mixture's, against the same reference", check_si_sdri,
    # SI-SDR itself stays allowed: this exercise is about the baseline, not the metric.
    teaches=8,
    withheld=(Withhold("lassnet.metrics.si_sdri"),),
)


# --------------------------------------------------------------------------- apply: paired
def _percentile_interval(values: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """The checker's own 95 % percentile bootstrap interval of the mean of ``values``."""
    rng = np.random.default_rng(seed + 12345)
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def _paired_cases():
    def case(n, gain_db, spread_db, noise_db, excludes_zero):
        def run(fn):
            rng = np.random.default_rng(n)
            difficulty = rng.normal(0.0, spread_db, n)  # how hard each mixture is
            a = 5.0 + difficulty + rng.normal(0.0, noise_db, n)
            b = 5.0 + gain_db + difficulty + rng.normal(0.0, noise_db, n)
            n_boot = 4000
            got = _call(fn, a.copy(), b.copy(), n_boot, 0)
            if not isinstance(got, (tuple, list)) or len(got) != 3:
                raise _Mismatch("return a tuple (mean difference, low, high)")
            try:
                mean, low, high = (float(v) for v in got)
            except (TypeError, ValueError):
                raise _Mismatch("the three values must be numbers") from None
            diff = b - a
            if abs(mean + diff.mean()) < 1e-9 and abs(diff.mean()) > 1e-6:
                raise _Mismatch("sign error: the difference is B − A (positive when B is "
                                "better)")
            if abs(mean - diff.mean()) > 1e-6:
                raise _Mismatch(f"the mean difference is {mean:.4g}, expected the mean of "
                                "B − A over the mixtures")
            if not low <= mean <= high:
                raise _Mismatch("the interval should contain the mean difference")
            ref_low, ref_high = _percentile_interval(diff, n_boot, 0)
            width, ref_width = high - low, ref_high - ref_low
            unpaired = 1.96 * np.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / n) * 2
            if width > 2.0 * ref_width and abs(width - unpaired) < 0.5 * unpaired:
                raise _Mismatch(
                    f"the interval is {width:.2f} dB wide, as if A and B were resampled "
                    "independently: the same mixtures were scored by both systems, so resample "
                    "the mixtures and keep each pair together")
            tolerance = 0.15 * ref_width
            if abs(low - ref_low) > tolerance or abs(high - ref_high) > tolerance:
                raise _Mismatch(
                    f"interval [{low:.3f}, {high:.3f}] dB; measured with another {n_boot}-fold "
                    f"bootstrap it is about [{ref_low:.3f}, {ref_high:.3f}] dB. Resample the "
                    "mixtures with replacement (as many as there are), take each resample's "
                    "mean difference, and the 2.5 and 97.5 percentiles of those means")
            if excludes_zero != (low > 0 or high < 0):
                raise _Mismatch("the decision is wrong: check the interval")
        return run

    return [
        ("B better by 0.5 dB, mixtures of very different difficulty", case(40, 0.5, 6.0, 0.4,
                                                                           True)),
        ("no real difference", case(60, 0.0, 3.0, 1.0, False)),
        ("B worse by 1 dB, 12 mixtures", case(12, -1.0, 4.0, 0.5, True)),
    ]


def check_paired(fn, progress: bool = True) -> CheckResult:
    """Check ``paired_difference(scores_a, scores_b, n_boot, seed) -> (mean, low, high)``
    (chapter 8's apply exercise): the mean of ``B − A`` over the same mixtures and a 95 %
    percentile-bootstrap interval of it that resamples the *pairs*, compared with the checker's
    own bootstrap (within 15 % of its width) on a case where pairing decides the answer.
    :func:`lassnet.evaluate.bootstrap_ci` is withheld."""
    return _run(PAIRED, fn, _paired_cases, progress)


PAIRED = Exercise(
    "paired", "paired_difference", "exercises", "a percentile bootstrap of the pairs",
    "differences per mixture, resample them with replacement n_boot times, percentiles "
    "2.5 and 97.5 of the resampled means", check_paired, kind="apply", teaches=8, points=2,
    withheld=(Withhold("lassnet.evaluate.bootstrap_ci"),
              Withhold("scipy.stats.bootstrap"),
              Withhold("lassnet.exercises.metrics._percentile_interval")),
)
