import pytest
import torch

from lassnet.stft import STFT, magphase, overlap_add_of_squares


@pytest.mark.parametrize("n_fft,hop", [(2048, 320), (512, 256), (512, 128), (1024, 256)])
@pytest.mark.parametrize("length", [1025, 4000, 16000, 16001, 33333])
def test_round_trip_any_length(n_fft, hop, length):
    torch.manual_seed(0)
    stft = STFT(n_fft, hop)
    if length < stft.min_length:
        pytest.skip("shorter than the transform allows")
    x = torch.randn(3, 1, length)
    y = stft.inverse(stft(x), length)
    assert y.shape == x.shape
    assert ((y - x).norm() / x.norm()).item() < 1e-5
    mag, cos, sin = stft.magphase(x)
    y2 = stft.inverse_magphase(mag, cos, sin, length)
    assert ((y2 - x).norm() / x.norm()).item() < 1e-5


def test_shapes_and_layout():
    stft = STFT(512, 128)
    x = torch.randn(2, 3, 4000)
    spec = stft(x)
    assert spec.shape == (2, 3, stft.num_frames(4000), 257)
    assert spec.is_complex()
    # (B, C, T, F): frame t of channel c equals a single-channel transform of that channel.
    single = stft(x[1:2, 2:3])
    torch.testing.assert_close(spec[1:2, 2:3], single)
    assert stft.frequencies(16000)[-1].item() == pytest.approx(8000.0)


def test_sine_lands_in_its_bin():
    sr, n_fft = 16000, 512
    stft = STFT(n_fft, 128)
    t = torch.arange(sr) / sr
    freq = 40 * sr / n_fft  # exactly bin 40
    mag, _, _ = stft.magphase(torch.sin(2 * torch.pi * freq * t)[None, None])
    assert mag[0, 0, 10:-10].mean(dim=0).argmax().item() == 40


def test_magphase_unit_phase_and_silence():
    real = torch.tensor([3.0, 0.0, -1.0])
    imag = torch.tensor([4.0, 0.0, 0.0])
    mag, cos, sin = magphase(real, imag)
    torch.testing.assert_close(mag[[0, 2]], torch.tensor([5.0, 1.0]))
    torch.testing.assert_close(cos**2 + sin**2, torch.tensor([1.0, 0.0, 1.0]))
    assert torch.isfinite(cos).all() and torch.isfinite(sin).all()


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman"])
def test_windows_reconstruct(window):
    stft = STFT(512, 128, window=window)
    x = torch.randn(1, 1, 5000)
    assert ((stft.inverse(stft(x), 5000) - x).norm() / x.norm()) < 1e-5


def test_bad_input_errors():
    stft = STFT(512, 128)
    with pytest.raises(ValueError, match="too short"):
        stft(torch.randn(1, 1, 100))
    with pytest.raises(ValueError, match="shape"):
        stft(torch.randn(1000))
    with pytest.raises(ValueError, match="non-finite"):
        stft(torch.full((1, 1, 1000), float("nan")))
    with pytest.raises(ValueError, match="window"):
        STFT(512, window="triangle")
    with pytest.raises(ValueError, match="hop_length"):
        STFT(512, hop_length=1024)


def test_reconstruction_needs_only_nonzero_window_overlap():
    """NOLA, not COLA: the inverse divides by the overlap-added squared windows, so any hop
    that leaves no sample uncovered reconstructs exactly, e.g. hop = n_fft / 2 (the `tiny`
    preset), where that sum is not constant."""
    hann = torch.hann_window(512, periodic=True)
    quarter = overlap_add_of_squares(hann, 128)
    half = overlap_add_of_squares(hann, 256)
    torch.testing.assert_close(quarter, torch.full((128,), 1.5, dtype=torch.float64))
    assert float(half.min()) == pytest.approx(0.5) and float(half.max()) == pytest.approx(1.0)
    torch.manual_seed(0)
    for hop in (128, 200, 256):
        stft = STFT(512, hop)
        for length in (4000, 4001, 16000):
            x = torch.randn(1, 1, length)
            y = stft.inverse(stft(x), length)
            assert float((y - x).norm() / x.norm()) < 1e-5, (hop, length)
    with pytest.raises(ValueError, match="more than half the window"):
        STFT(512, 300)  # the end of some lengths would lie under no window
    with pytest.raises(ValueError, match="no window covers"):  # a window with a gap in it
        STFT(256, 128, window=torch.cat([torch.ones(64), torch.zeros(64)] * 2))
    box = STFT(256, 128, window=torch.ones(256))  # a window without zeros
    x = torch.randn(1, 1, 2561)
    torch.testing.assert_close(box.inverse(box(x), 2561), x, rtol=1e-5, atol=1e-6)
