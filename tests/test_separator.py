import os

import pytest
import torch

from lassnet.blocks import FiLMBatchNorm2d
from lassnet.checkpoint import CheckpointError
from lassnet.separator import PRESETS, SeparationNet, SeparatorConfig


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return SeparationNet.from_preset("tiny", condition_dim=384)


def test_audiosep_preset_has_audiosep_size():
    net = SeparationNet.from_preset("audiosep", condition_dim=512)
    assert net.num_parameters() == 25_623_941
    # 6 encoder + centre residual blocks (2 BN each) + 6 decoders (norm + 2 BN): 32 FiLM targets.
    assert len(net.film.keys) == 7 * 2 + 6 * 3
    assert net.config.time_factor == 32 and net.config.freq_factor == 64


@pytest.mark.parametrize(
    "name,dim,count",
    # A 384-d query (MiniLM) changes only FiLM: 128 fewer inputs to each of its 8,256 outputs.
    [("large", 512, 91_163_141), ("tiny", 384, 664_005),
     ("audiosep", 384, 25_623_941 - 128 * 8_256)],
)
def test_preset_sizes(name, dim, count):
    assert SeparationNet.from_preset(name, condition_dim=dim).num_parameters() == count


def test_film_variants_change_size():
    base = SeparationNet.from_preset("tiny", condition_dim=384)
    total = sum(base.film.sizes)
    gamma = SeparationNet.from_preset("tiny", condition_dim=384, film_gamma=True)
    assert gamma.num_parameters() - base.num_parameters() == total * 385
    mlp = SeparationNet.from_preset("tiny", condition_dim=384, film="mlp", film_hidden=64)
    assert mlp.num_parameters() - base.num_parameters() == (
        (384 * 64 + 64 + 64 * total + total) - (384 * total + total)
    )


@pytest.mark.parametrize("length", [257, 8000, 16000, 31999, 40123])
def test_any_length(tiny, length):
    tiny.eval()
    x = torch.randn(2, 1, length)
    e = torch.nn.functional.normalize(torch.randn(2, 384), dim=1)
    y = tiny(x, e)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_shared_condition_and_masks(tiny):
    tiny.eval()
    x = torch.randn(3, 1, 8000)
    e = torch.randn(1, 384)
    out = tiny(x, e, return_masks=True)
    assert out["waveform"].shape == (3, 1, 8000)
    frames = tiny.stft.num_frames(8000)
    for key in ("mag", "mag_mask", "phase_cos", "phase_sin"):
        assert out[key].shape == (3, 1, frames, 257)
    assert ((out["mag_mask"] >= 0) & (out["mag_mask"] <= 1)).all()
    torch.testing.assert_close(out["waveform"], tiny(x, e.expand(3, -1)))


def test_output_depends_on_query(tiny):
    tiny.eval()
    torch.manual_seed(1)
    x = torch.randn(1, 1, 8000)
    a = tiny(x, torch.randn(1, 384))
    b = tiny(x, torch.randn(1, 384))
    assert (a - b).abs().max() > 1e-4


def test_identity_masks_reproduce_mixture():
    net = SeparationNet.from_preset("tiny", condition_dim=8)
    torch.nn.init.zeros_(net.post_conv.weight)
    with torch.no_grad():
        net.post_conv.bias.copy_(torch.tensor([40.0, 40.0, 0.0]))  # M = 1, P = 1 + 0j
    net.eval()
    x = torch.randn(2, 1, 48 * 256)  # whole hops (see SeparationNet.forward)
    out = net(x, torch.randn(2, 8), return_masks=True)
    # Every bin but the Nyquist bin (dropped from the U-Net, as in AudioSep) passes unchanged.
    torch.testing.assert_close(out["mag_mask"][..., :-1], torch.ones_like(out["mag"][..., :-1]))
    X = net.stft(x)
    X[..., -1] = 0
    expected = net.stft.inverse(X, x.shape[-1])
    assert ((out["waveform"] - expected).norm() / expected.norm()) < 1e-5


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = SeparationNet.from_preset("tiny", condition_dim=16)
    net.train()
    x = torch.randn(2, 1, 8000)
    target = torch.randn(2, 1, 8000)
    loss = (net(x, torch.randn(2, 16)) - target).abs().mean()
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_every_batch_norm_in_unet_is_conditioned(tiny):
    plain = [n for n, m in tiny.named_modules()
             if isinstance(m, torch.nn.BatchNorm2d) and not isinstance(m, FiLMBatchNorm2d)]
    assert plain == ["input_norm"]


