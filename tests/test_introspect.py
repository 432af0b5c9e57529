import pytest
import torch
from torch import nn

from lassnet.introspect import (
    capture_feature_maps,
    receptive_field,
    receptive_field_trace,
    shape_trace,
)
from lassnet.separator import SeparationNet


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return SeparationNet.from_preset("tiny", condition_dim=16)


def rows_by_name(rows):
    return {row.layer: row for row in rows}


def test_shape_trace_ends_with_the_output_shape(tiny):
    length = 32 * 256  # whole hops: 33 frames, padded to 48 inside the U-Net
    rows = shape_trace(tiny, length)
    assert rows[0].layer == "mixture" and rows[0].shape == (1, 1, length)
    with torch.no_grad():
        out = tiny.eval()(torch.zeros(1, 1, length), torch.zeros(1, 16))
    assert rows[-1].shape == tuple(out.shape) == (1, 1, length)
    frames = tiny.stft.num_frames(length)
    named = rows_by_name(rows)
    assert named["|X|"].shape == (1, 1, frames, 257)
    assert named["masks"].shape == (1, 1, frames, 257)
    # Frames padded to a multiple of 16, bins cropped to a multiple of 16.
    padded = frames + (-frames % tiny.config.time_factor)
    assert named["pre_conv"].shape == (1, 8, padded, 256)
    assert named["post_conv"].shape == (1, 3, padded, 256)


def test_shape_trace_encoders_halve_and_decoders_mirror(tiny):
    named = rows_by_name(shape_trace(tiny, 16000))
    enc = [named[f"encoders.{i}"].shape for i in range(4)]
    previous = named["pre_conv"].shape
    for shape, channels in zip(enc, tiny.config.channels, strict=True):
        assert shape[1] == channels
        assert shape[2] * 2 == previous[2] and shape[3] * 2 == previous[3]
        previous = shape
    assert named["centre"].shape == enc[-1]
    # Each decoder comes back to the resolution of the matching encoder's input.
    inputs = [named["pre_conv"].shape] + enc[:-1]
    for i, dec_input in enumerate(reversed(inputs)):
        assert named[f"decoders.{i}"].shape[2:] == dec_input[2:]


def test_shape_trace_audiosep_last_pool_is_frequency_only():
    net = SeparationNet.from_preset("audiosep", condition_dim=8)
    named = rows_by_name(shape_trace(net, 4000))
    last, before = named["encoders.5"].shape, named["encoders.4"].shape
    assert last[2] == before[2] and last[3] * 2 == before[3]
    assert named["pre_conv"].shape[2:] == (32, 1024)  # 13 frames padded to 32; 1025 → 1024 bins


def test_receptive_field_of_simple_layers():
    assert receptive_field(nn.Conv2d(1, 1, 3)).frames == 3
    assert receptive_field(nn.Conv2d(1, 1, 3)).bins == 3
    dilated = receptive_field(nn.Conv2d(1, 1, 3, dilation=2, padding=2))
    assert (dilated.frames, dilated.bins) == (5, 5)
    # conv 3 → pool 2 → conv 3: 2 pooled values × 2 samples + 2 + 2 = 8, for every position.
    chain = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3))
    field = receptive_field(chain)
    assert (field.frames, field.min_frames) == (8, 8)
    assert receptive_field_trace(chain)[-1].size == (8, 8)
    assert field.seconds is None and field.hertz is None
    rect = receptive_field(nn.Conv2d(1, 1, (5, 1)))
    assert (rect.frames, rect.bins) == (5, 1)


def test_receptive_field_rule_grows_through_the_tiny_unet(tiny):
    trace = receptive_field_trace(tiny)
    kinds = [row.kind for row in trace]
    assert kinds.count("pool") == 4 and kinds.count("upsample") == 4
    sizes = [row.size[0] for row in trace]
    assert sizes == sorted(sizes)  # never shrinks along the path
    assert trace[-1].jump == (1, 1)  # back at full resolution
    assert trace[-1].size == (200, 200)


