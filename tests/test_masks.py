import torch

from lassnet.masks import (
    apply_masks,
    ideal_amplitude_mask,
    ideal_binary_mask,
    ideal_phase_rotation,
    ideal_ratio_mask,
    mask_maps,
    phase_sensitive_mask,
)
from lassnet.stft import STFT, magphase


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


def test_ideal_phase_rotation_turns_the_mixture_into_the_target():
    torch.manual_seed(0)
    X = torch.randn(2, 1, 7, 9, dtype=torch.complex64)
    theta = torch.rand(2, 1, 7, 9) * 6.0 - 3.0
    S = 0.5 * X * torch.exp(1j * theta)                    # half the magnitude, turned by θ
    cos_p, sin_p = ideal_phase_rotation(S, X)
    torch.testing.assert_close(cos_p, torch.cos(theta), atol=1e-5, rtol=0)
    torch.testing.assert_close(sin_p, torch.sin(theta), atol=1e-5, rtol=0)
    mag, cos, sin = magphase(X.real, X.imag)
    out_mag, out_cos, out_sin = apply_masks(mag, cos, sin, ideal_amplitude_mask(S, X),
                                            cos_p, sin_p)
    torch.testing.assert_close(out_mag * torch.complex(out_cos, out_sin), S, atol=1e-5,
                               rtol=1e-4)
    silent = ideal_phase_rotation(torch.zeros_like(X), X)  # no target: no rotation
    assert torch.equal(silent[0], torch.ones(2, 1, 7, 9)) and torch.equal(silent[1],
                                                                          torch.zeros(2, 1, 7, 9))
