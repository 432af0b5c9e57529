"""The exercise for chapter 6 (Data) on the exercises page: ``mix_at_snr``.

The student scales an interferer to a target SNR and returns ``(mixture, scaled interferer)``;
:func:`check_mix_at_snr` compares it with :func:`lassnet.audio.mix_at_snr` (0, +10 and −5 dB,
a batch of different loudness, an odd length, a silent interferer, a silent target), refuses
changed inputs and a mixture that is not the sum, and recognises a wrong SNR sign, a power
gain, no energy matching and batch-wide energies. Taught in chapter 6 (Data); the exercise is
on the book's exercises page.

The *apply* exercise ``mix_many`` (also there) mixes several interferers so that their *sum*
sits a given SNR below the target; :func:`check_mix_many` measures the result, including
with two strongly correlated interferers (whose energies do not add).
"""

from __future__ import annotations

import torch

from ._runner import CheckResult, Exercise, Withhold, _call, _close, _compare, _Mismatch, _run


def _mix_cases():
    from ..audio import match_energy, mix_at_snr

    def case(shape, snr_db, target_gain=1.0, interferer_gain=1.0, note=""):
        def run(fn):
            target = target_gain * torch.randn(shape)
            # Every example of the batch has its own loudness.
            loudness = torch.rand(*shape[:-1], 1) * 3 + 0.1
            interferer = interferer_gain * loudness * torch.randn(shape)
            expected = mix_at_snr(target, interferer, snr_db)
            t_in, i_in = target.clone(), interferer.clone()
            got = _call(fn, t_in, i_in, snr_db)
            if not (torch.equal(t_in, target) and torch.equal(i_in, interferer)):
                raise _Mismatch("your function changed its inputs in place; return new tensors")
            if (isinstance(got, (tuple, list)) and len(got) == 2
                    and all(isinstance(g, torch.Tensor) and g.shape == target.shape
                            and bool(torch.isfinite(g).all()) for g in got)
                    and not _close(got[0].detach(), target + got[1].detach(), 1e-5, 1e-6)):
                raise _Mismatch("the mixture must be exactly target + scaled interferer")
            matched = match_energy(interferer, target)
            gain = 10 ** (-snr_db / 20)
            wrong = lambda scaled: (target + scaled, scaled)  # noqa: E731
            whole = interferer * (target.pow(2).mean() / interferer.pow(2).mean()).sqrt() * gain
            mistakes = [
                ("sign error: at a positive SNR the interferer must be *quieter* than the target",
                 wrong(matched / gain)),
                ("an amplitude gain is 10^(dB/20); 10^(dB/10) is for powers",
                 wrong(matched * 10 ** (-snr_db / 10))),
                ("match the interferer's energy to the target's first, then apply the gain",
                 wrong(interferer * gain)),
                ("the energies are per signal (mean square over the last axis), not over the "
                 "whole batch", wrong(whole)),
                ("scale the interferer, not the target",
                 (target * gain + matched, matched) if snr_db else None),
            ]
            _compare(("mixture", "scaled interferer"), got, expected, rtol=1e-4, atol=1e-6,
                     mistakes=mistakes, note=note,
                     nan_hint="a silent interferer has energy 0; floor the energy you divide by "
                              "(at 1e-10) so that silence stays silence")
        return run

    return [
        ("0 dB, shape (1, L)", case((1, 4000), 0.0)),
        ("+10 dB, a batch of 3 of different loudness", case((3, 1, 2000), 10.0)),
        ("−5 dB, odd length", case((2, 1, 1999), -5.0)),
        ("a silent interferer", case((2, 1, 1000), 5.0, interferer_gain=0.0,
                                     note="A silent interferer stays silent")),
        ("a silent target", case((2, 1, 1000), 5.0, target_gain=0.0,
                                 note="Against a silent target the interferer is scaled to "
                                      "silence")),
    ]


def check_mix_at_snr(fn, progress: bool = True) -> CheckResult:
    """Check ``mix_at_snr(target, interferer, snr_db) -> (mixture, scaled_interferer)`` (the
    exercises chapter) against :func:`lassnet.audio.mix_at_snr`."""
    return _run(MIX_AT_SNR, fn, _mix_cases, progress)


MIX_AT_SNR = Exercise(
    "mix_at_snr", "mix_at_snr", "exercises", "lassnet.audio.mix_at_snr",
    "match the interferer's energy to the target's, then a gain of −snr_db dB", check_mix_at_snr,
    teaches=6,
    withheld=(Withhold("lassnet.audio.mix_at_snr"), Withhold("lassnet.audio.scale_to_snr"),
              Withhold("lassnet.audio.match_energy")),
)


