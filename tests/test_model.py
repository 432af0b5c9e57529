import numpy as np
import pytest
import torch

from lassnet.audio import resample
from lassnet.checkpoint import CheckpointError
from lassnet.data import evaluation_mixtures, reference_for
from lassnet.masks import apply_masks, ideal_ratio_mask
from lassnet.metrics import si_sdr
from lassnet.model import LASSModel, Separation, plan_chunks, whole_hop_length
from lassnet.separator import SeparationNet
from lassnet.stft import STFT


@pytest.fixture(scope="module")
def encoder():
    from lassnet import query

    return query.build("minilm")


def _identity_separator(dim):
    """A separator whose masks are the identity (M = 1, ∠P = 0) in every bin."""
    net = SeparationNet.from_preset("tiny", condition_dim=dim)
    torch.nn.init.zeros_(net.post_conv.weight)
    with torch.no_grad():
        net.post_conv.bias.copy_(torch.tensor([40.0, 40.0, 0.0]))
    return net.eval()


def _without_nyquist(net, x):
    """What identity masks give: the input without its Nyquist bin (padded to whole hops)."""
    padded = torch.nn.functional.pad(x, (0, -x.shape[-1] % net.stft.hop_length))
    X = net.stft(padded)
    X[..., -1] = 0
    return net.stft.inverse(X, padded.shape[-1])[..., : x.shape[-1]]


@pytest.mark.parametrize("length,rate,chunk,grid", [
    (10_000, 16000, 2.0, 4096), (1_234_567, 44100, 6.0, 4096), (1_234_567, 44100, 1.0, 256),
    (999, 8000, 2.0, 4096), (250_000, 22050, 6.0, 4096), (3_000_000, 16000, 2.0, 4096)])
