import numpy as np
import pytest
import torch

from lassnet.audio import resample
from lassnet.checkpoint import CheckpointError
from lassnet.model import LASSModel, overlap_add_windows
from lassnet.separator import SeparationNet


@pytest.fixture(scope="module")
def encoder():
    from lassnet import query

    return query.load("minilm")


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


def test_overlap_add_weights_sum_to_one():
    chunks = overlap_add_windows(10_000, 3000, 500)
    total = torch.zeros(10_000)
    for s, w in chunks:
        total[s : s + 3000] += w
    assert [s for s, _ in chunks] == [0, 2500, 5000, 7000]
    assert chunks[0][1][0] == 1 and chunks[-1][1][-1] == 1  # no fade at the signal's ends
    # Raised-cosine fades are complementary where chunks overlap by exactly `overlap`; the
    # last chunk, shifted back, overlaps more, and the sum stays well away from zero.
    torch.testing.assert_close(total[:7000], torch.ones(7000))
    assert total.min() > 0.5
    with pytest.raises(ValueError):
        overlap_add_windows(100, 50, 50)


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
