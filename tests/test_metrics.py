import math

import numpy as np
import pytest
import torch

from lassnet.metrics import (
    SDR_EPS,
    l1_wave_loss,
    neg_sdr_loss,
    sdr,
    sdri,
    si_sdr,
    si_sdri,
)


def _noise_at_snr(reference: torch.Tensor, snr_db, generator) -> torch.Tensor:
    """Random noise scaled so that ‖reference‖² / ‖noise‖² is exactly ``snr_db`` per signal."""
    noise = torch.randn(reference.shape, generator=generator, dtype=reference.dtype)
    snr_db = torch.as_tensor(snr_db, dtype=reference.dtype)
    target_energy = reference.square().sum(-1, keepdim=True) * 10 ** (-snr_db / 10)
    return noise * (target_energy / noise.square().sum(-1, keepdim=True)).sqrt()


# --------------------------------------------------------------------------- SDR, closed form
def test_sdr_hand_example():
    s = torch.tensor([3.0, 4.0], dtype=torch.float64)
    est = torch.tensor([3.0, 3.0], dtype=torch.float64)
    # ‖s‖² = 25, ‖s − ŝ‖² = 1
    assert float(sdr(est, s)) == pytest.approx(10 * math.log10(25), abs=1e-9)


def test_sdr_reference_plus_noise_of_known_energy_batched():
    g = torch.Generator().manual_seed(0)
    snrs = torch.tensor([-10.0, 0.0, 7.5, 30.0], dtype=torch.float64)[:, None, None]
    ref = torch.randn(4, 1, 4000, generator=g, dtype=torch.float64)
    est = ref + _noise_at_snr(ref, snrs, g)
    out = sdr(est, ref)
    assert out.shape == (4, 1)
    torch.testing.assert_close(out, snrs[..., 0], atol=1e-9, rtol=0)


def test_sdr_perfect_estimate_is_large_and_finite():
    # A perfect estimate hits the ε floor on the error: 10·log10(mean(s²) / ε).
    t = torch.arange(16000, dtype=torch.float64) / 16000
    ref = math.sqrt(2) * torch.sin(2 * math.pi * 440 * t)  # unit power
    assert float(sdr(ref, ref)) == pytest.approx(100.0, abs=1e-6)
    quiet = 0.1 * ref  # power 0.01 -> 80 dB
    assert float(sdr(quiet, quiet)) == pytest.approx(80.0, abs=1e-6)
    assert float(sdr(quiet, quiet, eps=1e-8)) == pytest.approx(60.0, abs=1e-6)


def test_silent_reference_is_finite_not_nan():
    zeros = torch.zeros(2, 1, 1000)
    est = torch.stack([torch.zeros(1, 1000), torch.ones(1, 1000)])  # silent, unit power
    out = sdr(est, zeros)
    assert torch.isfinite(out).all()
    assert out[0, 0] == pytest.approx(0.0)  # both silent: ε / ε
    assert out[1, 0] == pytest.approx(10 * math.log10(SDR_EPS), abs=1e-4)  # -100 dB
    si = si_sdr(est, zeros)
    assert torch.isfinite(si).all()
    assert si[0, 0] == pytest.approx(0.0)
    eps32 = torch.finfo(torch.float32).eps  # SI-SDR's ε for float32 input
    assert si[1, 0] == pytest.approx(10 * math.log10(eps32 / (1000 + eps32)), abs=1e-4)


def test_sdr_is_not_scale_invariant_but_si_sdr_is():
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(3, 1, 2000, generator=g, dtype=torch.float64)
    est = ref + _noise_at_snr(ref, 10.0, g)
    base_sdr, base_si = sdr(est, ref), si_sdr(est, ref)
    for gain in (0.1, 3.0, -2.0):
        torch.testing.assert_close(si_sdr(gain * est, ref), base_si, atol=1e-9, rtol=0)
        assert (sdr(gain * est, ref) - base_sdr).abs().min() > 0.5
    # A scaled copy of the reference is perfect for SI-SDR, 6 dB for SDR at gain 0.5.
    assert float(si_sdr(0.5 * ref[0], ref[0])) > 150
    assert float(sdr(0.5 * ref[0], ref[0])) == pytest.approx(10 * math.log10(4), abs=1e-9)


# --------------------------------------------------------------------------- improvements
def test_improvements_of_the_mixture_are_zero():
    g = torch.Generator().manual_seed(2)
    ref = torch.randn(3, 1, 3000, generator=g)
    mix = ref + torch.randn(3, 1, 3000, generator=g)
    torch.testing.assert_close(sdri(mix, ref, mix), torch.zeros(3, 1))
    torch.testing.assert_close(si_sdri(0.5 * mix, ref, mix), torch.zeros(3, 1), atol=1e-4, rtol=0)


