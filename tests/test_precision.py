"""``precision: auto`` for training and inference (lassnet.inference, lassnet.train).

No GPU is needed: the CUDA branch is tested with the card's compute capability mocked.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from lassnet import inference
from lassnet.separator import SeparationNet
from lassnet.testing import TINY_SEPARATOR as SMALL
from lassnet.train import TrainConfig, Trainer
from lassnet.train.state import CHECKPOINT, recorded_precision

CARDS = {  # name: compute capability
    "Tesla T4": (7, 5),
    "Tesla V100-SXM2-16GB": (7, 0),
    "NVIDIA A100-SXM4-40GB": (8, 0),
    "NVIDIA L4": (8, 9),
    "NVIDIA H100 80GB HBM3": (9, 0),
}


@pytest.fixture
def card(monkeypatch):
    """Pretend the CUDA device is the named card."""
    chosen = {}

    def use(name: str) -> None:
        chosen["name"] = name

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: CARDS[
        chosen["name"]])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: chosen["name"])
    monkeypatch.setattr(inference, "_WARNED", set())
    return use


@pytest.fixture(scope="module")
def net():
    return SeparationNet.from_preset("tiny", condition_dim=8, **SMALL)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_auto_on_cuda_follows_the_compute_capability(card, net, name):
    card(name)
    expected = "bfloat16" if CARDS[name] >= (8, 0) else "float16"
    assert inference.native_bfloat16("cuda") is (CARDS[name] >= (8, 0))
    assert inference.choose_precision(net, "cuda") == expected
    assert inference.training_precision(net, "cuda") == expected
    assert inference.resolve_precision("auto", net, "cuda") == expected


def test_bfloat16_on_a_t4_warns_once_in_one_line(card, net):
    card("Tesla T4")
    with pytest.warns(UserWarning) as caught:
        assert inference.resolve_precision("bfloat16", net, "cuda") == "bfloat16"
    (message,) = [str(w.message) for w in caught]
    assert "Tesla T4" in message and "7.5" in message and "float16" in message
    assert "\n" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second time: silent
        inference.resolve_precision("bfloat16", net, "cuda")
    card("NVIDIA A100-SXM4-40GB")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # native on Ampere: silent
        inference.resolve_precision("bfloat16", net, "cuda")


def test_float16_needs_cuda(net):
    with pytest.raises(ValueError, match="float16 needs a CUDA GPU"):
        inference.resolve_precision("float16", net, "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        inference.resolve_precision("fp8", net, "cpu")


def test_auto_on_the_cpu_is_the_measurement(net, monkeypatch):
    """On the CPU ``auto`` measures both precisions once (cached) and picks bfloat16 only when
    it is at least 5 % faster."""
    monkeypatch.setattr(inference, "_CHOICES", {})
    times = {"float32": 1.0, "bfloat16": 0.97}
    monkeypatch.setattr(inference, "_seconds", lambda fn: next(iter_times))
    iter_times = iter([times["float32"], times["bfloat16"]])
    assert inference.choose_precision(net, "cpu") == "float32"  # 3 % is within the noise
    monkeypatch.setattr(inference, "_CHOICES", {})
    iter_times = iter([1.0, 0.5])
    assert inference.training_precision(net, "cpu") == "bfloat16"
    assert inference.training_precision(net, "cpu") == "bfloat16"  # cached: no new timing


def test_run_takes_the_three_precisions_and_refuses_others(net):
    """``run`` accepts float16 (CUDA's fast path); float32 is the reference."""
    torch.manual_seed(0)
    mixture = 0.1 * torch.randn(1, 1, 4096)
    condition = torch.nn.functional.normalize(torch.randn(1, 8), dim=1)
    ref = inference.run(net, mixture, condition, "float32")
    assert ref.shape == mixture.shape
    with pytest.raises(ValueError, match="'float32', 'bfloat16' or 'float16'"):
        inference.run(net, mixture, condition, "float64")


def _config(**kw) -> TrainConfig:
    base = dict(name="p", preset="tiny", separator=SMALL, duration=0.5, batch_size=2, steps=4,
                warmup_steps=1, log_every=1, checkpoint_every=2, validate_every=4, val_size=2,
                seed=3, threads=1)
    return TrainConfig(**(base | kw))


def test_config_takes_auto():
    assert _config(precision="auto").precision == "auto"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        _config(precision="half")


def test_a_resumed_auto_run_keeps_the_precision_it_started_in(tmp_path, monkeypatch):
    """``auto`` is answered once, at the start of a run, and written into its checkpoints; a
    resumed run reads it back even where the measurement would now answer otherwise (a
    timing is noisy), so resuming stays exact."""
    answers = iter(["bfloat16", "float32"])
    monkeypatch.setattr(inference, "training_precision", lambda net, device: next(answers))
    first = Trainer(_config(precision="auto", steps=2), tmp_path, device="cpu", progress=False)
    assert first.precision == "bfloat16"
    first.fit()
    assert recorded_precision(tmp_path) == "bfloat16"
    again = Trainer(_config(precision="auto", steps=4), tmp_path, device="cpu", progress=False)
    assert again.precision == "bfloat16" and again.step == 2  # not the new answer, float32
    fresh = Trainer(_config(precision="auto"), tmp_path / "new", device="cpu", progress=False)
    assert fresh.precision == "float32"  # a new run asks again
    fresh._release_folder()
    again._release_folder()


def test_recorded_precision_of_missing_or_damaged_checkpoints(tmp_path):
    assert recorded_precision(tmp_path) is None
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    assert recorded_precision(tmp_path) is None  # resume() will say what is wrong
