"""The separation path against the fault matrix (``reviews/reliability-review.md``): bad
inputs, bad options and faults of ``LASSModel.separate``, ``LASSModel.separate_file`` and
``lassnet separate`` (chapter 0, the introduction, teaches separating a file).

Each test names the matrix rows it covers. Faults that need root or a real device (a full
disk, a read-only file system, Ctrl-C) are simulated: a file whose writes fail with ``ENOSPC``
part-way, a folder whose ``mkstemp`` fails with ``EROFS``, a ``KeyboardInterrupt`` or a real
``SIGTERM`` sent to this process while the separator runs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal

import numpy as np
import pytest
import soundfile as sf
import torch

import lassnet
from lassnet import files, inference, query
from lassnet.cli import main
from lassnet.model import LASSModel, plan_chunks
from lassnet.separator import SeparationNet

SR = 16000


@pytest.fixture(scope="module")
def encoder():
    return query.build("minilm")


@pytest.fixture(scope="module")
def model(encoder):
    """The ``tiny`` preset with random weights, FiLM scales and ``input_rms`` (as shipped)."""
    torch.manual_seed(0)
    net = SeparationNet.from_preset("tiny", condition_dim=encoder.dim, film_gamma=True,
                                    input_rms=0.05)
    return LASSModel(net.eval(), encoder)


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    model.save(path)
    return path


def _tone(seconds: float, sr: int = SR, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (amp * np.sin(2 * np.pi * 1000 * t) + 0.05 * rng.standard_normal(t.size)) \
        .astype(np.float32)


def _write(path, wave, sr=SR, subtype="PCM_16"):
    sf.write(path, wave.T if wave.ndim == 2 else wave, sr, subtype=subtype)
    return path


def _agreement_db(estimate, reference) -> float:
    estimate, reference = np.asarray(estimate, np.float64), np.asarray(reference, np.float64)
    return float(10 * np.log10((reference**2).sum() / ((estimate - reference) ** 2).sum()))


def _run(argv, checkpoint, capsys):
    """``lassnet separate ARGV -c CHECKPOINT``: ``(status, stdout, stderr lines)``."""
    status = main(["separate", *map(str, argv), "-c", str(checkpoint)])
    out, err = capsys.readouterr()
    return status, out, [line for line in err.splitlines() if line.strip()]


def _no_model(monkeypatch):
    """Make loading a model fail the test: a check that must come first came too late."""
    def fail(*args, **kwargs):
        raise AssertionError("the model was loaded before the paths were checked")

    monkeypatch.setattr(LASSModel, "load", fail)


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ----------------------------------------------------------------------------- D4, A23
def test_a23_chunked_separation_matches_one_piece(model):
    """A23 (D4): chunks start on the separator's hop and pooling grid at the model's rate and
    on whole input samples, so a 12 s signal separated in 4 s chunks agrees with one pass over
    the whole signal to far better than the 24 dB (tonal) and 9 dB (noise) measured before —
    at the model's rate and through resampling (44.1 kHz and 8 kHz)."""
    for sr in (SR, 44100, 8000):
        rng = np.random.default_rng(1)
        for x in (_tone(12, sr), (0.1 * rng.standard_normal(12 * sr)).astype(np.float32)):
            whole = model.separate(x, sr, "a siren wailing", chunk_seconds=20,
                                   precision="float32")
            chunked = model.separate(x, sr, "a siren wailing", chunk_seconds=4,
                                     precision="float32")
            assert chunked.shape == x.shape and np.isfinite(chunked).all()
            assert _agreement_db(chunked, whole) > 40, sr


