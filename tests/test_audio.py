import math

import numpy as np
import pytest
import soundfile as sf
import torch

from lassnet.audio import (
    AudioError,
    declip,
    energy,
    load_audio,
    match_energy,
    mix_at_snr,
    pad_or_crop,
    random_crop,
    resample,
    save_audio,
    scale_to_snr,
    to_mono,
)


def _sine(freq, sr, seconds, amp=0.5):
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_save_load_round_trip(tmp_path):
    x = _sine(440, 16000, 0.25)
    path = save_audio(tmp_path / "sub" / "a.wav", torch.from_numpy(x), 16000, subtype="FLOAT")
    wave, sr = load_audio(path)
    assert sr == 16000
    assert wave.dtype == torch.float32 and wave.shape == (1, len(x))
    np.testing.assert_allclose(wave[0].numpy(), x, atol=1e-7)
    # 16-bit PCM (the default) quantises to 1/32768.
    save_audio(tmp_path / "b.wav", x, 16000)
    wave16, _ = load_audio(tmp_path / "b.wav")
    assert float((wave16[0] - torch.from_numpy(x)).abs().max()) <= 1 / 32768 + 1e-7


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = _sine(300, 8000, 0.1), _sine(700, 8000, 0.1, amp=0.2)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    mono, _ = load_audio(tmp_path / "st.wav")
    assert mono.shape == (1, len(left))
    np.testing.assert_allclose(mono[0].numpy(), (left + right) / 2, atol=1e-6)
    both, _ = load_audio(tmp_path / "st.wav", mono=False)
    assert both.shape == (2, len(left))
    np.testing.assert_allclose(both[1].numpy(), right, atol=1e-7)
    assert to_mono(torch.ones(3, 2, 5)).shape == (3, 1, 5)


@pytest.mark.parametrize(
    "orig,new,length", [(16000, 32000, 16000), (44100, 16000, 1001), (32000, 16000, 999)]
)
def test_resample_length_and_pitch(orig, new, length):
    x = torch.from_numpy(_sine(1000, orig, length / orig))[None]
    assert x.shape[-1] == length
    y = resample(x, orig, new)
    assert y.shape == (1, math.ceil(length * new / orig))
    if length >= 999:
        spectrum = torch.fft.rfft(y[0] * torch.hann_window(y.shape[-1]))
        peak_hz = int(spectrum.abs().argmax()) * new / y.shape[-1]
        assert abs(peak_hz - 1000) < 2 * new / y.shape[-1]
    assert resample(x, orig, orig) is x


def test_load_resamples(tmp_path):
    save_audio(tmp_path / "a.wav", _sine(500, 44100, 0.5), 44100)
    wave, sr = load_audio(tmp_path / "a.wav", sample_rate=16000)
    assert sr == 16000 and wave.shape == (1, 8000)


def test_empty_file_raises_naming_it(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(ValueError, match="empty.wav") as info:
        load_audio(path)
    assert isinstance(info.value, AudioError)
    assert "no audio samples" in str(info.value)


def test_nan_file_raises_naming_it(tmp_path):
    x = _sine(440, 16000, 0.05)
    x[10] = np.nan
    x[20] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav.*2 non-finite"):
        load_audio(path)


def test_unreadable_and_missing_files_raise_naming_them(tmp_path):
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioError, match="garbage.wav.*not an audio file soundfile can read"):
        load_audio(path)
    with pytest.raises(AudioError, match="missing.wav.*no such"):
        load_audio(tmp_path / "missing.wav")


def test_save_refuses_bad_input_and_warns_on_clipping(tmp_path):
    with pytest.raises(ValueError, match="non-finite"):
        save_audio(tmp_path / "x.wav", np.array([0.0, np.nan], dtype=np.float32), 8000)
    with pytest.raises(ValueError, match="sample_rate"):
        save_audio(tmp_path / "x.wav", np.zeros(10, dtype=np.float32), 0)
    with pytest.warns(UserWarning, match="clipped"):
        save_audio(tmp_path / "loud.wav", np.array([0.0, 2.0, -3.0], dtype=np.float32), 8000)
    wave, _ = load_audio(tmp_path / "loud.wav")
    assert float(wave.abs().max()) <= 1.0


def test_match_energy_and_silence():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1000, generator=g), 0.01 * torch.randn(2, 1000, generator=g)
    out = match_energy(b, a)
    torch.testing.assert_close(energy(out), energy(a), rtol=1e-5, atol=0)
    silent = torch.zeros(1, 1000)
    assert torch.equal(match_energy(silent, a[:1]), silent)
    assert torch.isfinite(match_energy(a[:1], silent)).all()
    assert float(match_energy(a[:1], silent).abs().max()) < 1e-3


