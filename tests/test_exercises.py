"""The exercise checkers: right answers pass, typical wrong answers and stubs fail cleanly.

The right answers are the book's own solution cells (``tools.exercises.solutions``); the wrong
answers are written here, most of them as one deliberate change to the book's answer.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lassnet.exercises import EXERCISES, CheckResult, check
from tools import exercises as classroom

BOOK = Path(__file__).resolve().parent.parent / "book"


# --------------------------------------------------------------------------- right answers
@functools.cache
def _book_solutions() -> dict:
    return classroom.solutions()


def right(name: str):
    """The book's solution of exercise ``name`` (its solution cell, run on its own)."""
    return _book_solutions()[name]


# --------------------------------------------------------------------------- wrong answers
def _train_step_changed(change: str):
    """A training step with one deliberate mistake: ``"no step"`` (the optimiser never steps),
    ``"no zero_grad"``, ``"mse"`` (squared instead of absolute error) or ``"no train mode"``."""
    assert change in ("no step", "no zero_grad", "mse", "no train mode"), change

    def step(model, optimizer, mixture, condition, target):
        if change != "no train mode":
            model.train()
        if change != "no zero_grad":
            optimizer.zero_grad()
        error = model(mixture, condition) - target
        loss = error.pow(2).mean() if change == "mse" else error.abs().mean()
        loss.backward()
        if change != "no step":
            optimizer.step()
        return loss.item()

    return step


def _mix_changed(change: str):
    """``mix_at_snr`` with energies over the whole batch (``"global"``) or no floor under the
    interferer's energy (``"no floor"``)."""
    assert change in ("global", "no floor"), change

    def mix(target, interferer, snr_db):
        if change == "global":
            e_t, e_i = target.pow(2).mean(), interferer.pow(2).mean().clamp_min(1e-10)
        else:
            e_t = target.pow(2).mean(-1, keepdim=True)
            e_i = interferer.pow(2).mean(-1, keepdim=True)
        scaled = interferer * (e_t / e_i).sqrt() * 10 ** (-snr_db / 20)
        return target + scaled, scaled

    return mix


def _si_sdr_with_eps(eps: float):
    """SI-SDR with a fixed ``eps`` in place of the dtype's machine epsilon (0: none at all)."""
    def si_sdr_db(est, ref):
        alpha = (((est * ref).sum(-1, keepdim=True) + eps)
                 / (ref.pow(2).sum(-1, keepdim=True) + eps))
        t = alpha * ref
        return 10 * torch.log10((t.pow(2).sum(-1) + eps) / ((t - est).pow(2).sum(-1) + eps))

    return si_sdr_db


def _swap_last(name):
    return lambda *a: (lambda m, c, s: (m, s, c))(*right(name)(*a))


def _residual_without_shortcut(b, x):
    return right("residual_block")(b, x) - b.shortcut(x)