def test_improvements_are_differences():
    g = torch.Generator().manual_seed(3)
    ref = torch.randn(2, 1, 3000, generator=g)
    mix = ref + torch.randn(2, 1, 3000, generator=g)
    est = ref + 0.1 * torch.randn(2, 1, 3000, generator=g)
    torch.testing.assert_close(sdri(est, ref, mix), sdr(est, ref) - sdr(mix, ref))
    torch.testing.assert_close(si_sdri(est, ref, mix), si_sdr(est, ref) - si_sdr(mix, ref))
    # Mixture at 0 dB, estimate at 20 dB: SDRi is 20 dB.
    mix = ref + _noise_at_snr(ref.double(), 0.0, g).float()
    est = ref + _noise_at_snr(ref.double(), 20.0, g).float()
    torch.testing.assert_close(sdri(est, ref, mix), torch.full((2, 1), 20.0), atol=1e-4, rtol=0)


# --------------------------------------------------------------------------- vs torchmetrics
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("zero_mean", [False, True])
def test_si_sdr_matches_torchmetrics(dtype, zero_mean):
    pytest.importorskip("torchmetrics")
    from torchmetrics.audio import ScaleInvariantSignalDistortionRatio
    from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

    g = torch.Generator().manual_seed(4)
    snrs = torch.tensor([-20.0, -5.0, 0.0, 10.0, 30.0, 50.0], dtype=torch.float64)
    ref = torch.randn(6, 2, 8000, generator=g, dtype=torch.float64) + 0.3  # nonzero mean
    noise = _noise_at_snr(ref, snrs[:, None, None], g)
    est = (0.7 * ref + noise).to(dtype)
    ref = ref.to(dtype)

    ours = si_sdr(est, ref, zero_mean=zero_mean)
    assert ours.shape == (6, 2) and ours.dtype == dtype
    theirs = scale_invariant_signal_distortion_ratio(est, ref, zero_mean=zero_mean)
    torch.testing.assert_close(ours, theirs.to(dtype), atol=1e-3, rtol=0)

    metric = ScaleInvariantSignalDistortionRatio(zero_mean=zero_mean)
    metric.update(est, ref)
    assert float(ours.mean()) == pytest.approx(float(metric.compute()), abs=1e-3)


def test_sdr_is_not_bss_eval_but_equals_plain_snr():
    # The plain SNR of the estimate, computed independently in numpy.
    rng = np.random.default_rng(5)
    ref = rng.standard_normal((3, 5000))
    est = ref + 0.3 * rng.standard_normal((3, 5000))
    expected = 10 * np.log10((ref**2).sum(-1) / ((ref - est) ** 2).sum(-1))
    np.testing.assert_allclose(sdr(est, ref), expected, atol=1e-9)


# --------------------------------------------------------------------------- shapes, dtypes
def test_batching_shape_rules():
    g = torch.Generator().manual_seed(6)
    for shape in [(500,), (4, 500), (4, 1, 500), (2, 3, 4, 500)]:
        ref = torch.randn(shape, generator=g)
        est = ref + torch.randn(shape, generator=g)
        for fn in (sdr, si_sdr):
            assert fn(est, ref).shape == shape[:-1]
        assert sdri(est, ref, est).shape == shape[:-1]
        assert si_sdri(est, ref, est).shape == shape[:-1]


def test_batched_equals_one_at_a_time():
    g = torch.Generator().manual_seed(7)
    ref = torch.randn(5, 1, 1000, generator=g)
    est = ref + torch.randn(5, 1, 1000, generator=g) * torch.linspace(0.01, 2, 5)[:, None, None]
    for fn in (sdr, si_sdr):
        batched = fn(est, ref)
        single = torch.stack([fn(est[i, 0], ref[i, 0]) for i in range(5)])
        torch.testing.assert_close(batched[:, 0], single)


def test_result_dtypes_and_numpy_round_trip():
    ref = torch.randn(2, 1, 300)
    est = ref + 0.1 * torch.randn(2, 1, 300)
    assert sdr(est, ref).dtype == torch.float32
    assert sdr(est.double(), ref.double()).dtype == torch.float64
    assert sdr(est.double(), ref).dtype == torch.float64
    assert si_sdr(est.half(), ref.half()).dtype == torch.float32
    assert sdr(est.bfloat16(), ref.bfloat16()).dtype == torch.float32

    out = sdr(est.numpy(), ref.numpy())
    assert isinstance(out, np.ndarray) and out.shape == (2, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, sdr(est, ref).numpy(), atol=1e-5)
    one = si_sdr(est.numpy()[0, 0], ref.numpy()[0, 0])
    assert isinstance(one, np.floating)
    # torch and numpy mixed: a tensor comes back.
    assert isinstance(sdri(est, ref.numpy(), est), torch.Tensor)