def test_d4_separate_never_builds_a_full_length_intermediate(model, monkeypatch):
    """D4 (S14): memory stays bounded because nothing the length of the signal is computed
    besides the output: every resampling and every separator call sees one chunk with its
    context (here 2 s chunks of a 60 s signal at 8 kHz), never the whole signal."""
    seen = {"run": [], "resample": []}
    real_run = inference.run

    def spy_run(net, mixture, condition, precision="float32"):
        seen["run"].append(mixture.shape[-1])
        return real_run(net, mixture, condition, precision)

    import torchaudio.transforms

    real_resample = torchaudio.transforms.Resample.forward

    def spy_resample(self, wave):
        seen["resample"].append(wave.shape[-1])
        return real_resample(self, wave)

    monkeypatch.setattr(inference, "run", spy_run)
    monkeypatch.setattr(torchaudio.transforms.Resample, "forward", spy_resample)
    x = _tone(60, 8000)
    out = model.separate(x, 8000, "a bell", chunk_seconds=2.0, precision="float32")
    assert out.shape == x.shape and np.isfinite(out).all()
    plan = plan_chunks(x.size, 8000, SR, 256, 2.0, 1.0, 16)
    assert len(seen["run"]) == plan.count > 20
    assert max(seen["run"]) <= 2 * plan.width + 4096  # model samples of one chunk (16 kHz)
    assert max(seen["resample"]) <= 2 * plan.width  # 8 kHz samples, or 16 kHz ones back


def test_d4_separate_file_reads_and_writes_in_blocks(model, tmp_path, monkeypatch):
    """D4 (S14): ``separate_file`` (what the CLI runs) never reads or writes more than a chunk
    at a time, and its output equals ``separate()`` on the same samples."""
    src = _write(tmp_path / "long.wav", _tone(30, 8000), 8000, subtype="FLOAT")
    reads, writes = [], []
    real_read, real_write = sf.SoundFile.read, sf.SoundFile.write

    def spy_read(self, frames=-1, *args, **kwargs):
        reads.append(frames)
        return real_read(self, frames, *args, **kwargs)

    def spy_write(self, data):
        writes.append(len(data))
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "read", spy_read)
    monkeypatch.setattr(sf.SoundFile, "write", spy_write)
    info = model.separate_file(src, tmp_path / "out.wav", "a bell", chunk_seconds=2.0,
                               precision="float32")
    monkeypatch.undo()
    plan = plan_chunks(30 * 8000, 8000, SR, 256, 2.0, 1.0, 16)
    assert info.frames == 30 * 8000 and info.subtype == "FLOAT"
    assert 0 < max(reads) <= plan.width and sum(reads) == 30 * 8000  # each sample read once
    assert max(writes) <= plan.width and sum(writes) == 30 * 8000
    expected = model.separate(sf.read(src, dtype="float32")[0], 8000, "a bell",
                              chunk_seconds=2.0, precision="float32")
    np.testing.assert_allclose(sf.read(tmp_path / "out.wav", dtype="float32")[0], expected,
                               atol=1e-6)


# ----------------------------------------------------------------------------- D12 (API)
def test_a10_a20_a21_bad_rates_and_batch_sizes(model):
    """A10 (sample_rate=True was taken as 1 Hz and ran away), A20 (batch_size=0), A21
    (batch_size=-1 returned zeros): each is one clear ValueError naming the argument."""
    x = _tone(1)
    for rate in (True, False, 0, -1, 16000.0, "16000", None):
        with pytest.raises(ValueError, match=r"sample_rate must be a positive integer"):
            model.separate(x, rate, "a bell")
    for batch in (0, -1, 1.5, True, "4"):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            model.separate(x, SR, "a bell", batch_size=batch)
    assert model.separate(x, np.int64(SR), "a bell", batch_size=np.int32(2)).shape == x.shape


@pytest.mark.parametrize("value", [0, -5, 0.001, 0.49, float("nan"), float("inf"), "10", True])
def test_a18_o11_o12_o13_bad_chunk_seconds(model, value):
    """A18, O11-O13: chunk_seconds 0, negative, too short, NaN, inf (and not a number) give
    one error that names the minimum, in the API."""
    with pytest.raises(ValueError, match=r"chunk_seconds must be .*at least 0\.5"):
        model.separate(_tone(1), SR, "a bell", chunk_seconds=value)


