"""Clip augmentation (lassnet.data.ClipAugment): each change does what it says, measured on
signals whose answer is known, and mixtures stay pure functions of their index."""

import numpy as np
import pytest
import torch

from lassnet.data import ClipAugment, MixtureDataset
from lassnet.train import TrainConfig

SR = 16000


def sine(freq: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(SR * seconds)) / SR
    return (0.3 * torch.sin(2 * torch.pi * freq * t))[None]  # (1, L)


def peak_hz(wave: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(wave[0].numpy() * np.hanning(wave.shape[-1])))
    return float(np.argmax(spectrum) * SR / wave.shape[-1])


def rms(wave: torch.Tensor) -> float:
    return float(wave.pow(2).mean().sqrt())


class Fixed:
    """A random stream whose uniform draw is fixed (the pitch draw), the rest numpy's."""

    def __init__(self, u: float):
        self.u, self.rng = u, np.random.default_rng(0)

    def uniform(self, low, high):
        return low + (high - low) * self.u

    def __getattr__(self, name):
        return getattr(self.rng, name)


@pytest.mark.parametrize("u, semitones", [(1.0, 3.0), (0.0, -3.0), (0.5, 0.0)])
def test_pitch_moves_a_sine_by_the_drawn_semitones(u, semitones):
    out = ClipAugment(SR, pitch=3)(sine(1000.0), Fixed(u))
    assert out.shape == (1, SR) and out.dtype == torch.float32
    assert peak_hz(out) == pytest.approx(1000.0 * 2 ** (semitones / 12), rel=0.01)
    assert rms(out) == pytest.approx(rms(sine(1000.0)), rel=1e-4)  # level kept


def test_a_faster_clip_continues_backwards_without_a_gap():
    ramp = torch.linspace(0.0, 1.0, 1000)[None]
    out = ClipAugment._resample(ramp[0].double().numpy(), 1.5)
    assert out.max() <= 1.0 + 1e-6 and np.abs(np.diff(out)).max() < 0.01  # no jump
    assert out[-1] < out[600]  # past the end it runs back down


def test_the_peaking_filter_has_its_gain_at_its_centre():
    from scipy import signal

    from lassnet.data.augment import _peaking

    b, a = _peaking(1000.0, 9.0, 1.0, SR)
    w, h = signal.freqz(b, a, worN=[100.0, 1000.0, 7000.0], fs=SR)
    gains = 20 * np.log10(np.abs(h))
    assert gains[1] == pytest.approx(9.0, abs=1e-6)
    assert abs(gains[0]) < 1.0 and abs(gains[2]) < 1.0


def test_a_room_spreads_a_click_over_time():
    click = torch.zeros(1, SR)
    click[0, 100] = 1.0
    out = ClipAugment(SR, room=1.0)(click, np.random.default_rng(3))[0].numpy()
    energy = out**2 / np.sum(out**2)
    assert energy[:100].sum() < 1e-9  # causal
    assert energy[100 + int(0.05 * SR):].sum() > 0.02  # a tail after 50 ms


@pytest.mark.parametrize("low, high", [(-30.0, -30.0), (-10.0, -10.0)])
def test_the_noise_floor_sits_at_its_level(low, high):
    clean = sine(440.0)
    out = ClipAugment(SR, noise_db=(low, high))(clean, np.random.default_rng(1))
    noisy = out * rms(clean) / rms(out) * np.sqrt(1 + 10 ** (low / 10))  # undo the level kept
    residual = noisy - clean
    assert 10 * np.log10(rms(residual) ** 2 / rms(clean) ** 2) == pytest.approx(low, abs=0.5)


def test_silence_stays_silent_and_options_are_checked():
    silent = torch.zeros(1, 800)
    assert torch.equal(ClipAugment(SR, pitch=2, eq=1, room=1, noise_db=(-30, -20))(
        silent, np.random.default_rng(0)), silent)
    with pytest.raises(ValueError, match="unknown augment options \\['tempo'\\]"):
        ClipAugment.from_options(SR, {"tempo": 2})
    with pytest.raises(ValueError, match="probability"):
        ClipAugment(SR, eq=2.0)
    with pytest.raises(ValueError, match="unknown augment options"):
        TrainConfig(augment={"tempo": 2})
    with pytest.raises(ValueError, match="lassnet's mixing only"):
        TrainConfig(augment={"pitch": 2}, mixing="audiosep")


def test_augmented_mixtures_are_pure_functions_of_their_index():
    aug = ClipAugment(SR, pitch=2, eq=0.5, room=0.5, noise_db=(-40, -20))
    kw = dict(count=4, duration=0.5, min_interferers=2, max_interferers=3)
    a, b = MixtureDataset(augment=aug, **kw), MixtureDataset(augment=aug, **kw)
    plain = MixtureDataset(**kw)
    for i in (0, 3):
        x, y = a[i], b[i]
        assert torch.equal(x["mixture"], y["mixture"]) and torch.equal(x["target"], y["target"])
        torch.testing.assert_close(x["mixture"], x["target"] + x["noise"])
        assert x["label"] == plain[i]["label"]
        assert not torch.equal(x["target"], plain[i]["target"])  # the clip was changed
