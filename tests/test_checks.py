"""The one coercion contract for waveforms (lassnet.checks.as_waveform) and its users."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lassnet.audio import resample, save_audio
from lassnet.checks import as_waveform
from lassnet.metrics import si_sdr
from lassnet.plot import spectrogram_db


def test_arrays_and_tensors_become_float32_tensors():
    a = np.linspace(-1, 1, 100)  # float64
    t = as_waveform(a)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.shape == (100,)
    np.testing.assert_allclose(t.numpy(), a, rtol=1e-6)
    kept = as_waveform(a, dtype=None)
    assert kept.dtype == torch.float64
    kept[0] = 5.0  # no copy when no conversion is needed
    assert a[0] == 5.0
    x = torch.randn(2, 50, requires_grad=True)
    assert not as_waveform(x).requires_grad
    assert as_waveform(x, detach=False).requires_grad
    y = torch.randn(2, 50)
    assert as_waveform(y) is y  # nothing to do: the same tensor


@pytest.mark.parametrize(
    "wave, message",
    [
        (np.zeros(10, dtype=np.int16), r"integer samples \(int16\).*32768"),
        (np.zeros(10, dtype=np.uint8), r"integer samples \(uint8\)"),
        (torch.zeros(10, dtype=torch.int32), "floating-point samples, got torch.int32"),
        (np.zeros(10, dtype=bool), "floating-point samples, got dtype bool"),
        (torch.zeros(10, dtype=torch.bool), "floating-point samples, got torch.bool"),
        (np.zeros(10, dtype=np.complex64), "floating-point samples, got dtype complex64"),
        (torch.zeros(10, dtype=torch.complex64), "floating-point samples, got torch.complex64"),
        (np.array(["a", "b"]), "floating-point samples"),
        ([0.0, 1.0], "numpy array or a torch tensor, got list"),
        (torch.zeros(0), "no samples"),
        (torch.zeros(3, 0), "no samples"),
        (torch.tensor([0.0, float("nan"), float("inf")]), r"non-finite values \(1 NaN, 1 Inf\)"),
        (torch.zeros(2, 3, 4), r"shape \(samples,\) or \(channels, samples\), got \(2, 3, 4\)"),
        (torch.tensor(1.0), r"got \(\)"),
    ],
)
def test_the_same_mistake_gets_the_same_message(wave, message):
    with pytest.raises(ValueError, match=message):
        as_waveform(wave, "wave")


def test_layouts_length_and_finiteness_options():
    assert as_waveform(torch.zeros(2, 3, 4, 5), layouts=("...L",)).shape == (2, 3, 4, 5)
    assert as_waveform(torch.zeros(3, 1, 8), layouts=("BCL",)).shape == (3, 1, 8)
    with pytest.raises(ValueError, match=r"\(batch, channels, samples\)"):
        as_waveform(torch.zeros(8), layouts=("BCL",))
    with pytest.raises(ValueError, match="too short: 5 samples, need at least 6"):
        as_waveform(torch.zeros(5), min_length=6)
    nan = torch.tensor([float("nan")])
    assert torch.isnan(as_waveform(nan, finite=False)).all()


def test_every_entry_point_follows_the_contract(tmp_path):
    """The same int16 array is refused the same way everywhere (it used to be rejected by
    the model, accepted by the plots and rejected with another message by audio queries)."""
    from lassnet.model import _mono
    from lassnet.query.base import check_audio_query

    pcm = (np.sin(np.arange(2000) / 5) * 20000).astype(np.int16)
    calls = [
        lambda: save_audio(tmp_path / "x.wav", pcm, 16000),
        lambda: resample(pcm, 16000, 8000),
        lambda: si_sdr(pcm, pcm),
        lambda: spectrogram_db(pcm, 16000),
        lambda: check_audio_query(pcm, 16000),
        lambda: _mono(pcm, "mixture"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"integer samples \(int16\)"):
            call()
    assert not (tmp_path / "x.wav").exists()
    floats = pcm / 32768.0  # the fix the message gives works everywhere
    save_audio(tmp_path / "x.wav", floats, 16000)
    assert spectrogram_db(floats, 16000)[0].shape[1] > 0
    assert check_audio_query(floats, 16000)[0].shape == (1, 1, 2000)