def test_a19_overlap_seconds(model):
    """A19: overlap_seconds NaN, inf or <= 0 is refused; one longer than half a chunk is cut
    to half a chunk (the CLI has no overlap option, so a short --chunk-seconds still works)."""
    for value in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="overlap_seconds must be"):
            model.separate(_tone(1), SR, "a bell", overlap_seconds=value)
    out = model.separate(_tone(3), SR, "a bell", chunk_seconds=1.0, overlap_seconds=5.0)
    assert out.shape == (3 * SR,) and np.isfinite(out).all()
    assert plan_chunks(3 * SR, SR, SR, 256, 1.0, 5.0).fade == SR // 2


def test_a12_several_queries_in_one_call(model):
    """A12: a list of two captions said "condition embedding batch 2 does not match mixture
    batch 1"; now: one query per call. A list holding one caption still works (A13)."""
    with pytest.raises(ValueError, match="one query per call, got 2"):
        model.separate(_tone(1), SR, ["a bell", "a siren"])
    assert model.separate(_tone(1), SR, ["a bell"]).shape == (SR,)


def test_a17_s22_huge_finite_amplitudes(model, encoder):
    """A17, S22: a finite input near 1e30 gave all-NaN output (the RMS for ``input_rms``
    overflowed). The level is now computed overflow-proof: the output is finite and scales
    with the input. A model without ``input_rms`` that still overflows gives one clear error
    naming the level, at the first chunk, instead of NaN audio."""
    x = _tone(2)
    reference = model.separate(x, SR, "a bell", precision="float32")
    for scale in (1e30, 3e38 / float(np.abs(x).max())):  # a peak of 3e38, near float32's max
        loud = model.separate((x.astype(np.float64) * scale).astype(np.float32), SR, "a bell",
                              precision="float32")
        assert np.isfinite(loud).all()
        assert _agreement_db(loud.astype(np.float64) / scale, reference) > 60
    raw = LASSModel(SeparationNet.from_preset("tiny", condition_dim=encoder.dim).eval(),
                    encoder)
    assert raw.separator.config.input_rms is None
    with pytest.raises(ValueError, match=r"NaN or Inf on the audio near 0\.0 s \(its peak"):
        raw.separate(x * np.float32(1e30), SR, "a bell")


def test_k12_nan_weights_are_refused_before_separating(model, encoder, tmp_path, capsys):
    """K12: NaN weights ended in "refusing to write non-finite audio" after the whole
    separation; now one error naming the damaged weights before any work, in the API and
    in the CLI (exit 2, nothing written)."""
    broken = LASSModel(SeparationNet(model.separator.config).eval(), encoder)
    broken.separator.load_state_dict(model.separator.state_dict())
    with torch.no_grad():
        broken.separator.post_conv.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"weights hold NaN or Inf .*post_conv\.weight"):
        broken.separate(_tone(1), SR, "a bell")
    path = tmp_path / "nan.pt"
    broken.save(path)
    wav = _write(tmp_path / "in.wav", _tone(1))
    status, _, err = _run([wav, "-q", "a bell", "-o", tmp_path / "out.wav"], path, capsys)
    assert status == 2 and len(err) == 1 and "weights hold NaN" in err[0]
    assert not (tmp_path / "out.wav").exists() and not _leftovers(tmp_path)


def test_a5_complex_input_is_refused(model):
    """A5: a complex array lost its imaginary part with only numpy's warning; the waveform
    contract refuses it."""
    with pytest.raises(ValueError, match="floating-point"):
        model.separate(_tone(1).astype(np.complex64), SR, "a bell")


def test_tensor_input_keeps_dtype_and_device(model):
    """A4: tensors come back with their dtype (float64 here) and stay on their device; numpy
    arrays come back float32."""
    x = torch.from_numpy(_tone(1)).double()
    out = model.separate(x, SR, "a bell")
    assert out.dtype == torch.float64 and out.device == x.device and out.shape == x.shape
    assert model.separate(_tone(1).astype(np.float64), SR, "a bell").dtype == np.float32


