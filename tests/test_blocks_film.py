import pytest
import torch

from lassnet.blocks import DecoderBlock, EncoderBlock, FiLMBatchNorm2d, ResidualBlock
from lassnet.film import FiLM, conditioned_layers


def test_residual_block_shapes_and_shortcut():
    same = ResidualBlock(8, 8)
    change = ResidualBlock(8, 16)
    x = torch.randn(2, 8, 12, 20)
    assert same(x).shape == (2, 8, 12, 20)
    assert change(x).shape == (2, 16, 12, 20)
    assert isinstance(same.shortcut, torch.nn.Identity)
    assert isinstance(change.shortcut, torch.nn.Conv2d) and change.shortcut.kernel_size == (1, 1)


def test_residual_block_is_residual():
    block = ResidualBlock(4, 4)
    torch.nn.init.zeros_(block.conv2.weight)
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(block(x), x)


def test_encoder_decoder_shapes():
    enc = EncoderBlock(4, 8, pool=(2, 2))
    x = torch.randn(2, 4, 16, 32)
    pooled, skip = enc(x)
    assert pooled.shape == (2, 8, 8, 16) and skip.shape == (2, 8, 16, 32)
    enc_f = EncoderBlock(8, 8, pool=(1, 2))
    pooled_f, _ = enc_f(pooled)
    assert pooled_f.shape == (2, 8, 8, 8)
    dec = DecoderBlock(16, 8, up=(2, 2))
    assert dec(torch.randn(2, 16, 8, 16), skip).shape == (2, 8, 16, 32)
    with pytest.raises(ValueError, match="skip"):
        dec(torch.randn(2, 16, 7, 16), skip)


def test_multiple_blocks_per_level():
    enc = EncoderBlock(4, 8, num_blocks=2)
    assert len(enc.blocks) == 2
    assert len(conditioned_layers(enc)) == 4


def test_eval_fast_path_matches_batch_norm():
    bn = FiLMBatchNorm2d(6)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-1, 1)
    bn.film_key = "k"
    bn.eval()
    x = torch.randn(3, 6, 5, 7)
    beta = torch.randn(3, 6, 1, 1)
    ref = torch.nn.functional.batch_norm(
        x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps
    ) + beta
    torch.testing.assert_close(bn(x, {"k": (beta, None)}), ref, rtol=1e-5, atol=1e-5)
    gamma = torch.randn(3, 6, 1, 1)
    torch.testing.assert_close(
        bn(x, {"k": (beta, gamma)}), (ref - beta) * (1 + gamma) + beta, rtol=1e-5, atol=1e-5
    )


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = EncoderBlock(1, 4)
        self.dec = DecoderBlock(4, 4)

    def forward(self, x, film):
        y, skip = self.enc(x, film)
        return self.dec(y, skip, film)


@pytest.mark.parametrize("kind,gamma", [("linear", False), ("mlp", False), ("linear", True)])
def test_film_reaches_every_conditioned_layer(kind, gamma):
    torch.manual_seed(0)
    net = _Net()
    film = FiLM(net, condition_dim=10, kind=kind, gamma=gamma)
    layers = conditioned_layers(net)
    assert film.keys == [n for n, _ in layers] == ["enc.blocks.0.bn1", "enc.blocks.0.bn2",
                                                   "dec.norm", "dec.blocks.0.bn1",
                                                   "dec.blocks.0.bn2"]
    assert all(layer.film_key == name for name, layer in layers)
    e = torch.randn(3, 10)
    params = film(e)
    for (name, layer) in layers:
        beta, g = params[name]
        assert beta.shape == (3, layer.num_features, 1, 1)
        assert (g is not None) == gamma
    # Every layer's β changes with the embedding, and the output follows.
    other = film(torch.randn(3, 10))
    assert all(not torch.allclose(params[k][0], other[k][0]) for k in film.keys)
    x = torch.randn(3, 1, 8, 8)
    assert not torch.allclose(net(x, params), net(x, other))
    # Gradient of the output reaches the FiLM rows of every layer.
    net(x, film(e)).square().mean().backward()
    grad = (film.net if kind == "linear" else film.net[-1]).weight.grad
    starts = [sum(film.sizes[:i]) for i in range(len(film.sizes))]  # β rows, layer by layer
    for key, start, size in zip(film.keys, starts, film.sizes, strict=True):
        assert grad[start : start + size].abs().sum() > 0, key


def test_film_errors():
    with pytest.raises(ValueError, match="no FiLMBatchNorm2d"):
        FiLM(torch.nn.Linear(2, 2), 4)
    with pytest.raises(ValueError, match="unknown FiLM kind"):
        FiLM(_Net(), 4, kind="attention")


def _block_in_eval_mode(seed: int) -> ResidualBlock:
    """A 4 -> 6 residual block in eval mode with made-up batch-norm statistics and affines;
    its batch norms take FiLM keys "a" and "b"."""
    torch.manual_seed(seed)
    block = ResidualBlock(4, 6)
    for bn in (block.bn1, block.bn2):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    block.bn1.film_key, block.bn2.film_key = "a", "b"
    return block.eval()


def _reference_bn(bn, x, beta, gamma):
    """Eval-mode batch norm written out, then FiLM: BN(x)·(1 + γ) + β."""
    shape = (1, -1, 1, 1)
    y = (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    y = y * bn.weight.view(shape) + bn.bias.view(shape)
    return y * (1 + gamma) + beta


def test_one_forward_path_matches_the_written_out_maths():
    """The block computes the same thing in eval mode whatever the batch, the queries or the
    memory layout: there is one path, BN → ·(1 + γ) + β → LeakyReLU → conv, twice."""
    block = _block_in_eval_mode(seed=1)
    slope = block.negative_slope
    film = {"a": (torch.randn(2, 4, 1, 1), 0.5 * torch.randn(2, 4, 1, 1)),
            "b": (torch.randn(2, 6, 1, 1), 0.5 * torch.randn(2, 6, 1, 1))}
    x = torch.randn(2, 4, 9, 12)
    with torch.no_grad():
        h = torch.nn.functional.leaky_relu(_reference_bn(block.bn1, x, *film["a"]), slope)
        h = _reference_bn(block.bn2, block.conv1(h), *film["b"])
        expected = block.conv2(torch.nn.functional.leaky_relu(h, slope)) + block.shortcut(x)
        torch.testing.assert_close(block(x, film), expected, rtol=1e-5, atol=1e-5)
        one = {k: (b[:1], g[:1]) for k, (b, g) in film.items()}
        for x1 in (x[:1], x[:1].contiguous(memory_format=torch.channels_last)):
            torch.testing.assert_close(block(x1, one), expected[:1], rtol=1e-5, atol=1e-5)
        # every layer runs on its own in eval mode too: forward hooks on conv1 and bn2 fire
        seen = []
        for layer in (block.conv1, block.bn2):
            layer.register_forward_hook(lambda m, i, o: seen.append(type(m).__name__))
        block(x[:1], one)
        assert seen == ["Conv2d", "FiLMBatchNorm2d"]
        # and training mode (batch statistics) still scales by 1 + γ
        block.train()
        bn = block.bn1
        y = bn(x, film)
        plain = torch.nn.functional.batch_norm(x, None, None, bn.weight, bn.bias, True)
        torch.testing.assert_close(y, plain * (1 + film["a"][1]) + film["a"][0])
