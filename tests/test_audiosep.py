"""The converter against a functional re-statement of AudioSep's ResUNet30 forward.

The reference below reads tensors straight from a state dict in AudioSep's key layout
(``ss_model.base.*``, ``ss_model.film.<path>->beta<k>.*``) and uses torchlibrosa's STFT/ISTFT,
the transform AudioSep's code uses; it shares no code with lassnet's modules.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from lassnet.audiosep import load_audiosep
from lassnet.checkpoint import CheckpointError

torchlibrosa = pytest.importorskip("torchlibrosa.stft")

ENC = [(1, 32, 32, (2, 2)), (2, 32, 64, (2, 2)), (3, 64, 128, (2, 2)), (4, 128, 256, (2, 2)),
       (5, 256, 384, (2, 2)), (6, 384, 384, (1, 2))]
DEC = [(1, 384, 384, (1, 2)), (2, 384, 384, (2, 2)), (3, 384, 256, (2, 2)),
       (4, 256, 128, (2, 2)), (5, 128, 64, (2, 2)), (6, 64, 32, (2, 2))]
COND = 512


def _stft_modules():
    kw = dict(n_fft=2048, hop_length=320, win_length=2048, window="hann", center=True,
              pad_mode="reflect", freeze_parameters=True)
    return torchlibrosa.STFT(**kw), torchlibrosa.ISTFT(**kw)


def _audiosep_state_dict(seed=0):
    """Random weights in the key layout of AudioSep's LightningModule."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def conv(name, cin, cout, k, bias):
        scale = 1 / math.sqrt(cin * k[0] * k[1])
        sd[f"{name}.weight"] = scale * torch.randn(cout, cin, *k, generator=g)
        if bias:
            sd[f"{name}.bias"] = 0.1 * torch.randn(cout, generator=g)

    def bn(name, c):
        sd[f"{name}.weight"] = 1 + 0.2 * torch.randn(c, generator=g)
        sd[f"{name}.bias"] = 0.2 * torch.randn(c, generator=g)
        sd[f"{name}.running_mean"] = 0.2 * torch.randn(c, generator=g)
        sd[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[f"{name}.num_batches_tracked"] = torch.tensor(1000)

    def film(path, c):
        sd[f"ss_model.film.{path}.weight"] = 0.05 * torch.randn(c, COND, generator=g)
        sd[f"ss_model.film.{path}.bias"] = 0.05 * torch.randn(c, generator=g)

    def res(prefix, fpath, cin, cout):
        bn(f"{prefix}.bn1", cin)
        bn(f"{prefix}.bn2", cout)
        conv(f"{prefix}.conv1", cin, cout, (3, 3), False)
        conv(f"{prefix}.conv2", cout, cout, (3, 3), False)
        if cin != cout:
            conv(f"{prefix}.shortcut", cin, cout, (1, 1), True)
        film(f"{fpath}->beta1", cin)
        film(f"{fpath}->beta2", cout)

    b = "ss_model.base"
    stft, istft = _stft_modules()
    for k, v in stft.state_dict().items():
        sd[f"{b}.stft.{k}"] = v
    for k, v in istft.state_dict().items():
        sd[f"{b}.istft.{k}"] = v
    bn(f"{b}.bn0", 1025)
    conv(f"{b}.pre_conv", 1, 32, (1, 1), True)
    for i, cin, cout, _ in ENC:
        res(f"{b}.encoder_block{i}.conv_block1", f"encoder_block{i}->conv_block1", cin, cout)
    res(f"{b}.conv_block7a.conv_block1", "conv_block7a->conv_block1", 384, 384)
    for i, cin, cout, up in DEC:
        up_weight = torch.randn(cin, cout, *up, generator=g) / math.sqrt(cin)
        sd[f"{b}.decoder_block{i}.conv1.weight"] = up_weight
        bn(f"{b}.decoder_block{i}.bn1", cin)
        bn(f"{b}.decoder_block{i}.bn2", cin)  # present in AudioSep, unused by its forward
        film(f"decoder_block{i}->beta1", cin)
        film(f"decoder_block{i}->beta2", cin)  # likewise unused
        res(f"{b}.decoder_block{i}.conv_block2", f"decoder_block{i}->conv_block2", 2 * cout, cout)
    conv(f"{b}.after_conv", 32, 3, (1, 1), True)
    sd["query_encoder.model.logit_scale_a"] = torch.tensor(1.0)  # CLAP lives beside it
    return sd


def _reference_forward(sd, mixture, condition):
    """AudioSep's separation, step by step, on an AudioSep-layout state dict (eval mode)."""
    W = {k[len("ss_model."):]: v for k, v in sd.items() if k.startswith("ss_model.")}

    def bn(x, name):
        return F.batch_norm(x, W[f"{name}.running_mean"], W[f"{name}.running_var"],
                            W[f"{name}.weight"], W[f"{name}.bias"], training=False, eps=1e-5)

    def beta(path):
        return (condition @ W[f"film.{path}.weight"].T + W[f"film.{path}.bias"])[:, :, None, None]

    def res(x, name, fpath):
        h = F.conv2d(F.leaky_relu(bn(x, f"{name}.bn1") + beta(f"{fpath}->beta1"), 0.01),
                     W[f"{name}.conv1.weight"], padding=1)
        h = F.conv2d(F.leaky_relu(bn(h, f"{name}.bn2") + beta(f"{fpath}->beta2"), 0.01),
                     W[f"{name}.conv2.weight"], padding=1)
        if f"{name}.shortcut.weight" in W:
            x = F.conv2d(x, W[f"{name}.shortcut.weight"], W[f"{name}.shortcut.bias"])
        return x + h

    stft, istft = _stft_modules()
    real, imag = stft(mixture[:, 0, :])  # (B, 1, T, F)
    mag = torch.clamp(real**2 + imag**2, 1e-10, math.inf) ** 0.5
    cos, sin = real / mag, imag / mag
    x = bn(mag.transpose(1, 3), "base.bn0").transpose(1, 3)
    frames = x.shape[2]
    x = F.pad(x, (0, 0, 0, int(math.ceil(frames / 32)) * 32 - frames))[..., :-1]
    x = F.conv2d(x, W["base.pre_conv.weight"], W["base.pre_conv.bias"])
    skips = []
    for i, _, _, pool in ENC:
        x = res(x, f"base.encoder_block{i}.conv_block1", f"encoder_block{i}->conv_block1")
        skips.append(x)
        x = F.avg_pool2d(x, kernel_size=pool)
    x = res(x, "base.conv_block7a.conv_block1", "conv_block7a->conv_block1")
    for (i, _, _, up), skip in zip(DEC, reversed(skips), strict=True):
        h = F.leaky_relu(bn(x, f"base.decoder_block{i}.bn1") + beta(f"decoder_block{i}->beta1"),
                         0.01)
        h = F.conv_transpose2d(h, W[f"base.decoder_block{i}.conv1.weight"], stride=up)
        x = res(torch.cat((h, skip), dim=1), f"base.decoder_block{i}.conv_block2",
                f"decoder_block{i}->conv_block2")
    x = F.conv2d(x, W["base.after_conv.weight"], W["base.after_conv.bias"])
    x = F.pad(x, (0, 1))[:, :, :frames, :]
    m_mag = torch.sigmoid(x[:, 0:1])
    m_real, m_imag = torch.tanh(x[:, 1:2]), torch.tanh(x[:, 2:3])
    m_abs = (m_real**2 + m_imag**2) ** 0.5
    m_cos = m_real / torch.clamp(m_abs, 1e-10, math.inf)
    m_sin = m_imag / torch.clamp(m_abs, 1e-10, math.inf)
    out_cos = cos * m_cos - sin * m_sin
    out_sin = sin * m_cos + cos * m_sin
    out_mag = F.relu(mag * m_mag)
    wave = istft(out_mag * out_cos, out_mag * out_sin, mixture.shape[-1])
    return wave[:, None, :]


@pytest.fixture(scope="module")
def converted():
    sd = _audiosep_state_dict()
    net, report = load_audiosep({"state_dict": sd})
    return sd, net.eval(), report


def test_matches_audiosep_forward(converted):
    sd, net, _ = converted
    torch.manual_seed(0)
    mixture = 0.1 * torch.randn(2, 1, 64 * 320)  # whole hops, as AudioSep's 5 s segments
    condition = F.normalize(torch.randn(2, COND), dim=1)
    with torch.no_grad():
        ref = _reference_forward(sd, mixture, condition)
        ours = net(mixture, condition)
    assert ref.shape == ours.shape == mixture.shape
    assert ref.abs().max() > 1e-3  # the comparison is not between two silences
    err = ((ours - ref).norm() / ref.norm()).item()
    assert err < 1e-4, err


def test_matches_audiosep_at_any_length(converted):
    sd, net, _ = converted
    torch.manual_seed(1)
    mixture = 0.1 * torch.randn(1, 1, 20000)  # 62.5 hops
    condition = F.normalize(torch.randn(1, COND), dim=1)
    with torch.no_grad():
        ref = _reference_forward(sd, mixture, condition)
        ours = net(mixture, condition)
    assert ((ours - ref).norm() / ref.norm()).item() < 1e-4


def test_report_lists_dropped_tensors(converted):
    sd, net, report = converted
    dropped = set(report.dropped)
    assert {k for k in sd if ".stft." in k or ".istft." in k} <= dropped
    assert {f"ss_model.base.decoder_block{i}.bn2.weight" for i in range(1, 7)} <= dropped
    assert {f"ss_model.film.decoder_block{i}->beta2.weight" for i in range(1, 7)} <= dropped
    assert "query_encoder.model.logit_scale_a" in dropped
    assert report.missing == []
    # Everything else was used: the dropped STFT matrices hold 12.6 M numbers, the unused
    # decoder BN/FiLM layers 0.82 M.
    stft_numbers = sum(sd[k].numel() for k in dropped if "stft." in k and "window" not in k)
    unused = sum(sd[k].numel() for k in dropped
                 if ("bn2" in k and "decoder_block" in k and "conv_block2" not in k
                     and "running" not in k and "num_batches" not in k)
                 or "->beta2" in k and "conv_block2" not in k)
    assert round(stft_numbers / 1e6, 1) == 12.6
    assert round(unused / 1e6, 2) == 0.82
    # Every parameter of the net comes from a tensor AudioSep's forward pass uses: the
    # count is derived from the checkpoint, not pinned.
    used = [k for k in sd if k not in dropped
            and not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert net.num_parameters() == sum(sd[k].numel() for k in used) == 25_623_941
    assert "dropped" in report.summary()


def test_checkpoint_file_without_prefix(tmp_path):
    sd = {k[len("ss_model."):]: v for k, v in _audiosep_state_dict(seed=1).items()
          if k.startswith("ss_model.")}
    path = tmp_path / "audiosep.ckpt"
    torch.save({"state_dict": sd, "epoch": 3}, path)
    net, _ = load_audiosep(path)
    torch.testing.assert_close(net.pre_conv.weight, sd["base.pre_conv.weight"])


def test_missing_tensor_is_an_error():
    sd = _audiosep_state_dict()
    del sd["ss_model.base.encoder_block3.conv_block1.conv2.weight"]
    with pytest.raises(CheckpointError, match="lacks 1 tensors"):
        load_audiosep(sd)
    with pytest.raises(CheckpointError, match="no AudioSep separator weights"):
        load_audiosep({"model.weight": torch.zeros(1)})


def test_unknown_tensor_is_a_clear_error():
    sd = _audiosep_state_dict()
    sd["ss_model.base.encoder_block9.conv_block1.conv1.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected tensor.*encoder_block9.*ResUNet30"):
        load_audiosep(sd)
    sd = _audiosep_state_dict()
    sd["ss_model.film.encoder_block1->conv_block1->gamma1.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected tensor.*gamma1"):
        load_audiosep(sd)
