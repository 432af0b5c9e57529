"""The exercise for chapter 7 (Training) on the exercises page: ``train_step``.

The student writes one optimisation step; :func:`check_train_step` runs it on a tiny separator
(:data:`lassnet.testing.TINY_SEPARATOR`, queried through :class:`lassnet.testing.FixedQueries`)
next to :meth:`lassnet.train.Trainer.train_step` from the same start, for one step, two steps
in a row and a model handed over in eval mode, and compares the losses, every weight and every
batch-norm statistic. Taught in chapter 7 (Training); the exercise is on the book's exercises
page.

The *apply* exercise ``accumulated_step`` (also there) runs a batch in micro-batches, as on a
GPU whose memory holds only a few examples; :func:`check_accumulate` compares the update with
one step on the whole batch and counts what the model sees at once.
"""

from __future__ import annotations

import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from ._runner import CheckResult, Exercise, Withhold, _call, _Mismatch, _run


def _trainer(out_dir: str, encoder):
    """A :class:`lassnet.train.Trainer` of a tiny separator (n_fft 128, hop 64) with L1 loss,
    the same for the reference and for the student's step."""
    from ..testing import TINY_SEPARATOR
    from ..train import TrainConfig, Trainer

    separator = dict(TINY_SEPARATOR, n_fft=128, hop_length=64)
    config = TrainConfig(name="exercise", preset="tiny", separator=separator, loss="l1",
                         lr=1e-3, warmup_steps=1, batch_size=2, seed=7)
    return Trainer(config, out_dir, device="cpu", encoder=encoder, progress=False, resume=False)


def _train_cases():
    from ..testing import FixedQueries

    def case(steps: int, hand_over_eval: bool = False):
        def run(fn):
            batch, dim, length = 2, 8, 1600
            table = F.normalize(torch.randn(batch, dim), dim=1)
            encoder = FixedQueries(table)
            batches = []
            for _ in range(steps):
                target = 0.5 * torch.randn(batch, 1, length)
                mixture = target + 0.5 * torch.randn(batch, 1, length)
                batches.append(dict(mixture=mixture, target=target,
                                    caption=[f"q{i}" for i in range(batch)]))
            with tempfile.TemporaryDirectory() as ref_dir, tempfile.TemporaryDirectory() as d:
                ref = _trainer(ref_dir, encoder)
                mine = _trainer(d, encoder)
            before = {k: v.clone() for k, v in mine.model.state_dict().items()}
            ref_losses = [ref.train_step(b) for b in batches]
            losses = []
            for b in batches:
                if hand_over_eval:
                    mine.model.eval()
                loss = _call(fn, mine.model, mine.optimizer, b["mixture"].clone(), table.clone(),
                             b["target"].clone())
                losses.append(loss)
            for step, (got, expected) in enumerate(zip(losses, ref_losses, strict=True)):
                if got is None:
                    raise _Mismatch("your function returned None; return the loss as a float "
                                    "(loss.item())")
                if isinstance(got, torch.Tensor):
                    if got.numel() != 1:
                        raise _Mismatch(f"the loss should be one number, got shape "
                                        f"{tuple(got.shape)}: average over the whole batch")
                    got = got.item()
                if not isinstance(got, (int, float)):
                    raise _Mismatch(f"return the loss as a float, got {type(got).__name__}")
                if not np.isfinite(got) or abs(got - expected) > 1e-5 * max(1.0, abs(expected)):
                    raise _Mismatch(
                        f"the loss of step {step + 1} is {got:.6g}, expected {expected:.6g}: "
                        "the loss is the mean absolute error between the separated and the "
                        "target waveforms (AudioSep's L1 loss), computed in training mode"
                    )
            ours, theirs = mine.model.state_dict(), ref.model.state_dict()
            weights = [k for k, _ in mine.model.named_parameters()]
            if all(torch.equal(ours[k], before[k]) for k in weights):
                raise _Mismatch("the weights did not change: after the backward pass the "
                                "optimiser must take its step")
            stats = [k for k in ours if "running" in k]
            wrong_stats = [k for k in stats if not torch.allclose(ours[k], theirs[k], atol=1e-6)]
            if wrong_stats:
                raise _Mismatch("the batch-norm statistics differ (e.g. "
                                f"{wrong_stats[0]}): put the model in training mode first")
            wrong = [k for k in weights if not torch.allclose(ours[k], theirs[k], atol=1e-6,
                                                              rtol=1e-5)]
            if wrong:
                hint = ("gradients from the previous step were added to this step's: clear "
                        "them before the backward pass" if steps > 1 else
                        "check the order: clear the gradients, forward, loss, backward, step")
                raise _Mismatch(f"{len(wrong)} of {len(weights)} weight tensors differ from "
                                f"the library's step (e.g. {wrong[0]}): {hint}")
        return run

    return [
        ("one step", case(1)),
        ("two steps in a row", case(2)),
        ("a model handed over in eval mode", case(1, hand_over_eval=True)),
    ]