# --------------------------------------------------------------------------- losses
def test_gradcheck_metrics_and_losses():
    g = torch.Generator().manual_seed(8)
    ref = torch.randn(2, 1, 16, generator=g, dtype=torch.float64)
    est = (ref + 0.5 * torch.randn(2, 1, 16, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda e: sdr(e, ref), (est,))
    assert torch.autograd.gradcheck(lambda e: si_sdr(e, ref), (est,))
    assert torch.autograd.gradcheck(lambda e: neg_sdr_loss(e, ref), (est,))
    assert torch.autograd.gradcheck(lambda e: l1_wave_loss(e, ref), (est,))


def test_losses_values_and_descent():
    g = torch.Generator().manual_seed(9)
    ref = torch.randn(4, 1, 800, generator=g)
    est = (ref + torch.randn(4, 1, 800, generator=g)).requires_grad_()
    loss = neg_sdr_loss(est, ref)
    assert loss.shape == () and loss.dtype == torch.float32
    torch.testing.assert_close(loss, -sdr(est.detach(), ref).mean())
    l1 = l1_wave_loss(est, ref)
    torch.testing.assert_close(l1, (est - ref).abs().mean())
    for fn in (neg_sdr_loss, l1_wave_loss):
        x = est.detach().clone().requires_grad_()
        before = fn(x, ref)
        before.backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        with torch.no_grad():
            after = fn(x - 0.05 * x.grad / x.grad.norm() * x.norm(), ref)
        assert after < before


def test_neg_sdr_loss_weighs_quiet_targets_like_loud_ones():
    # Same relative error, one example 1000× quieter: SNR loss is the same, L1 is not.
    g = torch.Generator().manual_seed(10)
    ref = torch.randn(1, 1, 1000, generator=g)
    est = ref + 0.3 * torch.randn(1, 1, 1000, generator=g)
    torch.testing.assert_close(
        neg_sdr_loss(1e-3 * est, 1e-3 * ref), neg_sdr_loss(est, ref), atol=1e-4, rtol=0
    )
    assert l1_wave_loss(1e-3 * est, 1e-3 * ref) < 1e-2 * l1_wave_loss(est, ref)


def test_losses_do_not_raise_on_nan():
    ref = torch.randn(2, 1, 100)
    est = ref.clone()
    est[0, 0, 0] = float("nan")
    assert torch.isnan(neg_sdr_loss(est, ref))
    assert torch.isnan(l1_wave_loss(est, ref))


# --------------------------------------------------------------------------- errors
def test_shape_mismatch_names_both_shapes():
    a, b = torch.zeros(2, 1, 100), torch.zeros(2, 1, 99)
    for call in (
        lambda: sdr(a, b),
        lambda: si_sdr(a, b),
        lambda: neg_sdr_loss(a, b),
        lambda: l1_wave_loss(a, b),
    ):
        with pytest.raises(ValueError, match=r"\(2, 1, 99\).*\(2, 1, 100\)"):
            call()
    with pytest.raises(ValueError, match="mixture shape"):
        sdri(a, a, b)
    with pytest.raises(ValueError, match="mixture shape"):
        si_sdri(a, a, b)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_raise(bad):
    ref = torch.randn(2, 1, 100)
    est = ref.clone()
    est[1, 0, 5] = bad
    with pytest.raises(ValueError, match="estimate contains non-finite"):
        sdr(est, ref)
    with pytest.raises(ValueError, match="reference contains non-finite"):
        si_sdr(ref, est)
    with pytest.raises(ValueError, match="mixture contains non-finite"):
        sdri(ref, ref, est)


def test_other_bad_inputs_raise():
    with pytest.raises(ValueError, match="numpy array or a torch tensor, got list"):
        sdr([1.0, 2.0], torch.ones(2))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., samples\), got \(\)"):
        sdr(torch.tensor(1.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match="no samples"):
        si_sdr(torch.zeros(2, 0), torch.zeros(2, 0))
    with pytest.raises(ValueError, match="floating-point samples, got torch.complex64"):
        sdr(torch.ones(4, dtype=torch.complex64), torch.ones(4, dtype=torch.complex64))
    with pytest.raises(ValueError, match="integer samples.*32768"):
        sdr(np.ones(4, dtype=np.int16), np.ones(4, dtype=np.int16))
