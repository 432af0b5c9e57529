"""The exercise checkers: right answers pass, typical wrong answers and stubs fail cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lassnet.exercises import EXERCISES, CheckResult, check

BOOK = Path(__file__).resolve().parent.parent / "book"


# --------------------------------------------------------------------------- right answers
def split_magphase(spec):
    re, im = spec.real, spec.imag
    mag = torch.clamp(re**2 + im**2, min=1e-10).sqrt()
    return mag, re / mag, im / mag


def residual_forward(block, x):
    s = block.negative_slope
    h = block.conv1(F.leaky_relu(block.bn1(x), s))
    h = block.conv2(F.leaky_relu(block.bn2(h), s))
    return h + block.shortcut(x)


def film_forward(x, embedding, bn, linear):
    return bn(x) + linear(embedding)[:, :, None, None]


def rotate_and_mask(mag, cos, sin, m, mc, ms):
    return torch.relu(mag * m), cos * mc - sin * ms, sin * mc + cos * ms


def ratio_mask(S, X):
    s, n = S.abs() ** 2, (X - S).abs() ** 2
    return (s / torch.clamp(s + n, min=1e-10)).sqrt()


def si_sdr_db(est, ref):
    eps = torch.finfo(est.dtype).eps
    alpha = ((est * ref).sum(-1, keepdim=True) + eps) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    t = alpha * ref
    return 10 * torch.log10((t.pow(2).sum(-1) + eps) / ((t - est).pow(2).sum(-1) + eps))


def si_sdr_improvement(est, ref, mix):
    return si_sdr_db(est, ref) - si_sdr_db(mix, ref)


def mix_at_snr(target, interferer, snr_db):
    e_t = target.pow(2).mean(-1, keepdim=True)
    e_i = interferer.pow(2).mean(-1, keepdim=True).clamp_min(1e-10)
    scaled = interferer * (e_t / e_i).sqrt() * 10 ** (-snr_db / 20)
    return target + scaled, scaled


def train_step(model, optimizer, mixture, condition, target):
    model.train()
    optimizer.zero_grad()
    loss = (model(mixture, condition) - target).abs().mean()
    loss.backward()
    optimizer.step()
    return loss.item()


RIGHT = {
    "stft_split": split_magphase,
    "residual_block": residual_forward,
    "film": film_forward,
    "apply_masks": rotate_and_mask,
    "ratio_mask": ratio_mask,
    "si_sdr": si_sdr_db,
    "si_sdri": si_sdr_improvement,
    "mix_at_snr": mix_at_snr,
    "train_step": train_step,
}


# --------------------------------------------------------------------------- wrong answers
def _swap_last(fn):
    return lambda *a: (lambda m, c, s: (m, s, c))(*fn(*a))


def _nostep(model, optimizer, mixture, condition, target):
    model.train()
    optimizer.zero_grad()
    loss = (model(mixture, condition) - target).abs().mean()
    loss.backward()
    return loss.item()


def _nozero(model, optimizer, mixture, condition, target):
    model.train()
    loss = (model(mixture, condition) - target).abs().mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def _mse(model, optimizer, mixture, condition, target):
    model.train()
    optimizer.zero_grad()
    loss = (model(mixture, condition) - target).pow(2).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def _no_train_mode(model, optimizer, mixture, condition, target):
    optimizer.zero_grad()
    loss = (model(mixture, condition) - target).abs().mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def _mix_global(target, interferer, snr_db):
    e_t, e_i = target.pow(2).mean(), interferer.pow(2).mean().clamp_min(1e-10)
    scaled = interferer * (e_t / e_i).sqrt() * 10 ** (-snr_db / 20)
    return target + scaled, scaled


def _mix_no_floor(target, interferer, snr_db):
    e_t, e_i = target.pow(2).mean(-1, keepdim=True), interferer.pow(2).mean(-1, keepdim=True)
    scaled = interferer * (e_t / e_i).sqrt() * 10 ** (-snr_db / 20)
    return target + scaled, scaled


def _si_sdr_fixed_eps(est, ref):
    eps = 1e-8
    alpha = ((est * ref).sum(-1, keepdim=True) + eps) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    t = alpha * ref
    return 10 * torch.log10((t.pow(2).sum(-1) + eps) / ((t - est).pow(2).sum(-1) + eps))


def _si_sdr_no_eps(est, ref):
    alpha = (est * ref).sum(-1, keepdim=True) / ref.pow(2).sum(-1, keepdim=True)
    t = alpha * ref
    return 10 * torch.log10(t.pow(2).sum(-1) / (t - est).pow(2).sum(-1))


WRONG = [
    # (exercise, description, function, fragment the FAIL message must contain)
    ("stft_split", "power instead of magnitude",
     lambda s: (s.abs() ** 2, *split_magphase(s)[1:]), "not the power"),
    ("stft_split", "no floor", lambda s: (s.abs(), s.real / s.abs(), s.imag / s.abs()), "NaN"),
    ("stft_split", "angle-based phase",
     lambda s: (s.abs(), torch.cos(torch.angle(s)), torch.sin(torch.angle(s))), "silent bins"),
    ("stft_split", "cos and sin swapped", _swap_last(split_magphase), "swapped"),
    ("stft_split", "frames and bins transposed",
     lambda s: tuple(t.transpose(-1, -2) for t in split_magphase(s)), "shape mismatch"),
    ("stft_split", "sin with the wrong sign",
     lambda s: (lambda m, c, si: (m, c, -si))(*split_magphase(s)), "sign error"),
    ("stft_split", "only the magnitude", lambda s: split_magphase(s)[0], "tuple of 3"),
    ("stft_split", "complex output", lambda s: (s, s, s), "complex"),
    ("residual_block", "no shortcut",
     lambda b, x: residual_forward(b, x) - b.shortcut(x), "shortcut is missing"),
    ("residual_block", "ReLU instead of LeakyReLU",
     lambda b, x: b.conv2(F.relu(b.bn2(b.conv1(F.relu(b.bn1(x)))))) + b.shortcut(x), "ReLU"),
    ("residual_block", "hard-coded slope",
     lambda b, x: b.conv2(F.leaky_relu(b.bn2(b.conv1(F.leaky_relu(b.bn1(x))))))
     + b.shortcut(x), "negative_slope"),
    ("residual_block", "adds x instead of the shortcut",
     lambda b, x: residual_forward(b, x) - b.shortcut(x) + x, "raised RuntimeError"),
    ("residual_block", "calls the block itself", lambda b, x: b(x), "called the block itself"),
    ("film", "β not reshaped", lambda x, e, bn, lin: bn(x) + lin(e), "(B, C, 1, 1)"),
    ("film", "β multiplies", lambda x, e, bn, lin: bn(x) * lin(e)[:, :, None, None], "added"),
    ("film", "β before the batch norm",
     lambda x, e, bn, lin: bn(x + lin(e)[:, :, None, None]), "not to its input"),
    ("film", "bias forgotten",
     lambda x, e, bn, lin: bn(x) + (e @ lin.weight.T)[:, :, None, None], "bias"),
    ("film", "one β for the whole batch",
     lambda x, e, bn, lin: bn(x) + lin(e[:1])[:, :, None, None], "its own β"),
    ("film", "no shift at all", lambda x, e, bn, lin: bn(x), "shift is missing"),
    ("apply_masks", "phase not rotated",
     lambda m, c, s, M, mc, ms: (torch.relu(m * M), c, s), "phase not rotated"),
    ("apply_masks", "rotated backwards",
     lambda m, c, s, M, mc, ms: (torch.relu(m * M), c * mc + s * ms, s * mc - c * ms),
     "wrong way"),
    ("apply_masks", "no relu",
     lambda m, c, s, M, mc, ms: (m * M, *rotate_and_mask(m, c, s, M, mc, ms)[1:]), "relu"),
    ("apply_masks", "mask applied to the phase",
     lambda m, c, s, M, mc, ms: (lambda a, b, d: (a, b * M, d * M))(
         *rotate_and_mask(m, c, s, M, mc, ms)), "only the magnitude"),
    ("ratio_mask", "exponent missing",
     lambda S, X: S.abs() ** 2 / (S.abs() ** 2 + (X - S).abs() ** 2).clamp_min(1e-10),
     "exponent"),
    ("ratio_mask", "no floor",
     lambda S, X: (S.abs() ** 2 / (S.abs() ** 2 + (X - S).abs() ** 2)).sqrt(), "NaN"),
    ("ratio_mask", "mixture in the denominator",
     lambda S, X: S.abs() / X.abs().clamp_min(1e-5), "interference N = X − S"),
    ("ratio_mask", "interference's mask",
     lambda S, X: ratio_mask(X - S, X), "interference's mask"),
    ("si_sdr", "plain SDR",
     lambda e, r: 10 * torch.log10(r.pow(2).sum(-1) / (r - e).pow(2).sum(-1)), "plain SDR"),
    ("si_sdr", "20·log10", lambda e, r: 2 * si_sdr_db(e, r), "20·log10"),
    ("si_sdr", "arguments swapped", lambda e, r: si_sdr_db(r, e), "swapped"),
    ("si_sdr", "mean over the batch", lambda e, r: si_sdr_db(e, r).mean(), "shape mismatch"),
    ("si_sdr", "no ε", _si_sdr_no_eps, "Inf"),
    ("si_sdr", "another ε", _si_sdr_fixed_eps, "ε"),
    ("si_sdri", "sign", lambda e, r, m: si_sdr_db(m, r) - si_sdr_db(e, r), "minus"),
    ("si_sdri", "no baseline", lambda e, r, m: si_sdr_db(e, r), "subtract the mixture"),
    ("mix_at_snr", "sign of the SNR", lambda t, i, snr: mix_at_snr(t, i, -snr), "quieter"),
    ("mix_at_snr", "power gain",
     lambda t, i, snr: mix_at_snr(t, i, 2 * snr), "10^(dB/20)"),
    ("mix_at_snr", "no energy matching",
     lambda t, i, snr: (t + i * 10 ** (-snr / 20), i * 10 ** (-snr / 20)), "match"),
    ("mix_at_snr", "energies over the whole batch", _mix_global, "per signal"),
    ("mix_at_snr", "no floor", _mix_no_floor, "NaN"),
    ("mix_at_snr", "mixture not the sum",
     lambda t, i, snr: (t, mix_at_snr(t, i, snr)[1]), "target + scaled"),
    ("train_step", "no optimiser step", _nostep, "did not change"),
    ("train_step", "gradients never cleared", _nozero, "clear them"),
    ("train_step", "squared error", _mse, "mean absolute error"),
    ("train_step", "model left in eval mode", _no_train_mode, "training mode"),
    ("train_step", "nothing returned",
     lambda *a: (train_step(*a), None)[1], "return the loss"),
]


# --------------------------------------------------------------------------- tests
def test_there_are_at_least_eight_exercises_each_in_an_existing_chapter():
    assert len(EXERCISES) >= 8
    for e in EXERCISES.values():
        assert (BOOK / f"{e.chapter}.md").is_file(), e
        assert e.function.isidentifier() and e.hint


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_a_right_answer_passes(name, capsys):
    result = check(name, RIGHT[name])
    assert isinstance(result, CheckResult) and result.passed and bool(result)
    assert result.cases_passed == result.cases_total >= 3
    out = capsys.readouterr().out
    assert out.startswith(f"PASS {name}") and EXERCISES[name].reference in out


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_a_stub_fails_cleanly_naming_not_implemented(name, capsys):
    def stub(*args):
        raise NotImplementedError(EXERCISES[name].hint)

    result = check(name, stub)
    assert not result and result.error == "NotImplementedError"
    assert result.failed_case is not None and result.cases_passed == 0
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL {name}") and "NotImplementedError" in out
    assert EXERCISES[name].hint in out


@pytest.mark.parametrize("exercise, what, fn, fragment", WRONG,
                         ids=[f"{w[0]}-{w[1]}" for w in WRONG])
def test_a_typical_mistake_fails_with_a_specific_hint(exercise, what, fn, fragment):
    result = check(exercise, fn, verbose=False)
    assert not result.passed
    assert fragment in result.message, result.message
    assert result.message.startswith(f"FAIL {exercise}")


def test_every_exercise_has_wrong_answers_under_test():
    assert {w[0] for w in WRONG} == set(EXERCISES)


@pytest.mark.parametrize("name", sorted(RIGHT))
@pytest.mark.parametrize("junk", [None, "text", 3, [1, 2]], ids=["None", "str", "int", "list"])
def test_any_output_is_a_clean_fail(name, junk):
    result = check(name, lambda *args: junk, verbose=False)
    assert not result.passed and result.message.startswith(f"FAIL {name}")


def test_not_a_function_is_a_fail():
    result = check("si_sdr", 42, verbose=False)
    assert not result and "expected a function" in result.message


def test_an_exception_names_its_type_and_the_students_line():
    def si_sdr_db(estimate, reference):
        energy = (reference**2).sum(-1)
        return energy / 0 + {}["oops"]

    result = check("si_sdr", si_sdr_db, verbose=False)
    assert not result and result.error == "KeyError"
    assert "raised KeyError" in result.message and "in si_sdr_db, line" in result.message
    assert "{}[\"oops\"]" in result.message or "oops" in result.message


def test_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check("stft_split", split_magphase, verbose=False)
    check("mix_at_snr", mix_at_snr, verbose=False)
    assert torch.equal(torch.rand(3), expected)


def test_check_rejects_an_unknown_exercise():
    with pytest.raises(ValueError, match="unknown exercise"):
        check("no_such_exercise", split_magphase)
