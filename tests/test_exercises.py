"""The exercise checkers: right answers pass, typical wrong answers and stubs fail cleanly,
and an answer that calls what the exercise is checked against fails ("write it yourself").

The right answers are the book's own solution cells (``tools.exercises.solutions``); the wrong
answers are written here, most of them as one deliberate change to the book's answer; the
"cheats" call the library's reference (or the checker's own measurement) in every way a
student might reach it: the module attribute, a ``from ... import`` copy, a closure, a default
argument, the class's method called directly, a package imported inside the function.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lassnet.audio
import lassnet.blocks
import lassnet.evaluate
import lassnet.exercises.blocks
import lassnet.exercises.data
import lassnet.exercises.film
import lassnet.exercises.masks
import lassnet.exercises.stft
import lassnet.exercises.train
import lassnet.introspect
import lassnet.masks
import lassnet.metrics
import lassnet.query.base
import lassnet.stft
import lassnet.train
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


def _comb(width_bins: float):
    """A harmonic comb whose teeth are ``width_bins`` bins wide on each side."""
    def harmonic_mask(spec, f0, sample_rate, n_fft):
        freqs = torch.arange(spec.shape[-1]) * sample_rate / n_fft
        distance = (freqs - f0 * torch.round(freqs / f0)).abs()
        return ((distance <= width_bins * sample_rate / n_fft) & (freqs >= f0 / 2)).float()

    return harmonic_mask


def _each_at_snr(target, interferers, snr_db):
    scaled = [lassnet.audio.mix_at_snr(target, i, snr_db)[1] for i in interferers]
    return target + sum(scaled), scaled


def _energies_added(target, interferers, snr_db):
    """Assumes that the energy of the sum is the sum of the energies."""
    matched = [lassnet.audio.match_energy(i, target) for i in interferers]
    gain = (1 / len(matched)) ** 0.5 * 10 ** (-snr_db / 20)
    scaled = [gain * m for m in matched]
    return target + sum(scaled), scaled


def _accumulate_changed(change: str):
    """``accumulated_step`` with one mistake: ``"sum"`` (micro-batch means added, not
    weighted), ``"step each"`` (an optimiser step per micro-batch), ``"equal weights"`` (each
    micro-batch's mean divided by their number) or ``"whole"`` (the batch at once)."""
    def step(model, optimizer, mixture, target, micro):
        batch = mixture.shape[0]
        if change == "whole":
            micro = batch
        chunks = list(range(0, batch, micro))
        optimizer.zero_grad()
        total = 0.0
        for start in chunks:
            part, wanted = mixture[start:start + micro], target[start:start + micro]
            loss = (model(part) - wanted).abs().mean()
            if change == "equal weights":
                loss = loss / len(chunks)
            elif change != "sum":
                loss = loss * part.shape[0] / batch
            loss.backward()
            total += loss.item()
            if change == "step each":
                optimizer.step()
                optimizer.zero_grad()
        if change != "step each":
            optimizer.step()
        return total

    return step


def _unpaired(a, b, n_boot, seed):
    """A and B resampled independently of each other."""
    a, b = np.asarray(a), np.asarray(b)
    rng = np.random.default_rng(seed)
    means = (b[rng.integers(0, b.size, (n_boot, b.size))].mean(1)
             - a[rng.integers(0, a.size, (n_boot, a.size))].mean(1))
    low, high = np.quantile(means, [0.025, 0.975])
    return float((b - a).mean()), float(low), float(high)


def _closure_over(function):
    def answer(*args):
        return function(*args)

    return answer


#: For every exercise, answers that call what it is checked against; each must FAIL naming it.
CHEATS = {
    "stft_split": [lambda s: lassnet.stft.magphase(s.real, s.imag),
                   lambda s: lassnet.stft.STFT.magphase(None, s)],
    "choose_n_fft": [lambda sr, tg, cg: next(
        (n for n in lassnet.exercises.stft.N_FFT_CHOICES
         if lassnet.exercises.stft._tones_resolved(sr, tg, n)), None)],
    "residual_block": [lambda b, x: type(b).forward(b, x), lambda b, x: b(x),
                       lambda b, x: lassnet.blocks.ResidualBlock.forward(b, x)],
    "receptive_field": [lambda d, n: lassnet.exercises.blocks._measured_receptive_field(d, n),
                        lambda d, n: lassnet.introspect.receptive_field(torch.nn.Identity())],
    "film": [lambda x, e, bn, lin: bn(x, {bn.film_key: (lin(e)[:, :, None, None], None)}),
             lambda x, e, bn, lin: type(bn).forward(bn, x, {bn.film_key: (
                 lin(e)[:, :, None, None], None)})],
    "steer": [lambda lin, k: lassnet.exercises.film._best_query(lin, k)],
    "retrieve": [lambda q, p, y: (F.cosine_similarity(q[:, None], p[None], dim=-1), 1.0),
                 lambda q, p, y: (F.normalize(q, dim=-1) @ F.normalize(p, dim=-1).T, 1.0),
                 lambda q, p, y: (torch.cosine_similarity(q[:, None], p[None], dim=-1), 1.0)],
    "ensemble": [lambda embed, classes, t: lassnet.query.base.class_prototypes(
        embed, classes, {c: [x.format(c) for x in t] for c in classes})],
    "apply_masks": [lambda *a: lassnet.masks.apply_masks(*a)],
    "ratio_mask": [lambda S, X: lassnet.masks.ideal_ratio_mask(S, X)],
    "harmonic_mask": [lambda spec, f0, sr, n: (
        lassnet.exercises.masks._masked_si_sdri(1.0, spec, None, None, None), 1)[1]],
    "mix_at_snr": [lambda t, i, snr: lassnet.audio.mix_at_snr(t, i, snr),
                   lambda t, i, snr: (t + lassnet.audio.scale_to_snr(t, i, snr),
                                      lassnet.audio.scale_to_snr(t, i, snr))],
    "mix_many": [lambda t, i, snr: (lassnet.exercises.data._measured_snr_db(t, i[0]), 1)[1]],
    "train_step": [lambda m, o, x, c, t: lassnet.train.Trainer.train_step(
        None, dict(mixture=x, target=t, caption=["a"] * len(x)))],
    "accumulate": [lambda m, o, x, t, micro: lassnet.exercises.train._full_batch_step(
        m, x, t, 0.5)[0]],
    "si_sdr": [lambda e, r: lassnet.metrics.si_sdr(e, r), _closure_over(lassnet.metrics.si_sdr),
               lambda e, r, f=lassnet.metrics.si_sdr: f(e, r),
               lambda e, r: lassnet.metrics.si_sdri(e, r, torch.zeros_like(r)),
               lambda e, r: __import__("torchmetrics.functional").functional
               .scale_invariant_signal_distortion_ratio(e, r)],
    "si_sdri": [lambda e, r, m: lassnet.metrics.si_sdri(e, r, m)],
    "paired": [lambda a, b, n, s: ((np.mean(b) - np.mean(a)),
                                   *lassnet.evaluate.bootstrap_ci(np.asarray(b) - a))],
}


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
    W("choose_n_fft", lambda sr, tg, cg: 32, "merge into one peak",
      id="choose_n_fft-always the shortest window"),
    W("choose_n_fft", lambda sr, tg, cg: 4096, "blur into one", id="choose_n_fft-always 4096"),
    W("choose_n_fft", lambda sr, tg, cg: right("choose_n_fft")(sr, tg, cg) or 512,
      "no size does", id="choose_n_fft-never None"),
    W("choose_n_fft", lambda sr, tg, cg: 500, "not one of the choices",
      id="choose_n_fft-not a power of two"),
    W("receptive_field", lambda d, n: 1 + 4 * n * d, "accumulated stride",
      id="receptive_field-pooling ignored"),
    W("receptive_field", lambda d, n: right("receptive_field")(d, n) - (2**d - 1), "too small",
      id="receptive_field-pooling's own reach forgotten"),
    W("steer", lambda lin, k: lin.weight[k].detach(), "norm", id="steer-not a unit vector"),
    W("steer", lambda lin, k: -right("steer")(lin, k), "down", id="steer-sign"),
    W("steer", lambda lin, k: lin.weight[:, k].detach() / lin.weight[:, k].detach().norm(),
      "one per input", id="steer-a column instead of a row"),
    W("retrieve", lambda q, p, y: (q @ p.T, right("retrieve")(q, p, y)[1]), "plain dot product",
      id="retrieve-dot product"),
    W("retrieve", lambda q, p, y: (lambda s, a: (s, a * len(y)))(*right("retrieve")(q, p, y)),
      "share", id="retrieve-a count"),
    W("ensemble", lambda embed, classes, t: right("ensemble")(embed, classes, t[:1]),
      "no better than one template", id="ensemble-one template"),
    W("ensemble", lambda embed, classes, t: torch.stack(
        [embed([x.format(c) for x in t]).sum(0) for c in classes]), "unit vectors",
      id="ensemble-not normalised"),
    W("harmonic_mask", lambda spec, f0, sr, n: torch.ones(spec.shape[-1]),
      "keeps almost everything", id="harmonic_mask-all ones"),
    W("harmonic_mask", _comb(4), "width", id="harmonic_mask-teeth too wide"),
    W("harmonic_mask", lambda spec, f0, sr, n: 2 * right("harmonic_mask")(spec, f0, sr, n),
      "between 0 and 1", id="harmonic_mask-gains above 1"),
    W("mix_many", _each_at_snr, "each interferer alone", id="mix_many-each at the SNR"),
    W("mix_many", _energies_added, "energies of signals do not simply add",
      id="mix_many-energies added"),
    W("accumulate", _accumulate_changed("sum"), "too large", id="accumulate-gradients summed"),
    W("accumulate", _accumulate_changed("step each"), "differs from one step",
      id="accumulate-a step per micro-batch"),
    W("accumulate", _accumulate_changed("equal weights"), "last micro-batch is smaller",
      id="accumulate-micro-batches weighted equally"),
    W("accumulate", _accumulate_changed("whole"), "at once", id="accumulate-whole batch at once"),
    W("paired", _unpaired, "independently", id="paired-unpaired bootstrap"),
    W("paired", lambda a, b, n, s: right("paired")(b, a, n, s), "sign error",
      id="paired-A minus B"),
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


def test_every_exercise_has_cheats_under_test():
    assert set(CHEATS) == set(EXERCISES)


@pytest.mark.parametrize("name, index", [(n, i) for n in CHEATS for i in range(len(CHEATS[n]))])
def test_calling_what_the_exercise_checks_against_fails(name, index):
    result = check(name, CHEATS[name][index], progress=False)
    assert not result.passed
    assert "write it yourself" in result.message, result.message
    assert "is what this exercise checks against" in result.message


def test_a_package_not_yet_imported_cannot_be_imported_inside_the_answer(monkeypatch):
    """torchmetrics is withheld for SI-SDR: imported already, its function is replaced;
    not imported yet, importing it inside the answer is refused."""
    def answer(e, r):
        import torchmetrics.functional as tmf

        return tmf.scale_invariant_signal_distortion_ratio(e, r)

    for name in [m for m in sys.modules if m == "torchmetrics" or m.startswith("torchmetrics.")]:
        monkeypatch.delitem(sys.modules, name)
    result = check("si_sdr", answer, progress=False)
    assert not result and "may not import torchmetrics" in result.message


def test_the_stand_in_does_not_hand_out_the_original():
    """A stand-in's closure, defaults and globals hold no reference to the withheld function."""
    original, seen = id(lassnet.metrics.si_sdr), []  # an id: a closure cell would be swapped

    def si_sdr_db(estimate, reference):
        stand_in = lassnet.metrics.si_sdr
        seen.append(id(stand_in) == original)
        cells = [c.cell_contents for c in stand_in.__closure__ or ()]
        seen.append(any(id(c) == original for c in [*cells, *(stand_in.__defaults__ or ())]))
        seen.append(any(id(v) == original for v in stand_in.__globals__.values()))
        return torch.zeros(estimate.shape[:-1])

    assert not check("si_sdr", si_sdr_db, progress=False)
    assert seen == [False, False, False]


def test_the_references_are_back_after_a_check():
    originals = (lassnet.metrics.si_sdr, lassnet.blocks.ResidualBlock.forward,
                 lassnet.blocks.FiLMBatchNorm2d.forward, F.cosine_similarity, F.normalize)
    for name in ("si_sdr", "residual_block", "film", "retrieve"):
        check(name, CHEATS[name][0], progress=False)
    assert (lassnet.metrics.si_sdr, lassnet.blocks.ResidualBlock.forward,
            lassnet.blocks.FiLMBatchNorm2d.forward, F.cosine_similarity, F.normalize) == originals
    assert "forward" not in lassnet.blocks.EncoderBlock.__dict__ or callable(
        lassnet.blocks.EncoderBlock.forward)
    assert not any(type(f).__name__ == "_BlockImports" for f in sys.meta_path)


def test_the_library_may_still_be_used_where_the_exercise_allows_it():
    """si_sdri may build on lassnet.metrics.si_sdr; mix_many on the library's mixing; a
    FiLM answer may call the batch norm without a shift."""
    def si_sdr_improvement(e, r, m):
        return lassnet.metrics.si_sdr(e, r) - lassnet.metrics.si_sdr(m, r)

    assert check("si_sdri", si_sdr_improvement, progress=False)
    assert check("mix_many", right("mix_many"), progress=False)
    assert check("film", lambda x, e, bn, lin: bn(x) + lin(e)[:, :, None, None], progress=False)


def test_every_chapter_has_a_transcribe_and_an_apply_exercise():
    kinds = {(e.teaches, e.kind) for e in EXERCISES.values()}
    for chapter in range(1, 9):
        assert (chapter, "transcribe") in kinds and (chapter, "apply") in kinds, chapter
    assert {e.kind for e in EXERCISES.values()} == {"transcribe", "apply"}
    assert all(e.points >= 1 for e in EXERCISES.values())
