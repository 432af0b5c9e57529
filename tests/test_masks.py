import torch

from lassnet.masks import (
    apply_masks,
    ideal_amplitude_mask,
    ideal_binary_mask,
    ideal_ratio_mask,
    mask_maps,
    phase_sensitive_mask,
)
from lassnet.stft import STFT


def test_mask_ranges_and_unit_phase():
    logits = torch.randn(2, 3, 10, 9) * 4
    m, c, s = mask_maps(logits)
    assert m.shape == (2, 10, 9)
    assert (m >= 0).all() and (m <= 1).all()
    torch.testing.assert_close(c**2 + s**2, torch.ones_like(c))


def test_identity_mask_reproduces_input():
    stft = STFT(512, 128)
    x = torch.randn(2, 1, 4000)
    mag, cos, sin = stft.magphase(x)
    out = apply_masks(mag, cos, sin, torch.ones_like(mag), torch.ones_like(mag),
                      torch.zeros_like(mag))
    y = stft.inverse_magphase(*out, length=4000)
    assert ((y - x).norm() / x.norm()) < 1e-5


def test_phase_mask_rotates():
    # Rotating every bin by π negates the signal.
    stft = STFT(512, 128)
    x = torch.randn(1, 1, 4000)
    mag, cos, sin = stft.magphase(x)
    out = apply_masks(mag, cos, sin, torch.ones_like(mag), -torch.ones_like(mag),
                      torch.zeros_like(mag))
    y = stft.inverse_magphase(*out, length=4000)
    assert ((y + x).norm() / x.norm()) < 1e-5
    # A quarter turn: cos∠Ŷ = −sin∠X.
    _, c2, _ = apply_masks(mag, cos, sin, torch.ones_like(mag), torch.zeros_like(mag),
                           torch.ones_like(mag))
    torch.testing.assert_close(c2, -sin)


def _error(est, ref):
    return ((est - ref).norm() / ref.norm()).item()


def test_oracle_masks_separate():
    torch.manual_seed(0)
    stft = STFT(512, 128)
    t = torch.arange(16000) / 16000
    target = torch.sin(2 * torch.pi * 440 * t)[None, None]
    noise = 0.5 * torch.randn(1, 1, 16000)
    mix = target + noise
    S, X = stft(target), stft(mix)
    mixture_error = _error(mix, target)
    errors = {}
    for name, fn in [("ibm", ideal_binary_mask), ("irm", ideal_ratio_mask),
                     ("iam", ideal_amplitude_mask), ("psm", phase_sensitive_mask)]:
        mask = fn(S, X)
        assert mask.shape == X.shape and (mask >= 0).all() and (mask <= 1).all()
        errors[name] = _error(stft.inverse(X * mask, 16000), target)
        assert errors[name] < 0.5 * mixture_error, (name, errors[name], mixture_error)
    # The phase-sensitive mask is the best real mask in the mean-square sense.
    assert errors["psm"] <= min(errors.values()) + 1e-6
    # When the target is the whole (noisy, so nowhere silent) mixture, the masks are all ones.
    torch.testing.assert_close(ideal_ratio_mask(X, X), torch.ones(X.shape))
    torch.testing.assert_close(ideal_amplitude_mask(X, X), torch.ones(X.shape))