W = pytest.param
WRONG = [
    # exercise, the mistake, the function, a fragment its FAIL message must contain
    W("stft_split", lambda s: (s.abs() ** 2, *right("stft_split")(s)[1:]), "not the power",
      id="stft_split-power instead of magnitude"),
    W("stft_split", lambda s: (s.abs(), s.real / s.abs(), s.imag / s.abs()), "NaN",
      id="stft_split-no floor"),
    W("stft_split", lambda s: (s.abs(), torch.cos(torch.angle(s)), torch.sin(torch.angle(s))),
      "silent bins", id="stft_split-angle-based phase"),
    W("stft_split", _swap_last("stft_split"), "swapped", id="stft_split-cos and sin swapped"),
    W("stft_split", lambda s: tuple(t.transpose(-1, -2) for t in right("stft_split")(s)),
      "shape mismatch", id="stft_split-frames and bins transposed"),
    W("stft_split", lambda s: (lambda m, c, si: (m, c, -si))(*right("stft_split")(s)),
      "sign error", id="stft_split-sin with the wrong sign"),
    W("stft_split", lambda s: right("stft_split")(s)[0], "tuple of 3",
      id="stft_split-only the magnitude"),
    W("stft_split", lambda s: (s, s, s), "complex", id="stft_split-complex output"),
    W("residual_block", _residual_without_shortcut, "shortcut is missing",
      id="residual_block-no shortcut"),
    W("residual_block",
      lambda b, x: b.conv2(F.relu(b.bn2(b.conv1(F.relu(b.bn1(x)))))) + b.shortcut(x), "ReLU",
      id="residual_block-ReLU instead of LeakyReLU"),
    W("residual_block",
      lambda b, x: b.conv2(F.leaky_relu(b.bn2(b.conv1(F.leaky_relu(b.bn1(x))))))
      + b.shortcut(x), "negative_slope", id="residual_block-hard-coded slope"),
    W("residual_block", lambda b, x: _residual_without_shortcut(b, x) + x, "raised RuntimeError",
      id="residual_block-adds x instead of the shortcut"),
    W("residual_block", lambda b, x: b(x), "write it yourself",
      id="residual_block-calls the block itself"),
    W("film", lambda x, e, bn, lin: bn(x) + lin(e), "(B, C, 1, 1)", id="film-β not reshaped"),
    W("film", lambda x, e, bn, lin: bn(x) * lin(e)[:, :, None, None], "added",
      id="film-β multiplies"),
    W("film", lambda x, e, bn, lin: bn(x + lin(e)[:, :, None, None]), "not to its input",
      id="film-β before the batch norm"),
    W("film", lambda x, e, bn, lin: bn(x) + (e @ lin.weight.T)[:, :, None, None], "bias",
      id="film-bias forgotten"),
    W("film", lambda x, e, bn, lin: bn(x) + lin(e[:1])[:, :, None, None], "its own β",
      id="film-one β for the whole batch"),
    W("film", lambda x, e, bn, lin: bn(x), "shift is missing", id="film-no shift at all"),
    W("apply_masks", lambda m, c, s, M, mc, ms: (torch.relu(m * M), c, s), "phase not rotated",
      id="apply_masks-phase not rotated"),
    W("apply_masks",
      lambda m, c, s, M, mc, ms: (torch.relu(m * M), c * mc + s * ms, s * mc - c * ms),
      "wrong way", id="apply_masks-rotated backwards"),
    W("apply_masks",
      lambda m, c, s, M, mc, ms: (m * M, *right("apply_masks")(m, c, s, M, mc, ms)[1:]), "relu",
      id="apply_masks-no relu"),
    W("apply_masks",
      lambda m, c, s, M, mc, ms: (lambda a, b, d: (a, b * M, d * M))(
          *right("apply_masks")(m, c, s, M, mc, ms)), "only the magnitude",
      id="apply_masks-mask applied to the phase"),
    W("ratio_mask",
      lambda S, X: S.abs() ** 2 / (S.abs() ** 2 + (X - S).abs() ** 2).clamp_min(1e-10),
      "exponent", id="ratio_mask-exponent missing"),
    W("ratio_mask", lambda S, X: (S.abs() ** 2 / (S.abs() ** 2 + (X - S).abs() ** 2)).sqrt(),
      "NaN", id="ratio_mask-no floor"),
    W("ratio_mask", lambda S, X: S.abs() / X.abs().clamp_min(1e-5), "interference N = X − S",
      id="ratio_mask-mixture in the denominator"),
    W("ratio_mask", lambda S, X: right("ratio_mask")(X - S, X), "interference's mask",
      id="ratio_mask-interference's mask"),
    W("si_sdr", lambda e, r: 10 * torch.log10(r.pow(2).sum(-1) / (r - e).pow(2).sum(-1)),
      "plain SDR", id="si_sdr-plain SDR"),
    W("si_sdr", lambda e, r: 2 * right("si_sdr")(e, r), "20·log10", id="si_sdr-20·log10"),
    W("si_sdr", lambda e, r: right("si_sdr")(r, e), "swapped", id="si_sdr-arguments swapped"),
    W("si_sdr", lambda e, r: right("si_sdr")(e, r).mean(), "shape mismatch",
      id="si_sdr-mean over the batch"),
    W("si_sdr", _si_sdr_with_eps(0.0), "Inf", id="si_sdr-no ε"),
    W("si_sdr", _si_sdr_with_eps(1e-8), "ε", id="si_sdr-another ε"),
    W("si_sdri", lambda e, r, m: right("si_sdr")(m, r) - right("si_sdr")(e, r), "minus",
      id="si_sdri-sign"),
    W("si_sdri", lambda e, r, m: right("si_sdr")(e, r), "subtract the mixture",
      id="si_sdri-no baseline"),
    W("mix_at_snr", lambda t, i, snr: right("mix_at_snr")(t, i, -snr), "quieter",
      id="mix_at_snr-sign of the SNR"),
    W("mix_at_snr", lambda t, i, snr: right("mix_at_snr")(t, i, 2 * snr), "10^(dB/20)",
      id="mix_at_snr-power gain"),
    W("mix_at_snr", lambda t, i, snr: (t + i * 10 ** (-snr / 20), i * 10 ** (-snr / 20)),
      "match", id="mix_at_snr-no energy matching"),
    W("mix_at_snr", _mix_changed("global"), "per signal",
      id="mix_at_snr-energies over the whole batch"),
    W("mix_at_snr", _mix_changed("no floor"), "NaN", id="mix_at_snr-no floor"),
    W("mix_at_snr", lambda t, i, snr: (t, right("mix_at_snr")(t, i, snr)[1]), "target + scaled",
      id="mix_at_snr-mixture not the sum"),
    W("train_step", _train_step_changed("no step"), "did not change",
      id="train_step-no optimiser step"),
    W("train_step", _train_step_changed("no zero_grad"), "clear them",
      id="train_step-gradients never cleared"),
    W("train_step", _train_step_changed("mse"), "mean absolute error",
      id="train_step-squared error"),
    W("train_step", _train_step_changed("no train mode"), "training mode",
      id="train_step-model left in eval mode"),
    W("train_step", lambda *a: (right("train_step")(*a), None)[1], "return the loss",
      id="train_step-nothing returned"),
]