def check_train_step(fn, progress: bool = True) -> CheckResult:
    """Check ``train_step(model, optimizer, mixture, condition, target) -> loss`` (the
    exercises chapter): after the student's step(s) on a small separator, the loss and every
    weight and batch-norm statistic must equal those of :meth:`lassnet.train.Trainer.train_step`
    (L1 loss, AdamW with AMSGrad) from the same start."""
    return _run(TRAIN_STEP, fn, _train_cases, progress)


TRAIN_STEP = Exercise(
    "train_step", "train_step", "exercises", "lassnet.train.Trainer.train_step",
    "train mode, zero the gradients, forward, L1 loss, backward, optimiser step",
    check_train_step, teaches=7, withheld=(Withhold("lassnet.train.Trainer.train_step"),),
)


# --------------------------------------------------------------------------- apply: accumulate
def _small_model(seed: int) -> torch.nn.Module:
    """A small waveform-to-waveform network without batch norm (so that a batch split into
    micro-batches has the same gradient as the whole): two 1-D convolutions."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 9, padding=4), torch.nn.Tanh(),
                                torch.nn.Conv1d(4, 1, 9, padding=4))
    torch.random.set_rng_state(generator_state)
    return model


def _full_batch_step(model, mixture, target, lr) -> tuple[float, dict]:
    """The reference: one SGD step on the whole batch with the L1 loss; (loss, new weights)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    optimizer.zero_grad()
    loss = (model(mixture) - target).abs().mean()
    loss.backward()
    optimizer.step()
    return loss.item(), {k: v.detach().clone() for k, v in model.state_dict().items()}


def _accumulate_cases():
    def case(batch, micro, length=800, lr=0.5):
        def run(fn):
            mixture = torch.randn(batch, 1, length)
            target = 0.5 * mixture + 0.1 * torch.randn(batch, 1, length)
            reference = _small_model(0)
            expected_loss, expected = _full_batch_step(reference, mixture, target, lr)
            model = _small_model(0)
            before = {k: v.detach().clone() for k, v in model.state_dict().items()}
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            calls = []
            hook = model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
            try:
                loss = _call(fn, model, optimizer, mixture.clone(), target.clone(), micro)
            finally:
                hook.remove()
            if calls and max(calls) > micro:
                raise _Mismatch(f"the model saw {max(calls)} examples at once; the point is "
                                f"to never run more than micro = {micro}")
            if isinstance(loss, torch.Tensor) and loss.numel() == 1:
                loss = loss.item()
            if isinstance(loss, bool) or not isinstance(loss, (int, float)):
                raise _Mismatch("return the loss of the whole batch as a float")
            state = model.state_dict()
            if all(torch.equal(state[k], before[k]) for k in state):
                raise _Mismatch("the weights did not change: the optimiser must take its step")
            delta = {k: expected[k] - before[k] for k in state}
            got = {k: state[k] - before[k] for k in state}
            n_chunks = -(-batch // micro)
            if all(torch.allclose(got[k], n_chunks * delta[k], rtol=1e-3, atol=1e-7)
                   for k in state) and n_chunks > 1:
                raise _Mismatch(f"the step is {n_chunks}× too large: the gradients of the "
                                "micro-batches were added up, but the loss is a mean over the "
                                "whole batch")
            if not all(torch.allclose(got[k], delta[k], rtol=1e-3, atol=1e-6) for k in state):
                uneven = batch % micro != 0
                raise _Mismatch(
                    "the update differs from one step on the whole batch: take one optimiser "
                    "step after all micro-batches, and weight each micro-batch's loss by its "
                    "share of the batch" + (" (the last micro-batch is smaller)" if uneven
                                            else ""))
            if abs(loss - expected_loss) > 1e-4 * max(1.0, abs(expected_loss)):
                raise _Mismatch(f"the returned loss {loss:.6g} is not the whole batch's mean "
                                f"absolute error, {expected_loss:.6g}")
        return run

    return [
        ("a batch of 4 in micro-batches of 2", case(4, 2)),
        ("a batch of 6 in micro-batches of 1", case(6, 1)),
        ("a batch of 5 in micro-batches of 2 (the last one smaller)", case(5, 2)),
        ("micro-batches as large as the batch", case(3, 3)),
    ]


def check_accumulate(fn, progress: bool = True) -> CheckResult:
    """Check ``accumulated_step(model, optimizer, mixture, target, micro) -> loss`` (chapter 7's
    apply exercise): a batch too large for memory, run ``micro`` examples at a time, must give
    exactly the update of one SGD step on the whole batch (L1 loss, a small network without
    batch norm), and never run more than ``micro`` examples through the model at once."""
    return _run(ACCUMULATE, fn, _accumulate_cases, progress)


ACCUMULATE = Exercise(
    "accumulate", "accumulated_step", "exercises", "one step on the whole batch",
    "zero the gradients once; for each micro-batch, backward its loss × its share of the "
    "batch; one optimiser step at the end", check_accumulate, kind="apply", teaches=7,
    points=2,
    withheld=(Withhold("lassnet.train.Trainer.train_step"),
              Withhold("lassnet.exercises.train._full_batch_step")),
)