# ----------------------------------------------------------------------------- the CLI
def test_s3_s6_o15_inputs_that_are_not_audio_files(tmp_path, checkpoint, capsys, monkeypatch):
    """S3 (a folder), S6 (random bytes: libsndfile's "possibly a pipe?" text), O15 (``-`` and
    ``/dev/null`` were "not found"): one line each saying what the input is, exit 2, before
    the model loads."""
    _no_model(monkeypatch)
    (tmp_path / "adir").mkdir()
    (tmp_path / "random.bin").write_bytes(np.random.default_rng(0).bytes(50_000))
    cases = [(tmp_path / "adir", "is a folder"), ("-", "standard input is not a regular file"),
             ("/dev/null", "is not a regular file"),
             (tmp_path / "random.bin", "not an audio file soundfile can read"),
             (tmp_path / "missing.wav", "no such audio file")]
    for source, message in cases:
        status, _, err = _run([source, "-q", "a bell", "-o", tmp_path / "o.wav"], checkpoint,
                              capsys)
        assert status == 2 and len(err) == 1 and message in err[0], err
        assert "possibly a pipe" not in err[0] and "Traceback" not in err[0]


def test_o2_o3_o4_o5_outputs_checked_before_any_work(tmp_path, checkpoint, capsys,
                                                     monkeypatch):
    """O2 (a folder), O3 (``.xyz``, no extension, ``/dev/null``), a subtype the format does
    not take: one line, exit 2, before the model loads (they failed after the whole
    separation, with tracebacks). O4/O5 (``.mp3``, ``.ogg``) are written in the format's own
    subtype instead of failing on PCM_16."""
    wav = _write(tmp_path / "in.wav", _tone(1))
    (tmp_path / "adir").mkdir()
    with monkeypatch.context() as patch:
        _no_model(patch)
        cases = [(tmp_path / "adir", [], "is a folder"),
                 (tmp_path / "x.xyz", [], "unknown audio file extension '.xyz'"),
                 (tmp_path / "x", [], "no audio file extension"),
                 ("/dev/null", [], "not a regular file"),
                 (tmp_path / "x.wav", ["--subtype", "VORBIS"], "do not take subtype 'VORBIS'"),
                 (tmp_path / "x.flac", ["--subtype", "FLOAT"], "do not take subtype 'FLOAT'")]
        for output, extra, message in cases:
            status, _, err = _run([wav, "-q", "a bell", "-o", output, *extra], checkpoint,
                                  capsys)
            assert status == 2 and len(err) == 1 and message in err[0], err
    formats = {f.lower() for f in sf.available_formats()}
    for ext, subtype in (("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")):
        if ext not in formats:
            continue
        status, out, _ = _run([wav, "-q", "a bell", "-o", tmp_path / f"o.{ext}"], checkpoint,
                              capsys)
        assert status == 0 and sf.info(tmp_path / f"o.{ext}").subtype == subtype, out


def test_o10_unwritable_folder_is_refused_before_any_work(tmp_path, checkpoint, capsys,
                                                          monkeypatch):
    """O10 (D6): an output folder that takes no new files (a read-only file system, here
    simulated: creating a file there fails with EROFS) is one line, exit 2, before the model
    loads; it failed with a traceback after the separation."""
    wav = _write(tmp_path / "in.wav", _tone(1))
    target = tmp_path / "ro"
    target.mkdir()
    real = files.tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and os.path.samefile(dir, target):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    _no_model(monkeypatch)
    status, _, err = _run([wav, "-q", "a bell", "-o", target / "o.wav"], checkpoint, capsys)
    assert status == 2 and len(err) == 1
    assert "does not take new files (Read-only file system)" in err[0]


class _FillsUp:
    """A file that takes ``room`` bytes and then fails as a full disk does."""

    def __init__(self, fh, room: int):
        self._fh, self._room = fh, room

    def write(self, data):
        if self._fh.tell() + len(data) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)


def _full_disk(monkeypatch, room: int = 20_000):
    real = files.atomic_write

    @contextlib.contextmanager
    def atomic_write(path, mode="wb", **kwargs):
        with real(path, mode, **kwargs) as fh:
            yield _FillsUp(fh, room)

    monkeypatch.setattr(files, "atomic_write", atomic_write)