# --------------------------------------------------------------------------- tests
def test_there_are_at_least_eight_exercises_each_in_an_existing_chapter():
    assert len(EXERCISES) >= 8
    for e in EXERCISES.values():
        assert (BOOK / f"{e.chapter}.md").is_file(), e
        assert e.function.isidentifier() and e.hint


def test_the_book_answers_every_exercise():
    assert sorted(_book_solutions()) == sorted(EXERCISES)
    for name, fn in _book_solutions().items():
        assert fn.__name__ == EXERCISES[name].function


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_books_answer_passes(name, capsys):
    result = check(name, right(name))
    assert isinstance(result, CheckResult) and result.passed and bool(result)
    assert result.cases_passed == result.cases_total >= 3
    out = capsys.readouterr().out
    assert out.startswith(f"PASS {name}") and EXERCISES[name].reference in out


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_a_stub_fails_cleanly_naming_not_implemented(name, capsys):
    def stub(*args):
        raise NotImplementedError(EXERCISES[name].hint)

    result = check(name, stub)
    assert not result and result.error == "NotImplementedError"
    assert result.failed_case is not None and result.cases_passed == 0
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL {name}") and "NotImplementedError" in out
    assert EXERCISES[name].hint in out


@pytest.mark.parametrize("exercise, fn, fragment", WRONG)
def test_a_typical_mistake_fails_with_a_specific_hint(exercise, fn, fragment):
    result = check(exercise, fn, progress=False)
    assert not result.passed
    assert fragment in result.message, result.message
    assert result.message.startswith(f"FAIL {exercise}")


def test_every_exercise_has_wrong_answers_under_test():
    assert {w.values[0] for w in WRONG} == set(EXERCISES)


@pytest.mark.parametrize("name", sorted(EXERCISES))
@pytest.mark.parametrize("junk", [None, "text", 3, [1, 2]], ids=["None", "str", "int", "list"])
def test_any_output_is_a_clean_fail(name, junk):
    result = check(name, lambda *args: junk, progress=False)
    assert not result.passed and result.message.startswith(f"FAIL {name}")


def test_not_a_function_is_a_fail():
    result = check("si_sdr", 42, progress=False)
    assert not result and "expected a function" in result.message


def test_an_exception_names_its_type_and_the_students_line():
    def si_sdr_db(estimate, reference):
        energy = (reference**2).sum(-1)
        return energy / 0 + {}["oops"]

    result = check("si_sdr", si_sdr_db, progress=False)
    assert not result and result.error == "KeyError"
    assert "raised KeyError" in result.message and "in si_sdr_db, line" in result.message
    assert "{}[\"oops\"]" in result.message or "oops" in result.message


def test_checkers_leave_the_global_random_state_alone():
    split_magphase, mix_at_snr = right("stft_split"), right("mix_at_snr")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check("stft_split", split_magphase, progress=False)
    check("mix_at_snr", mix_at_snr, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_check_rejects_an_unknown_exercise():
    with pytest.raises(ValueError, match="unknown exercise"):
        check("no_such_exercise", right("stft_split"))