def test_bad_inputs(tiny):
    e = torch.randn(1, 384)
    with pytest.raises(ValueError, match="mono"):
        tiny(torch.randn(1, 2, 8000), e)
    with pytest.raises(ValueError, match="shape"):
        tiny(torch.randn(8000), e)
    with pytest.raises(ValueError, match="too short"):
        tiny(torch.randn(1, 1, 100), e)
    with pytest.raises(ValueError, match="non-finite"):
        x = torch.randn(1, 1, 8000)
        x[0, 0, 5] = float("nan")
        tiny(x, e)
    with pytest.raises(ValueError, match="non-finite"):
        tiny(torch.randn(1, 1, 8000), torch.full((1, 384), float("inf")))
    with pytest.raises(ValueError, match="condition_dim=384"):
        tiny(torch.randn(1, 1, 8000), torch.randn(1, 512))
    with pytest.raises(ValueError, match="emb\\[None\\]"):
        tiny(torch.randn(1, 1, 8000), torch.randn(384))
    with pytest.raises(ValueError, match="batch"):
        tiny(torch.randn(2, 1, 8000), torch.randn(3, 384))
    with pytest.raises(ValueError, match="32000 Hz does not match"):
        tiny(torch.randn(1, 1, 8000), e, sample_rate=32000)
    with pytest.raises(ValueError, match="floating"):
        tiny(torch.ones(1, 1, 8000, dtype=torch.int16), e)
    with pytest.raises(ValueError, match="unknown preset"):
        SeparationNet.from_preset("huge")
    with pytest.raises(ValueError, match="same, non-zero length"):
        SeparatorConfig(channels=(8, 16), pools=((2, 2),))


def test_config_round_trip():
    cfg = SeparationNet.from_preset("audiosep", condition_dim=384).config
    assert SeparatorConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.preset == "audiosep"
    assert set(PRESETS) == {"audiosep", "large", "tiny"}


def test_save_load_round_trip(tmp_path, tiny):
    tiny.eval()
    path = tmp_path / "sep.pt"
    tiny.save(path)
    again = SeparationNet.load(path).eval()
    assert again.config == tiny.config
    x, e = torch.randn(1, 1, 8000), torch.randn(1, 384)
    torch.testing.assert_close(again(x, e), tiny(x, e))
    assert [p.name for p in tmp_path.iterdir()] == ["sep.pt"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # like any file, not mkstemp's 0600


def test_corrupt_and_mismatched_checkpoints(tmp_path, tiny):
    with pytest.raises(CheckpointError, match="not found"):
        SeparationNet.load(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot read"):
        SeparationNet.load(bad)
    good = tmp_path / "good.pt"
    tiny.save(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cannot read"):
        SeparationNet.load(truncated)
    payload = torch.load(good, weights_only=True)
    payload["config"]["condition_dim"] = 512
    edited = tmp_path / "edited.pt"  # edited after it was written: the checksum notices
    torch.save(payload, edited)
    with pytest.raises(CheckpointError, match="damaged"):
        SeparationNet.load(edited)
    del payload["checksum"]  # as a file written before checksums: loads up to the weights
    wrong = tmp_path / "wrong.pt"
    torch.save(payload, wrong)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        SeparationNet.load(wrong)
    code = tmp_path / "code.pt"  # a pickle that would run code on load is refused, plainly
    torch.save({"config": payload["config"], "hook": os.system}, code)
    with pytest.raises(CheckpointError, match="refused.*system") as info:
        SeparationNet.load(code)
    assert "\x1b" not in str(info.value) and "weights_only" not in str(info.value)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_fast_inference_matches(tiny, precision):
    tiny.eval()
    x = torch.randn(2, 1, 16000)
    e = torch.randn(2, 384)
    ref = tiny(x, e)
    out = tiny.infer(x, e, precision=precision)
    err = ((out - ref).norm() / ref.norm()).item()
    assert err < (1e-5 if precision == "float32" else 2e-2)
    assert not tiny.training and not torch.is_inference_mode_enabled()


def test_input_rms_makes_the_output_follow_the_input_level():
    """With ``input_rms`` every mixture enters at one level and the output scales back: the
    separator is then exactly proportional to its input (AudioSep's raw level is the default).
    """
    torch.manual_seed(0)
    net = SeparationNet.from_preset("tiny", condition_dim=384, input_rms=0.05).eval()
    raw = SeparationNet.from_preset("tiny", condition_dim=384).eval()
    raw.load_state_dict(net.state_dict())
    assert raw.config.input_rms is None and net.config.input_rms == 0.05
    x, e = 0.3 * torch.randn(2, 1, 16000), torch.randn(2, 384)
    with torch.no_grad():
        out = net(x, e)
        for gain in (1e-3, 0.1, 7.0):
            torch.testing.assert_close(net(gain * x, e), gain * out, rtol=1e-4, atol=1e-6 * gain)
        # it is the raw network run at the working level
        level = x.pow(2).mean(dim=(1, 2), keepdim=True).sqrt()
        torch.testing.assert_close(out, raw(x * 0.05 / level, e) * level / 0.05)
        assert not torch.allclose(raw(0.01 * x, e) / 0.01, raw(x, e), rtol=1e-2)
        silent = net(torch.zeros(1, 1, 16000), e[:1])
        assert torch.isfinite(silent).all() and silent.abs().max() == 0
        masks = net(x, e, return_masks=True)
        torch.testing.assert_close(masks["mag"], net.spectrogram(x)[0])  # the input's level
    assert SeparatorConfig.from_dict(net.config.to_dict()) == net.config
    with pytest.raises(ValueError, match="input_rms"):
        SeparationNet.from_preset("tiny", input_rms=0.0)


def test_default_width_is_the_default_encoders():
    from lassnet import query

    net = SeparationNet.from_preset("tiny")
    encoder = query.build(query.DEFAULT, device="cpu")
    assert net.config.condition_dim == SeparatorConfig().condition_dim == encoder.dim == 384
    net(torch.randn(1, 1, 4000), encoder.embed_text(["a bell tolling"]))  # fits without options
