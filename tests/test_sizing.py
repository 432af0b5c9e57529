"""Training memory per example and the batch that fits a card (lassnet.train.sizing)."""

from __future__ import annotations

import pytest
import torch

from lassnet.testing import TINY_SEPARATOR as SMALL
from lassnet.train import load_config
from lassnet.train.sizing import GIB, MemoryEstimate, activation_bytes, batch_size_for


def test_saved_activations_grow_with_the_batch_and_the_length():
    one = activation_bytes("tiny", duration=0.5, condition_dim=16, precision="float32", **SMALL)
    two = activation_bytes("tiny", duration=1.0, condition_dim=16, precision="float32", **SMALL)
    half = activation_bytes("tiny", duration=0.5, condition_dim=16, precision="bfloat16",
                            **SMALL)
    assert one.per_example > 0
    # twice the audio: twice the frames of every layer, about twice the bytes
    assert two.per_example == pytest.approx(2 * one.per_example, rel=0.05)
    # 16-bit autocast saves 16-bit convolution inputs: between a half and all of float32's
    assert 0.45 * one.per_example < half.per_example < 0.9 * one.per_example
    # fixed: weights, gradients, AdamW's two moments and AMSGrad's maximum, float32
    assert one.fixed == 5 * 4 * one.parameters
    no_ams = activation_bytes("tiny", duration=0.5, condition_dim=16, amsgrad=False, **SMALL)
    assert no_ams.fixed == 4 * 4 * one.parameters


def test_the_count_is_what_autograd_keeps():
    """Cross-check with a model whose saved tensors are known: a linear layer keeps its input
    (B·n·4 bytes) for the weight's gradient."""
    from lassnet.train import sizing

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(1000, 10, bias=False)

        def forward(self, x, c):
            return self.lin(x)

    class Config:
        condition_dim = 4

    net = Net()
    net.config = Config()
    assert sizing._saved_bytes(net, 1, 1000, "float32") == 1000 * 4
    assert sizing._saved_bytes(net, 3, 1000, "float32") == 3 * 1000 * 4


def test_batch_size_arithmetic():
    e = MemoryEstimate(parameters=10, fixed=GIB, per_example=GIB // 10, base=0)
    # 16 GiB with a quarter free: 12 GiB usable, 1 fixed, 11 GiB / 0.1 GiB = 110 examples
    assert batch_size_for(e, 16.0) == 110
    assert batch_size_for(e, 16.0, cap=64) == 64
    assert e.total(110) <= 12 * GIB < e.total(111)
    with pytest.raises(ValueError, match="one example needs"):
        batch_size_for(MemoryEstimate(1, 4 * GIB, GIB, 0), 4.0)
    with pytest.raises(ValueError, match="headroom"):
        batch_size_for(e, 16.0, headroom=1.5)


def test_gpu_configs_fit_their_cards():
    """The GPU configs' batch sizes are what the arithmetic stated in them gives, from the
    float32 count (which bounds 16-bit autocast's from above): the tiny preset measured at its
    own length; the audiosep preset measured on 0.5 s and scaled by the length (saved
    activations are proportional to it, as the first test checks)."""
    tiny = load_config("tiny-gpu")
    e = activation_bytes(tiny.preset, duration=tiny.duration, condition_dim=384,
                         precision="float32", **tiny.separator)
    assert e.per_example / 2**20 == pytest.approx(34.3, abs=0.1)  # the figure in the config
    assert batch_size_for(e, 15.0) == 334 and tiny.batch_size <= 334  # a T4's 15 GiB
    assert tiny.precision == "auto" and tiny.num_workers == 2
    # a fixed pool of clips, so that data_cache: auto can render it once on a GPU
    assert tiny.dataset_options == {"count": 20000} and tiny.data_cache == "auto"

    t4 = load_config("audiosep-t4")
    probe = activation_bytes(t4.preset, duration=0.5, condition_dim=384, precision="float32")
    scaled = MemoryEstimate(probe.parameters, probe.fixed,
                            int(probe.per_example * t4.duration / 0.5), probe.base)
    assert scaled.per_example / 2**20 == pytest.approx(1890, rel=0.01)
    assert t4.batch_size == batch_size_for(scaled, 15.0) == 5
    assert batch_size_for(scaled, 40.0) >= 12  # AudioSep's batch on an A100
    assert t4.precision == "auto" and t4.num_workers == 2
    assert t4.dataset_options == {"count": 14000} and t4.data_cache == "auto"