@pytest.mark.parametrize("snr", [-10.0, 0.0, 7.5])
def test_scale_and_mix_at_snr(snr):
    g = torch.Generator().manual_seed(1)
    target, interferer = torch.randn(1, 4000, generator=g), 3 * torch.randn(1, 4000, generator=g)
    scaled = scale_to_snr(target, interferer, snr)
    measured = 10 * torch.log10(energy(target) / energy(scaled))
    assert float(measured) == pytest.approx(snr, abs=1e-4)
    mixture, scaled2 = mix_at_snr(target, interferer, snr)
    assert torch.equal(scaled, scaled2)
    assert torch.equal(mixture, target + scaled2)
    with pytest.raises(ValueError, match="same shape"):
        mix_at_snr(target, interferer[:, :100], snr)


def test_declip_scales_everything_by_one_factor():
    target = torch.tensor([[0.8, -0.2, 0.5]])
    noise = torch.tensor([[0.7, 0.1, -0.1]])
    mixture = target + noise  # peak 1.5
    m, t, n, factor = declip(mixture, target, noise)
    assert factor == pytest.approx(0.9 / 1.5)
    assert float(m.abs().max()) == pytest.approx(0.9)
    torch.testing.assert_close(m, t + n)
    torch.testing.assert_close(t, target * factor)
    quiet = 0.5 * mixture / 1.5
    out = declip(quiet, target)
    assert out[0] is quiet and out[-1] == 1.0


def test_pad_or_crop_and_random_crop():
    x = torch.arange(10.0)[None]
    assert pad_or_crop(x, 4, offset=3).tolist() == [[3.0, 4.0, 5.0, 6.0]]
    assert pad_or_crop(x, 12).tolist()[0][-2:] == [0.0, 0.0]
    assert pad_or_crop(np.arange(5.0), 7).tolist() == [0, 1, 2, 3, 4, 0, 0]
    crop, offset = random_crop(x, 4, np.random.default_rng(0), return_offset=True)
    again, offset2 = random_crop(x, 4, np.random.default_rng(0), return_offset=True)
    assert offset == offset2 and torch.equal(crop, again)
    assert torch.equal(crop, x[:, offset : offset + 4])
    offsets = {random_crop(x, 4, np.random.default_rng(s), True)[1] for s in range(50)}
    assert offsets == set(range(7))  # every window 0..6 is reachable
    assert random_crop(x, 15, np.random.default_rng(0)).shape == (1, 15)
    with pytest.raises(ValueError, match="Generator"):
        random_crop(x, 4, rng=0)


def test_save_audio_is_atomic_and_checks_the_format_first(tmp_path, monkeypatch):
    wave = 0.5 * torch.sin(torch.arange(16000) / 10.0)[None]
    path = save_audio(tmp_path / "clip.wav", wave, 16000)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"unknown audio file extension '\.xyz'.*\.wav"):
        save_audio(tmp_path / "clip.xyz", wave, 16000)
    with pytest.raises(ValueError, match="no audio file extension"):
        save_audio(tmp_path / "clip", wave, 16000)
    with pytest.raises(ValueError, match="do not take subtype 'VORBIS'"):
        save_audio(tmp_path / "clip.wav", wave, 16000, subtype="VORBIS")
    import soundfile

    def full_disk(*args, **kwargs):  # the write fails half-way, as on a full disk
        args[0].write(b"RIFF half a file")
        raise soundfile.LibsndfileError(0, "System error.")

    monkeypatch.setattr(soundfile, "write", full_disk)
    with pytest.raises(soundfile.LibsndfileError):
        save_audio(path, wave * 0.1, 16000)  # over the existing file, as -o = input does
    monkeypatch.undo()
    assert path.read_bytes() == before  # untouched, and no temporary file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav"]
    ogg = save_audio(tmp_path / "clip.ogg", wave, 16000)  # Vorbis: the format's own subtype
    assert soundfile.info(ogg).subtype == "VORBIS"


def test_audio_reader_reads_forward_windows(tmp_path):
    """AudioReader (chapter 6) gives overlapping windows that move forward, every channel,
    zeros past the end, and reads each frame of the file once."""
    from lassnet.audio import AudioReader

    data = np.stack([np.arange(1000), -np.arange(1000)], axis=1).astype(np.float32) / 1000
    path = tmp_path / "ramp.wav"
    sf.write(path, data, 8000, subtype="FLOAT")
    with AudioReader(path) as reader:
        assert (reader.sample_rate, reader.channels, reader.frames) == (8000, 2, 1000)
        assert reader.subtype == "FLOAT" and reader.format == "WAV"
        a = reader.read(0, 300)
        b = reader.read(200, 700)  # overlaps the previous window
        c = reader.read(900, 1100)  # past the end: zeros
        np.testing.assert_array_equal(a.numpy(), data[:300].T)
        np.testing.assert_array_equal(b.numpy(), data[200:700].T)
        np.testing.assert_array_equal(c[:, :100].numpy(), data[900:].T)
        assert c.shape == (2, 200) and float(c[:, 100:].abs().max()) == 0
        with pytest.raises(ValueError, match="reads forward"):
            reader.read(100, 200)