# --------------------------------------------------------------------------- apply: many
def _measured_snr_db(target: torch.Tensor, interference: torch.Tensor) -> torch.Tensor:
    """``10·log10(E_target / E_interference)`` per signal (``E`` = mean square over time)."""
    return 10 * torch.log10(target.pow(2).mean(-1) / interference.pow(2).mean(-1))


def _many_cases():
    def case(n, shape, snr_db, correlated=False):
        def run(fn):
            target = torch.randn(shape)
            interferers = [(0.2 + 3 * torch.rand(*shape[:-1], 1)) * torch.randn(shape)
                           for _ in range(n)]
            if correlated:  # two interferers share most of their content
                interferers[1] = 0.5 * interferers[1] + 2.0 * interferers[0]
            originals = [i.clone() for i in interferers]
            got = _call(fn, target.clone(), [i.clone() for i in interferers], snr_db)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise _Mismatch("return a tuple (mixture, list of scaled interferers)")
            mixture, scaled = got
            if not isinstance(mixture, torch.Tensor) or tuple(mixture.shape) != tuple(shape):
                raise _Mismatch(f"the mixture should be a tensor of shape {tuple(shape)}")
            if not isinstance(scaled, (tuple, list)) or len(scaled) != n or not all(
                    isinstance(s, torch.Tensor) and s.shape == target.shape for s in scaled):
                raise _Mismatch(f"return the {n} scaled interferers as a list of tensors shaped "
                                "like the target")
            mixture, scaled = mixture.detach(), [s.detach() for s in scaled]
            if not all(bool(torch.isfinite(s).all()) for s in [mixture, *scaled]):
                raise _Mismatch("NaN or Inf in the output")
            if not torch.allclose(mixture, target + sum(scaled), rtol=1e-5, atol=1e-5):
                raise _Mismatch("the mixture must be the target plus the scaled interferers")
            for index, (s, original) in enumerate(zip(scaled, originals, strict=True)):
                gain = (s * original).sum(-1) / original.pow(2).sum(-1)
                if (gain < 0).any() or not torch.allclose(s, gain[..., None] * original,
                                                          rtol=1e-4, atol=1e-5):
                    raise _Mismatch(f"interferer {index + 1} is not a scaled copy of its input: "
                                    "only multiply each signal by a positive gain")
            energies = torch.stack([s.pow(2).mean(-1) for s in scaled])  # (n, ...)
            if ((energies / energies.mean(0)) - 1).abs().max() > 1e-3:
                raise _Mismatch("the interferers should be equally loud (the same energy), as "
                                "energy matching makes them")
            snr = _measured_snr_db(target, sum(scaled))
            worst = float((snr - snr_db).abs().max())
            if worst > 0.01:
                per_source = _measured_snr_db(target, scaled[0])
                hint = ("each interferer alone sits at the SNR; the *sum* of the interferers must"
                        if bool(((per_source - snr_db).abs() < 0.01).all()) else
                        "the sum of the interferers must")
                raise _Mismatch(f"measured, the target is {float(snr.flatten()[0]):.2f} dB above "
                                f"the interference, not {snr_db:g} dB: {hint} sit {snr_db:g} dB "
                                "below the target (measure the sum's energy: energies of "
                                "signals do not simply add)")
        return run

    return [
        ("two interferers at 0 dB", case(2, (1, 4000), 0.0)),
        ("three interferers at +5 dB, a batch of 2", case(3, (2, 1, 3000), 5.0)),
        ("two strongly correlated interferers at 0 dB", case(2, (1, 3000), 0.0,
                                                            correlated=True)),
        ("four interferers at −3 dB", case(4, (2, 1, 2001), -3.0)),
    ]


def check_mix_many(fn, progress: bool = True) -> CheckResult:
    """Check ``mix_many(target, interferers, snr_db) -> (mixture, scaled)`` (chapter 6's apply
    exercise): several interferers, made equally loud, whose *sum* sits ``snr_db`` dB below
    the target, measured. The library's mixing functions are allowed (using them on a new case
    is the point); the checker's measurement is withheld."""
    return _run(MIX_MANY, fn, _many_cases, progress)


MIX_MANY = Exercise(
    "mix_many", "mix_many", "exercises", "the measured SNR of the target against the sum",
    "match every interferer to the target's energy, then scale them all by one gain set by "
    "the energy of their sum", check_mix_many, kind="apply", teaches=6, points=2,
    withheld=(Withhold("lassnet.exercises.data._measured_snr_db"),),
)