def test_receptive_field_matches_gradient_support(tiny):
    """The exact field equals where the gradient of one output value is non-zero."""
    torch.manual_seed(1)
    net = SeparationNet.from_preset("tiny", condition_dim=4).eval()
    for module in net.modules():  # positive weights: no accidental cancellation
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.uniform_(module.weight, 0.1, 1.0)
    period = net.config.time_factor
    mag = torch.rand(period, 1, 384, 257, requires_grad=True)  # one probe per example
    logits = net.mask_logits(mag, torch.randn(1, 4))
    k = torch.arange(period)
    logits[k, 0, 192 + k, 120 + k].sum().backward()
    support = mag.grad[:, 0].abs() > 0  # (P, T, F)
    frames = support.any(dim=2).sum(dim=1)  # contiguous, so the count is the extent
    bins = support.any(dim=1).sum(dim=1)
    field = receptive_field(net)
    assert (int(frames.max()), int(frames.min())) == (field.frames, field.min_frames)
    assert (int(bins.max()), int(bins.min())) == (field.bins, field.min_bins)
    assert field.frames == 204 and field.min_frames == 188
    cfg = net.config
    assert field.seconds == pytest.approx(((204 - 1) * cfg.hop_length + cfg.n_fft) / 16000)
    assert field.hertz == pytest.approx(204 * 16000 / 512)


def test_receptive_field_of_audiosep_is_seconds_long():
    field = receptive_field(SeparationNet.from_preset("audiosep", condition_dim=8))
    assert field.min_frames <= field.frames and field.min_bins <= field.bins
    assert 6.0 < field.seconds < 7.5
    assert field.bins < 1024  # a low bin's mask never sees the top of the spectrum


def test_capture_feature_maps_depends_on_the_query(tiny):
    torch.manual_seed(2)
    mixture = 0.1 * torch.randn(1, 1, 8000)
    a, b = torch.randn(1, 16), torch.randn(1, 16)
    names = ["encoders.0.blocks.0.bn1", "encoders.1"]
    tiny.train()
    maps_a = capture_feature_maps(tiny, mixture, a, names)
    maps_b = capture_feature_maps(tiny, mixture, b, names)
    assert tiny.training  # mode restored
    assert list(maps_a) == names
    # An encoder block's pooled output, as the shape trace reports it.
    trace = rows_by_name(shape_trace(tiny, mixture.shape[-1]))
    assert maps_a["encoders.1"].shape == trace["encoders.1"].shape
    assert not torch.allclose(maps_a["encoders.1"], maps_b["encoders.1"])
    # At a FiLM-shifted batch norm two queries differ by exactly β_a − β_b, everywhere.
    key = "encoders.0.blocks.0.bn1"
    diff = maps_a[key] - maps_b[key]  # (1, C, T, F)
    with torch.no_grad():
        beta_diff = tiny.film(a)[key][0] - tiny.film(b)[key][0]  # (1, C, 1, 1)
    torch.testing.assert_close(diff, beta_diff.expand_as(diff), rtol=1e-4, atol=1e-5)
    # Same query, same maps.
    again = capture_feature_maps(tiny, mixture, a, names)
    torch.testing.assert_close(again["encoders.1"], maps_a["encoders.1"])


def test_capture_feature_maps_rejects_unknown_layers(tiny):
    with pytest.raises(ValueError, match="no layer named"):
        capture_feature_maps(tiny, torch.zeros(1, 1, 4000), torch.zeros(1, 16), ["nope"])


def test_num_parameters_of_a_module_or_a_part_of_one():
    from lassnet.blocks import ResidualBlock
    from lassnet.introspect import num_parameters

    block = ResidualBlock(8, 16)  # two 3x3 convs without bias, a 1x1 shortcut, two BNs
    assert num_parameters(block) == sum(p.numel() for p in block.parameters())
    convs = 9 * 8 * 16 + 9 * 16 * 16 + (8 * 16 + 16)
    assert num_parameters(block) == convs + 2 * 8 + 2 * 16
    net = SeparationNet.from_preset("tiny", condition_dim=384)
    assert num_parameters(net) == net.num_parameters()
    parts = num_parameters(net.film) + sum(num_parameters(m) for n, m in net.named_children()
                                           if n != "film")
    assert parts == num_parameters(net)
    net.film.requires_grad_(False)
    assert num_parameters(net, trainable_only=True) == num_parameters(net) - num_parameters(
        net.film)
    # On the meta device nothing is allocated, and the count is the same.
    with torch.device("meta"):
        big = SeparationNet.from_preset("audiosep", condition_dim=512)
    assert num_parameters(big) == 25_623_941
    with pytest.raises(ValueError, match="nn.Module"):
        num_parameters([torch.zeros(3)])