def test_o8_o9_full_disk_keeps_the_input_and_leaves_nothing(tmp_path, checkpoint, capsys,
                                                            monkeypatch):
    """O8 (D1): ``-o`` = the input on a disk that fills up destroyed the input; O9: a new
    output was left truncated with a valid header. Now: one line naming the cause, exit 1,
    the input byte for byte as it was, no output and no temporary file."""
    source = _write(tmp_path / "mix.wav", _tone(3), subtype="PCM_U8")
    before = source.read_bytes()
    _full_disk(monkeypatch)
    for output in (source, tmp_path / "new.wav"):
        status, _, err = _run([source, "-q", "a bell", "-o", output, "--chunk-seconds", "1"],
                              checkpoint, capsys)
        assert status == 1 and err[-1].startswith("lassnet separate: error: cannot write")
        assert "No space left on device" in err[-1] and "nothing was written" in err[-1]
        assert len(err) == (2 if output == source else 1)  # the note that -o is the input
        assert source.read_bytes() == before
        assert not (tmp_path / "new.wav").exists() and not _leftovers(tmp_path)


def test_d1_library_writers_raise_the_disk_error(tmp_path, monkeypatch):
    """D1, D6: ``save_audio`` and ``separate_file`` raise the ``OSError`` of a full disk
    (not libsndfile's "System error" or a bare AssertionError printed from a callback), and
    leave the old file untouched."""
    path = _write(tmp_path / "keep.wav", _tone(1))
    before = path.read_bytes()
    _full_disk(monkeypatch, room=1000)
    with pytest.raises(OSError, match="No space left") as info:
        lassnet.save_audio(path, _tone(2), SR)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and not _leftovers(tmp_path)


def test_d1_atomic_stream_keeps_errors_raised_inside_c_callbacks(tmp_path, monkeypatch):
    """D1, D6: libsndfile writes through Python callbacks, where an exception cannot cross the
    C code (it used to print "Exception ignored from cffi callback" and end in an
    AssertionError). ``atomic_stream`` keeps the first error, answers every later call with
    "nothing done", and raises that error when the block ends; the target is untouched."""
    target = tmp_path / "t.wav"
    target.write_bytes(b"old")
    _full_disk(monkeypatch, room=10)
    with pytest.raises(OSError, match="No space left") as info:
        with files.atomic_stream(target) as fh:
            assert fh.write(b"0123456789abcdef") == 0  # what a C caller sees: nothing written
            assert fh.write(b"more") == 0 and fh.seek(0) == -1
            raise AssertionError("what soundfile raises after a short write")
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old" and not _leftovers(tmp_path)


def test_o10_check_writable(tmp_path, monkeypatch):
    """O10, O2, O3: ``check_writable`` refuses a folder, a device and a folder that takes no
    new file (simulated read-only), leaving nothing behind; a missing folder is fine and is
    not created."""
    files.check_writable(tmp_path / "missing" / "deeper" / "o.wav")
    assert not (tmp_path / "missing").exists()
    for path, message in [(tmp_path, "is a folder"), ("/dev/null", "not a regular file")]:
        with pytest.raises(ValueError, match=message):
            files.check_writable(path)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    with pytest.raises(ValueError, match=r"does not take new files \(Read-only file system\)"):
        files.check_writable(tmp_path / "o.wav")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_o6_o7_output_is_the_input(tmp_path, checkpoint, capsys):
    """O6, O7: ``-o`` naming the input is noted in one line, the input is read whole before
    it is replaced (streamed through a temporary file), and the result equals a run to
    another file."""
    source = _write(tmp_path / "mix.wav", _tone(3))
    status, _, _ = _run([source, "-q", "a bell", "-o", tmp_path / "other.wav"], checkpoint,
                        capsys)
    assert status == 0
    status, out, err = _run([source, "-q", "a bell", "-o", source], checkpoint, capsys)
    assert status == 0 and len(err) == 1 and "-o is the input file" in err[0]
    assert source.read_bytes() == (tmp_path / "other.wav").read_bytes()
    assert "wrote" in out and not _leftovers(tmp_path)