def test_audio_reader_and_info_name_what_is_wrong(tmp_path):
    """A folder, standard input, a device, random bytes, an empty file and NaN samples each
    get one AudioError saying what they are (matrix rows S3, S6, S8, S10, O15)."""
    from lassnet.audio import AudioReader, audio_info

    (tmp_path / "adir").mkdir()
    noise = tmp_path / "random.bin"
    noise.write_bytes(np.random.default_rng(0).bytes(50_000))
    for path, message in [(tmp_path / "adir", "is a folder"), ("-", "standard input"),
                          ("/dev/null", "not a regular file"),
                          (noise, "not an audio file soundfile can read")]:
        with pytest.raises(AudioError, match=message):
            audio_info(path)
        with pytest.raises(AudioError, match=message):
            load_audio(path)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        AudioReader(empty)
    x = _sine(440, 16000, 1.0)
    x[12_000] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with AudioReader(tmp_path / "nan.wav") as reader:
        reader.read(0, 8000)
        with pytest.raises(AudioError, match=r"non-finite samples .*first at 0\.750 s"):
            reader.read(4000, 16000)


def test_audio_writer_streams_atomically_and_counts_clipping(tmp_path, monkeypatch):
    """AudioWriter (chapter 6) writes blocks in order to a temporary file that replaces the
    destination only when complete; integer subtypes clip with one warning that counts the
    samples; a failure at any point leaves the destination as it was."""
    from lassnet.audio import AudioWriter

    path = tmp_path / "out.wav"
    with pytest.warns(UserWarning, match=r"3 samples beyond ±1 \(peak 4\) were clipped"):
        with AudioWriter(path, 8000, 2, "WAV", "PCM_16") as writer:
            writer.write(np.zeros((2, 100), dtype=np.float32))
            assert not path.exists()  # nothing at the destination until the end
            writer.write(torch.tensor([[2.0, 0.5], [-4.0, 3.0]]))
    data, sr = sf.read(path, dtype="float32")
    assert sr == 8000 and data.shape == (102, 2)
    np.testing.assert_allclose(data[100:], [[1.0, -1.0], [0.5, 1.0]], atol=1e-4)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        with AudioWriter(path, 8000, 2, "WAV", "PCM_16") as writer:
            writer.write(np.zeros((2, 100), dtype=np.float32))
            raise RuntimeError("boom")
    with pytest.raises(ValueError, match=r"a block must be \(2, frames\)"):
        with AudioWriter(path, 8000, 2, "WAV", "PCM_16") as writer:
            writer.write(np.zeros((3, 10), dtype=np.float32))

    def refuse(*args, **kwargs):
        raise sf.LibsndfileError(0, "cannot open")

    monkeypatch.setattr(sf, "SoundFile", refuse)
    with pytest.raises(sf.LibsndfileError):
        with AudioWriter(path, 8000, 2, "WAV", "PCM_16"):
            pass
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_output_format_follows_the_input_and_checks_the_destination(tmp_path):
    """output_format (chapter 6): the subtype follows ``like`` where the format takes it,
    else 16-bit PCM or the format's default; folders, devices and bad subtypes are refused
    in one line (matrix rows O2, O3, S16)."""
    from lassnet.audio import output_format

    assert output_format(tmp_path / "a.wav", like="FLOAT") == ("WAV", "FLOAT")
    assert output_format(tmp_path / "a.flac", like="FLOAT") == ("FLAC", "PCM_16")
    assert output_format(tmp_path / "a.flac", like="PCM_24") == ("FLAC", "PCM_24")
    assert output_format(tmp_path / "a.ogg", like="PCM_16") == ("OGG", "VORBIS")
    assert output_format(tmp_path / "new" / "a.wav", "pcm_24") == ("WAV", "PCM_24")
    assert not (tmp_path / "new").exists()  # checking creates nothing
    (tmp_path / "d.wav").mkdir()
    for path, message in [(tmp_path / "d.wav", "is a folder"),
                          ("/dev/null", "not a regular file"),
                          (tmp_path / "a.xyz", "unknown audio file extension")]:
        with pytest.raises(ValueError, match=message):
            output_format(path)
    with pytest.raises(ValueError, match="do not take subtype 'FLOAT'"):
        output_format(tmp_path / "a.flac", "FLOAT")