# ----------------------------------------------------------------------------- FiLM traces
@pytest.mark.parametrize("gamma", [False, True])
def test_film_trace_records_the_written_out_shifts_and_scales(gamma):
    from lassnet.introspect import film_trace

    torch.manual_seed(1)
    net = SeparationNet.from_preset("tiny", condition_dim=16, film_gamma=gamma)
    mixture = torch.randn(1, 1, 4096) * 0.1
    e = torch.nn.functional.normalize(torch.randn(1, 16), dim=1)
    trace = film_trace(net, mixture, e, "encoders.1.blocks.0")
    # FiLM's single linear layer by hand: out = W e + b, split by the layers' widths, the
    # β's first, then (with a scale) the γ's.
    out = e[0] @ net.film.net.weight.detach().T + net.film.net.bias.detach()  # (ΣC or 2ΣC,)
    sizes = net.film.sizes
    assert trace.layers == net.film.keys and len(trace.betas) == len(sizes) == 22
    betas = out[: sum(sizes)].split(sizes)
    for got, want in zip(trace.betas, betas, strict=True):
        torch.testing.assert_close(got, want)
    assert trace.has_gamma is gamma
    if gamma:
        for got, want in zip(trace.gammas, out[sum(sizes):].split(sizes), strict=True):
            torch.testing.assert_close(got, want)
    else:
        assert all(g is None for g in trace.gammas)
    # The layer's maps are the ones capture_feature_maps records in the same forward pass.
    direct = capture_feature_maps(net, mixture, e, ["encoders.1.blocks.0"])
    torch.testing.assert_close(trace.maps, direct["encoders.1.blocks.0"][0])
    assert trace.maps.shape[0] == 16 and trace.layer == "encoders.1.blocks.0"
    # encoders.1 works at half the resolution of the first level in time and frequency.
    assert (trace.time_factor, trace.freq_factor) == (2, 2)
    assert trace.grid == dict(sample_rate=16000, hop_length=512, n_fft=256)
    assert film_trace(net, mixture, e, "centre").time_factor == 16


def test_film_trace_rejects_a_batch_and_unknown_layers(tiny):
    from lassnet.introspect import film_trace

    with pytest.raises(ValueError, match="one example"):
        film_trace(tiny, torch.zeros(2, 1, 4096), torch.zeros(2, 16), "centre")
    with pytest.raises(ValueError, match="no layer named"):
        film_trace(tiny, torch.zeros(1, 1, 4096), torch.zeros(1, 16), "nowhere")
    assert not tiny._forward_hooks and not tiny.film._forward_hooks  # hooks removed


def test_modality_gap_against_written_out_means():
    from lassnet.introspect import modality_gap

    torch.manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(6, 5), dim=1)
    audio = torch.nn.functional.normalize(torch.randn(4, 5), dim=1)
    tl, al = ["a", "a", "a", "b", "b", "b"], ["a", "a", "b", "b"]
    gap = modality_gap(text, tl, audio, al)
    # By hand: every pair, listed.
    def mean(pairs):
        return sum(pairs) / len(pairs)
    t_same = [float(text[i] @ text[j]) for i in range(6) for j in range(6)
              if i != j and tl[i] == tl[j]]
    cross_same = [float(audio[i] @ text[j]) for i in range(4) for j in range(6) if al[i] == tl[j]]
    cross_other = [float(audio[i] @ text[j]) for i in range(4) for j in range(6)
                   if al[i] != tl[j]]
    assert gap["text_same"] == pytest.approx(mean(t_same))
    assert gap["cross_same"] == pytest.approx(mean(cross_same))
    assert gap["cross_other"] == pytest.approx(mean(cross_other))
    assert gap["audio_same"] == pytest.approx(
        (float(audio[0] @ audio[1]) + float(audio[2] @ audio[3])) / 2)
    assert gap["centroid_distance"] == pytest.approx(
        float((audio.mean(0) - text.mean(0)).norm()), rel=1e-6)
    # A clip that *is* its caption closes the gap.
    same = modality_gap(text, tl, text, tl)
    assert same["centroid_distance"] == pytest.approx(0.0, abs=1e-12)
    assert same["cross_other"] == pytest.approx(same["text_other"])
    with pytest.raises(ValueError, match="share D"):
        modality_gap(text, tl, torch.zeros(4, 3), al)
    with pytest.raises(ValueError, match="one label per embedding"):
        modality_gap(text, tl[:-1], audio, al)
