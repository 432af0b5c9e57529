"""lassnet.inference: fused copies compute the same function, leave the original alone, and
the precision choice is a measured, cached decision."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lassnet import inference
from lassnet.blocks import ResidualBlock
from lassnet.inference import FusedNorm, FusedResidualBlock, is_fused, run
from lassnet.separator import SeparationNet


def _randomise_norms(net: torch.nn.Module, seed: int) -> None:
    """Made-up running statistics and affines, so that folding them is really exercised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 2 - 1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=gen) - 0.5)


def _reference_bn(bn, x, beta, gamma):
    """Eval-mode batch norm written out, then FiLM: BN(x)·(1 + γ) + β."""
    shape = (1, -1, 1, 1)
    y = (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    y = y * bn.weight.view(shape) + bn.bias.view(shape)
    return y * (1 + gamma) + beta


def _block(seed: int) -> ResidualBlock:
    torch.manual_seed(seed)
    block = ResidualBlock(4, 6)
    _randomise_norms(block, seed)
    block.bn1.film_key, block.bn2.film_key = "a", "b"
    return block.eval()


@pytest.mark.parametrize("gamma", [False, True])
@pytest.mark.parametrize("batch_queries", [1, 3])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_block_is_the_written_out_maths(gamma, batch_queries, channels_last):
    block = _block(seed=2)
    gen = torch.Generator().manual_seed(0)

    def film_pair(c):
        beta = torch.randn(batch_queries, c, 1, 1, generator=gen)
        return beta, (0.5 * torch.randn(batch_queries, c, 1, 1, generator=gen) if gamma else None)

    film = {"a": film_pair(4), "b": film_pair(6)}
    x = torch.randn(3, 4, 9, 12, generator=gen)
    with torch.no_grad():
        zero = torch.zeros(1, 1, 1, 1)
        ga, gb = (film["a"][1] if gamma else zero), (film["b"][1] if gamma else zero)
        h = F.leaky_relu(_reference_bn(block.bn1, x, film["a"][0], ga), 0.01)
        h = _reference_bn(block.bn2, block.conv1(h), film["b"][0], gb)
        expected = block.conv2(F.leaky_relu(h, 0.01)) + block.shortcut(x)
        fused = FusedResidualBlock(block).eval()
        if channels_last:
            fused = fused.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(fused(x, film), expected, rtol=1e-5, atol=1e-5)
        norm = FusedNorm(block.bn1).eval()
        torch.testing.assert_close(norm(x, film), _reference_bn(block.bn1, x, film["a"][0], ga),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("film_gamma", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_network_equals_the_network(film_gamma, channels_last):
    torch.manual_seed(0)
    net = SeparationNet.from_preset("tiny", condition_dim=16, film_gamma=film_gamma)
    _randomise_norms(net, seed=1)
    with torch.no_grad():  # a FiLM that really moves the batch norms
        net.film.net.weight.normal_(0, 0.3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    fused = net.fused(channels_last=channels_last)
    # the original is untouched: weights, mode, memory format, trainability
    assert net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    conv = net.encoders[0].blocks[0].conv1.weight
    assert conv.is_contiguous() and conv.requires_grad
    assert is_fused(fused) and not is_fused(net) and not fused.training
    assert sum(isinstance(m, FusedResidualBlock) for m in fused.modules()) == 9
    assert not any(isinstance(m, ResidualBlock) for m in fused.modules())
    if channels_last:
        w = fused.encoders[1].blocks[0].conv2.weight  # a 3x3 kernel with several inputs
        assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    x = 0.1 * torch.randn(3, 1, 12000)
    one = F.normalize(torch.randn(1, 16), dim=1)
    many = F.normalize(torch.randn(3, 16), dim=1)
    net.eval()
    with torch.no_grad():
        for cond in (one, many):
            ref = net(x, cond)
            out = run(fused, x, cond)
            assert ((out - ref).norm() / ref.norm()).item() < 1e-5


def test_fused_copy_refuses_training():
    net = SeparationNet.from_preset("tiny", condition_dim=8)
    fused = net.fused().train()
    with pytest.raises(RuntimeError, match="inference only"):
        fused(torch.randn(1, 1, 4000), torch.randn(1, 8))


def test_infer_and_precisions():
    torch.manual_seed(0)
    net = SeparationNet.from_preset("tiny", condition_dim=8).eval()
    _randomise_norms(net, seed=3)
    x, e = 0.1 * torch.randn(2, 1, 16000), torch.randn(2, 8)
    with torch.no_grad():
        ref = net(x, e)
    out = net.infer(x, e, precision="float32")
    assert ((out - ref).norm() / ref.norm()).item() < 1e-5
    low = net.infer(x, e, precision="bfloat16")
    assert ((low - ref).norm() / ref.norm()).item() < 2e-2
    assert not torch.is_inference_mode_enabled() and not net.training
    with pytest.raises(ValueError, match="float16 needs a CUDA GPU"):
        net.infer(x, e, precision="float16")  # CUDA's fast path, not the CPU's
    with pytest.raises(ValueError, match="auto, float32, bfloat16, float16"):
        net.infer(x, e, precision="half")


def test_auto_precision_is_measured_once_and_cached(monkeypatch):
    calls = []
    real = inference._measure

    def spy(net, device, seconds):
        calls.append(net.config.preset)
        return real(net, device, 0.1)

    monkeypatch.setattr(inference, "_measure", spy)
    monkeypatch.setattr(inference, "_CHOICES", {})
    net = SeparationNet.from_preset("tiny", condition_dim=8)
    first = inference.choose_precision(net)
    assert first in ("float32", "bfloat16")
    assert inference.choose_precision(SeparationNet.from_preset("tiny", condition_dim=8)) == first
    assert calls == ["tiny"]  # the same configuration is measured once per process
    assert inference.resolve_precision("auto", net) == first
    assert inference.resolve_precision("float32", net) == "float32"
    assert calls == ["tiny"]


def test_auto_precision_picks_the_faster(monkeypatch):
    net = SeparationNet.from_preset("tiny", condition_dim=8)
    for slow, expect in (("bfloat16", "float32"), ("float32", "bfloat16")):
        def fake_run(fused, mixture, condition, precision, slow=slow):
            return 2.0 if precision == slow else 1.0

        monkeypatch.setattr(inference, "_seconds", lambda fn, repeats=3: fn())
        monkeypatch.setattr(inference, "run", fake_run)
        assert inference._measure(net, torch.device("cpu"), 0.1) == expect