def test_chunk_plan_weights_sum_to_one_and_chunks_start_on_the_grid(length, rate, chunk, grid):
    """The cross-fades of a ChunkPlan sum to exactly one, all overlaps are equal, and every
    chunk starts on a whole input sample that is a whole number of hops at 16 kHz: of the
    U-Net's pooling grid (16 hops) where that grid spans at most a chunk."""
    plan = plan_chunks(length, rate, 16000, 256, chunk_seconds=chunk, overlap_seconds=0.5,
                       time_factor=16)
    fade_in, fade_out = plan.fades()
    total = torch.zeros(length, dtype=torch.float64)
    covered = 0
    for k in range(plan.count):
        start, stop = plan.own(k)
        assert start == covered - (plan.fade if k else 0)  # equal overlaps
        weight = torch.ones(stop - start, dtype=torch.float64)
        if k > 0:
            weight[: plan.fade] = fade_in[: stop - start].double()
        if k < plan.count - 1:
            weight[-plan.fade :] = fade_out.double()
        total[start:stop] += weight
        covered = stop
        first, last = plan.span(k)
        assert first <= max(0, start - plan.margin) and last >= min(length, stop + plan.margin)
        assert first % plan.quantum == 0 and (first * 16000) % rate == 0
        assert (first * 16000 // rate) % grid == 0  # hops (and pooling windows)
    assert covered == length
    torch.testing.assert_close(total, torch.ones(length, dtype=torch.float64), atol=1e-7,
                               rtol=0)
    assert len({plan.span(k)[1] - plan.span(k)[0] for k in range(1, plan.count - 1)}) <= 1


@pytest.mark.parametrize("length", [300, 16000, 16000 * 7 + 123])
def test_chunked_separation_is_seamless(encoder, length):
    net = _identity_separator(encoder.dim)
    model = LASSModel(net, encoder)
    torch.manual_seed(0)
    # Band-limited noise (nothing near the dropped Nyquist bin): identity masks return it.
    x = resample(0.1 * torch.randn(length // 2 + 1), 8000, 16000)[:length]
    y = model.separate(x, 16000, "a siren wailing", chunk_seconds=2.0, overlap_seconds=0.5)
    assert isinstance(y, torch.Tensor) and y.shape == x.shape
    assert ((y - x).norm() / x.norm()).item() < 2e-3
    if length >= 257:  # and the chunked result equals one pass over the whole signal
        whole = _without_nyquist(net, x[None, None])[0, 0]
        assert ((y - whole).norm() / whole.norm()).item() < 2e-3


def test_numpy_stereo_and_resampling(encoder):
    net = _identity_separator(encoder.dim)
    model = LASSModel(net, encoder)
    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((2, 44100 * 3))).astype(np.float32)
    out = model.separate(stereo, 44100, "rain falling", chunk_seconds=1.0, overlap_seconds=0.25)
    assert isinstance(out, np.ndarray) and out.shape == stereo.shape and out.dtype == np.float32
    # Identity masks: the output is the input band-limited by the round trip through 16 kHz.
    x = torch.from_numpy(stereo)
    expected = resample(resample(x, 44100, 16000), 16000, 44100)[..., : x.shape[-1]]
    err = np.linalg.norm(out - expected.numpy()) / np.linalg.norm(expected.numpy())
    assert err < 0.05
    # Each channel is separated on its own: swapping the channels swaps the outputs.
    swapped = model.separate(stereo[::-1].copy(), 44100, "rain falling", chunk_seconds=1.0,
                             overlap_seconds=0.25)
    np.testing.assert_allclose(swapped, out[::-1], atol=1e-5)


def test_bad_inputs(encoder):
    model = LASSModel(_identity_separator(encoder.dim), encoder)
    x = torch.randn(16000)
    with pytest.raises(ValueError, match="empty"):
        model.separate(x, 16000, "   ")
    with pytest.raises(ValueError, match="no samples"):
        model.separate(torch.zeros(0), 16000, "a bell")
    with pytest.raises(ValueError, match="non-finite"):
        model.separate(torch.full((16000,), float("nan")), 16000, "a bell")
    with pytest.raises(ValueError, match="wave.T"):
        model.separate(torch.randn(16000, 2), 16000, "a bell")
    with pytest.raises(ValueError, match="sample_rate"):
        model.separate(x, 0, "a bell")
    with pytest.raises(ValueError, match="integer samples"):
        model.separate(np.zeros(16000, dtype=np.int16), 16000, "a bell")
    with pytest.raises(ValueError, match="sample rate"):
        model.separate(x, 16000, torch.randn(16000))  # audio query without its rate
    with pytest.raises(ValueError, match="does not match"):
        LASSModel(SeparationNet.from_preset("tiny", condition_dim=512), encoder)


def test_real_query_changes_output(encoder):
    torch.manual_seed(0)
    model = LASSModel(SeparationNet.from_preset("tiny", condition_dim=encoder.dim).eval(),
                      encoder)
    x = 0.1 * torch.randn(16000)
    a = model.separate(x, 16000, "a siren wailing")
    b = model.separate(x, 16000, "a clock ticking")
    assert (a - b).abs().max() > 1e-5


def test_save_load(tmp_path, encoder):
    model = LASSModel(SeparationNet.from_preset("tiny", condition_dim=encoder.dim).eval(),
                      encoder)
    model.save(tmp_path / "m.pt")
    again = LASSModel.load(tmp_path / "m.pt", encoder=encoder)
    x = 0.1 * torch.randn(8000)
    torch.testing.assert_close(again.separate(x, 16000, "a bell"),
                               model.separate(x, 16000, "a bell"))
    assert again.query_name == "minilm"
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError):
        LASSModel.load(tmp_path / "junk.pt")


# ----------------------------------------------------------------------------- inspect
SR = 16000


@pytest.fixture(scope="module")
def demo(encoder):
    """A random-weight tiny model and two short mixtures with their sources kept."""
    torch.manual_seed(0)
    model = LASSModel(SeparationNet.from_preset("tiny", condition_dim=encoder.dim).eval(),
                      encoder)
    mixtures = evaluation_mixtures(count=2, n_interferers=2, sample_rate=SR, duration=1.0,
                                   return_sources=True)
    return model, mixtures


def test_whole_hop_length():
    stft = STFT(512, 256)  # shortest input n_fft // 2 + 1 = 257 samples
    assert [whole_hop_length(n, stft) for n in (1, 257, 512, 513, 16000)] == [
        512, 512, 512, 768, 16128]
    assert all(whole_hop_length(n, STFT(2048, 320)) % 320 == 0 for n in range(1, 3000, 97))


def test_inspect_masks_are_the_ones_that_made_the_estimate(demo):
    model, mixtures = demo
    item = mixtures[0]
    result = model.inspect(item["mixture"], "  a bell ringing ")
    assert isinstance(result, Separation)
    assert result.query == "a bell ringing" and result.sample_rate == SR
    assert result.estimate.shape == result.mixture.shape == (SR,)
    sep = model.separator
    padded_length = whole_hop_length(SR, sep.stft)
    frames = sep.stft.num_frames(padded_length)
    assert result.mag_mask.shape == (frames, sep.stft.n_bins) == result.phase_angle.shape
    assert 0 <= float(result.mag_mask.min()) and float(result.mag_mask.max()) <= 1
    assert float(result.phase_angle.abs().max()) <= torch.pi + 1e-6
    assert result.hop_length == 256 and result.freqs[1] == pytest.approx(SR / 512)
    # Applying the returned masks to the mixture's STFT and inverting gives the estimate.
    padded = torch.nn.functional.pad(result.mixture, (0, padded_length - SR))
    mag, cos, sin = sep.stft.magphase(padded[None, None])
    out = apply_masks(mag, cos, sin, result.mag_mask, result.phase_cos, result.phase_sin)
    rebuilt = sep.stft.inverse_magphase(*out, length=padded_length)[0, 0, :SR]
    torch.testing.assert_close(rebuilt, result.estimate, atol=1e-5, rtol=0)
    # ... and it is what the user-facing LASSModel.separate returns.
    torch.testing.assert_close(
        result.estimate, model.separate(item["mixture"][0], SR, "a bell ringing",
                                        precision="float32"),  # inspect's precision
        atol=1e-4, rtol=0,
    )
    assert result.reference is None and result.scores is None and result.oracle_mask is None
    assert result.mixture_label == "mixture"


def test_inspect_reference_gives_scores_and_the_oracle_mask(demo):
    model, mixtures = demo
    item = mixtures[1]
    ref = reference_for(item, item["label"])
    result = model.inspect(item["mixture"].numpy(), item["caption"], reference=ref,
                           reference_label=item["label"], mixture_label="two sounds")
    scores = result.scores
    assert scores["mixture"] == pytest.approx(float(si_sdr(item["mixture"][0], ref)), abs=1e-4)
    assert scores["estimate"] == pytest.approx(float(si_sdr(result.estimate, ref)), abs=1e-4)
    assert scores["si_sdri"] == pytest.approx(scores["estimate"] - scores["mixture"])
    stft = model.separator.stft
    pad = (0, whole_hop_length(SR, stft) - SR)
    expected = ideal_ratio_mask(stft(torch.nn.functional.pad(ref, pad)[None, None]),
                                stft(torch.nn.functional.pad(item["mixture"][0], pad)[None, None]))
    torch.testing.assert_close(result.oracle_mask, expected[0, 0])
    assert result.oracle_mask.shape == result.mag_mask.shape
    assert result.reference_label == item["label"] and result.mixture_label == "two sounds"


def test_inspect_different_queries_give_different_estimates(demo):
    model, mixtures = demo
    mix = mixtures[0]["mixture"]
    a = model.inspect(mix, "a siren wailing").estimate
    b = model.inspect(mix, "a clock ticking").estimate
    assert (a - b).abs().max() > 1e-5


def test_inspect_bad_inputs(demo):
    model, mixtures = demo
    mix = mixtures[0]["mixture"]
    with pytest.raises(ValueError, match="query"):
        model.inspect(mix, "   ")
    with pytest.raises(ValueError, match="differ"):
        model.inspect(mix, "a bell", reference=torch.zeros(100))
    with pytest.raises(ValueError, match="mono"):
        model.inspect(torch.zeros(2, SR), "a bell")
    with pytest.raises(ValueError, match="non-finite"):
        model.inspect(torch.full((SR,), float("nan")), "a bell")
    with pytest.raises(ValueError, match="integer samples"):
        model.inspect(np.zeros(SR, dtype=np.int16), "a bell")


def test_inspect_restores_the_separators_mode(demo):
    model, mixtures = demo
    model.separator.train()
    try:
        model.inspect(mixtures[0]["mixture"], "a bell")
        assert model.separator.training
    finally:
        model.separator.eval()


class _Stop(Exception):
    pass


def test_inspect_runs_on_the_separators_device(encoder, monkeypatch):
    """Every tensor handed to the separator and to its STFT is on the separator's device.

    The separator is moved to the ``meta`` device (no data, so nothing can be computed
    there): a spy forward records what it is given, and the STFT of the oracle mask stops
    the run once its input is recorded."""
    model = LASSModel(SeparationNet.from_preset("tiny", condition_dim=encoder.dim), encoder)
    sep = model.separator.to("meta")
    seen = []

    def spy_forward(mixture, condition, sample_rate=None, return_masks=False):
        seen.append(("forward", mixture.device, condition.device))
        maps = torch.empty(1, 1, sep.stft.num_frames(mixture.shape[-1]), sep.stft.n_bins,
                           device=mixture.device)
        return dict(waveform=torch.empty_like(mixture), mag=maps, mag_mask=maps,
                    phase_cos=maps, phase_sin=maps)

    def stop(module, args):
        seen.append(("stft", args[0].device))
        raise _Stop

    monkeypatch.setattr(sep, "forward", spy_forward)
    sep.stft.register_forward_pre_hook(stop)
    wave = torch.randn(SR)
    with pytest.raises(_Stop):
        model.inspect(wave, "a bell", reference=wave)
    meta = torch.device("meta")
    assert seen == [("forward", meta, meta), ("stft", meta)]