def _interrupt_second_chunk(monkeypatch, action):
    real_run, calls = inference.run, []

    def run(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            action()
        return real_run(*args, **kwargs)

    monkeypatch.setattr(inference, "run", run)


def _raise_keyboard_interrupt():
    raise KeyboardInterrupt


def test_s23_ctrl_c_during_separation(tmp_path, checkpoint, capsys, monkeypatch):
    """S23 (D17): Ctrl-C during ``separate`` printed a KeyboardInterrupt traceback (rc 1).
    Now one line, exit 130, nothing written: with ``-o`` = the input, the input is intact."""
    source = _write(tmp_path / "mix.wav", _tone(4))
    before = source.read_bytes()
    _interrupt_second_chunk(monkeypatch, _raise_keyboard_interrupt)
    status, _, err = _run([source, "-q", "a bell", "-o", source, "--chunk-seconds", "1"],
                          checkpoint, capsys)
    assert status == 130
    assert err[-1] == "lassnet separate: interrupted (Ctrl-C); nothing was written"
    assert source.read_bytes() == before and not _leftovers(tmp_path)


def test_s24_sigterm_during_separation(tmp_path, checkpoint, capsys, monkeypatch):
    """S24: SIGTERM while the output is being streamed removes the temporary file (the default
    action would leave it behind): one line, exit 143, nothing written."""
    source = _write(tmp_path / "mix.wav", _tone(4))
    _interrupt_second_chunk(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    status, _, err = _run([source, "-q", "a bell", "-o", tmp_path / "out.wav",
                           "--chunk-seconds", "1"], checkpoint, capsys)
    assert status == 143 and err == ["lassnet separate: terminated (SIGTERM); nothing was "
                                     "written"]
    assert not (tmp_path / "out.wav").exists() and not _leftovers(tmp_path)
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_s16_s21_output_subtype_follows_the_input(model, tmp_path):
    """S16, S21 (D8): the output takes the input's subtype where its format has it (a float
    file stays float, so a 1e6-amplitude input is no longer clipped into a square wave;
    24-bit stays 24-bit), else the format's default; ``subtype=`` chooses."""
    loud = _write(tmp_path / "loud.wav", _tone(1) * np.float32(1e6), subtype="FLOAT")
    info = model.separate_file(loud, tmp_path / "loud_out.wav", "a bell")
    data = sf.read(tmp_path / "loud_out.wav", dtype="float32")[0]
    assert info.subtype == "FLOAT" and np.sqrt((data**2).mean()) > 1e4
    expected = model.separate(sf.read(loud, dtype="float32")[0], SR, "a bell")
    np.testing.assert_allclose(data, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    pcm24 = _write(tmp_path / "in24.wav", _tone(1), subtype="PCM_24")
    assert model.separate_file(pcm24, tmp_path / "o24.flac", "a bell").subtype == "PCM_24"
    assert model.separate_file(pcm24, tmp_path / "o.ogg", "a bell").subtype == "VORBIS"
    with pytest.warns(UserWarning, match="clipped for PCM_16"):  # FLAC holds no floats
        assert model.separate_file(loud, tmp_path / "o16.flac", "a bell").subtype == "PCM_16"
    assert model.separate_file(pcm24, tmp_path / "of.wav", "a bell",
                               subtype="float").subtype == "FLOAT"


def test_s21_clipping_is_one_warning_line(tmp_path, checkpoint, capsys):
    """S21 (D8): where the output format has no float subtype (FLAC), samples beyond ±1 are
    clipped and the CLI says so in one line on stderr, counting them; no Python warning
    dump."""
    loud = _write(tmp_path / "loud.wav", _tone(1) * np.float32(1e6), subtype="FLOAT")
    status, out, err = _run([loud, "-q", "a bell", "-o", tmp_path / "o.flac"], checkpoint,
                            capsys)
    assert status == 0 and "PCM_16" in out
    assert len(err) == 1 and err[0].startswith("lassnet: warning: ")
    assert "samples beyond ±1" in err[0] and "clipped for PCM_16" in err[0]
    assert "UserWarning" not in err[0] and "warnings.warn" not in err[0]


def test_s15_channels_are_kept(tmp_path, checkpoint, capsys):
    """S15: a stereo file gives a stereo file (each channel separated with the query), at the
    input's rate and length."""
    stereo = np.stack([_tone(1, 22050), _tone(1, 22050, amp=0.1, seed=1)])
    source = _write(tmp_path / "st.wav", stereo, 22050)
    status, out, _ = _run([source, "-q", "a bell", "-o", tmp_path / "o.wav"], checkpoint,
                          capsys)
    assert status == 0 and "2 channels" in out
    info = sf.info(tmp_path / "o.wav")
    assert (info.channels, info.samplerate, info.frames) == (2, 22050, 22050)


def test_q9_both_queries_is_an_error(tmp_path, checkpoint, capsys, monkeypatch):
    """Q9 (D11): ``--query`` and ``--query-audio`` together silently took the audio query;
    now one line, exit 2, before the model loads."""
    _no_model(monkeypatch)
    wav = _write(tmp_path / "in.wav", _tone(1))
    status, _, err = _run([wav, "-q", "a bell", "--query-audio", wav, "-o",
                           tmp_path / "o.wav"], checkpoint, capsys)
    assert status == 2 and len(err) == 1 and "not both" in err[0]
    status, _, err = _run([wav, "-q", "a bell", "--query-encoder", "nope", "-o",
                           tmp_path / "o.wav"], checkpoint, capsys)
    assert status == 2 and "unknown query encoder 'nope'" in err[0]


def test_q8_query_audio_with_a_text_only_model(tmp_path, checkpoint, capsys):
    """Q8 (D11): ``--query-audio`` with a model recorded with the text-only ``minilm``
    encoder pointed to a Python call; the CLI now embeds the clip with ``minilm-audio`` (its
    audio tower is aligned to MiniLM) and says so in one line; ``--query-encoder`` chooses."""
    wav = _write(tmp_path / "in.wav", _tone(2))
    clip = _write(tmp_path / "clip.wav", _tone(1, seed=3))
    status, out, err = _run([wav, "--query-audio", clip, "-o", tmp_path / "o.wav"],
                            checkpoint, capsys)
    assert status == 0 and "wrote" in out
    assert len(err) == 1 and err[0].startswith("lassnet: note:") and "minilm-audio" in err[0]
    status, out, err = _run([wav, "--query-audio", clip, "--query-encoder", "minilm_audio",
                             "-o", tmp_path / "o2.wav"], checkpoint, capsys)
    assert status == 0 and err == []
    assert (tmp_path / "o.wav").read_bytes() == (tmp_path / "o2.wav").read_bytes()


def test_o11_o12_o13_chunk_seconds_in_the_cli(tmp_path, checkpoint, capsys, monkeypatch):
    """O11-O13 (D12): ``--chunk-seconds`` 0, -1, 0.001, nan, inf: one line naming the minimum,
    exit 2, before the model loads (inf was an OverflowError traceback)."""
    _no_model(monkeypatch)
    wav = _write(tmp_path / "in.wav", _tone(1))
    for value in ("0", "-1", "0.001", "nan", "inf"):
        status, _, err = _run([wav, "-q", "a bell", "-o", tmp_path / "o.wav",
                               "--chunk-seconds", value], checkpoint, capsys)
        assert status == 2 and len(err) == 1 and "at least 0.5" in err[0], value


def test_d6_main_reports_system_errors_in_one_line(capsys, monkeypatch):
    """D6: any command that meets an ``OSError`` (a read-only file system, a full disk)
    reports it in one line with exit status 1, not a traceback."""
    import lassnet.cli as cli

    def read_only(args):
        raise OSError(errno.EROFS, "Read-only file system", "/somewhere/run")

    monkeypatch.setattr(cli, "_info", read_only)
    assert main(["info"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lassnet info: error: Read-only file system: /somewhere/run"]
