"""The exercise for chapter 6 (Data) on the exercises page: ``mix_at_snr``.

The student scales an interferer to a target SNR and returns ``(mixture, scaled interferer)``;
:func:`check_mix_at_snr` compares it with :func:`lassnet.audio.mix_at_snr` (0, +10 and −5 dB,
a batch of different loudness, an odd length, a silent interferer, a silent target), refuses
changed inputs and a mixture that is not the sum, and recognises a wrong SNR sign, a power
gain, no energy matching and batch-wide energies. Taught in chapter 6 (Data); the exercise is
on the book's exercises page.
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
