import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from lassnet import query
from lassnet.cli import main
from lassnet.model import LASSModel
from lassnet.separator import SeparationNet


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    enc = query.build("minilm")
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    torch.manual_seed(0)
    LASSModel(SeparationNet.from_preset("tiny", condition_dim=enc.dim), enc).save(path)
    return path


def test_separate_keeps_channels_rate_and_length(tmp_path, checkpoint, capsys):
    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((22050 * 2 + 7, 2))).astype(np.float32)
    wav = tmp_path / "mix.wav"
    sf.write(wav, stereo, 22050)
    out = tmp_path / "out.wav"
    assert main(["separate", str(wav), "--query", "a siren wailing", "-o", str(out),
                 "--checkpoint", str(checkpoint)]) == 0
    data, sr = sf.read(out)
    assert sr == 22050 and data.shape == (22050 * 2 + 7, 2)  # stereo stays stereo, as in
    assert "2 channels" in capsys.readouterr().out  # LASSModel.separate
    model = LASSModel.load(checkpoint)  # each channel is the library's separation of it
    stored = sf.read(wav, dtype="float32")[0]  # the input as the file holds it (16-bit)
    expect = model.separate(stored.T, 22050, "a siren wailing")
    np.testing.assert_allclose(data.T, expect, atol=2 / 32768)  # 16-bit PCM
    sf.write(wav, stereo[:, 0], 22050)
    assert main(["separate", str(wav), "-q", "a siren wailing", "-o", str(out),
                 "-c", str(checkpoint)]) == 0
    assert sf.read(out)[0].ndim == 1 and "mono" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["separate", "missing.wav", "-q", "a bell", "-o", "x.wav"], "no such audio file"),
        (["separate", "{wav}", "-q", "  ", "-o", "x.wav"], "empty"),
        (["separate", "{wav}", "-o", "x.wav"], "--query"),
        (["separate", "{bad}", "-q", "a bell", "-o", "x.wav"], "bad.wav"),
        (["separate", "{wav}", "-q", "a bell", "-o", "x.wav", "-c", "{bad}"], "checkpoint"),
        (["train", "--config", "no-such-config"], "unknown config"),
    ],
)
def test_user_errors_are_one_line(tmp_path, checkpoint, capsys, argv, message):
    wav = tmp_path / "ok.wav"
    sf.write(wav, np.zeros(16000, dtype=np.float32) + 0.01, 16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF garbage")
    argv = [a.format(wav=wav, bad=bad) for a in argv]
    if "-c" not in argv and argv[0] == "separate":
        argv += ["-c", str(checkpoint)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_info_and_entry_point():
    done = subprocess.run([sys.executable, "-m", "lassnet.cli", "info"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "25,623,941" in done.stdout and "minilm" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "lassnet.cli", "separate"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
