"""AudioSep's released model through lassnet, offline, with random weights.

The ``audiosep`` fixture writes what the real files hold, at small cost: a random LAION-CLAP
(laion-clap's own ``CLAP_Module``, HTS-AT tiny, over the random ``roberta-base/`` folder of
:func:`lassnet.testing.write_random_roberta`) saved as the released checkpoint is laid out, and
random ResUNet30 weights in a Lightning-style checkpoint
(:func:`lassnet.testing.audiosep_state_dict`). ``LASSModel.from_audiosep(...).separate(...)``
is checked against AudioSep's pipeline written out here step by step: RobertaTokenizer (512
tokens, the query as a batch of two) → laion-clap's ``get_text_embedding`` → ResUNet30
(:func:`lassnet.testing.audiosep_reference_forward`, torchlibrosa's STFT) → waveform.
Building the CLAP models takes about 20 s on a 2-core CPU, once per run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import importlib.util
import math
import threading
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from lassnet import pretrained
from lassnet.checkpoint import CheckpointError
from lassnet.cli import main
from lassnet.data import DownloadError
from lassnet.evaluate import audiosep_mix, evaluate_audiosep_list, read_audiosep_list
from lassnet.model import LASSModel
from lassnet.testing import (
    audiosep_reference_forward,
    audiosep_state_dict,
    laion_clap_tiny,
    released_clap_state,
    write_random_roberta,
)

pytest.importorskip("transformers")
pytest.importorskip("torchlibrosa.stft")
if importlib.util.find_spec("laion_clap") is None:
    pytest.skip("laion-clap is not installed", allow_module_level=True)

SR = 32000
CAPTIONS = ["a dog barking", "rain falling on a roof", "a siren wailing", "dog", "rain"]


def _chirp(seconds: float, f0: float, seed: int) -> torch.Tensor:
    """A test signal: a rising tone plus a little noise, ``(L,)`` at 32 kHz."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SR)) / SR
    tone = 0.3 * torch.sin(2 * math.pi * f0 * t * (1 + 0.3 * t))
    return tone + 0.02 * torch.randn(t.shape[0], generator=g)


@pytest.fixture(scope="module")
def audiosep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audiosep")
    write_random_roberta(folder, CAPTIONS)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        reference = laion_clap_tiny()
        released = released_clap_state(reference)
        clap_path = folder / "clap.pt"
        torch.save({"epoch": 15, "state_dict": released}, clap_path)
        sd = audiosep_state_dict(seed=3)
        clap_state = reference.model.state_dict()
        for key in ("logit_scale_a", "text_projection.0.weight"):  # the CLAP it trained with
            sd[f"query_encoder.model.{key}"] = clap_state[key].clone()
        sep_path = folder / "audiosep.ckpt"
        torch.save({"epoch": 0, "global_step": 4_000_000, "state_dict": sd}, sep_path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the stored CLAP tensors agree: no warning
            model = LASSModel.from_audiosep(sep_path, clap_path, device="cpu",
                                            clap_model="HTSAT-tiny")
    return dict(folder=folder, reference=reference, sd=sd, clap=clap_path, sep=sep_path,
                model=model)


def _audiosep_text_embedding(audiosep, text: str) -> torch.Tensor:
    """AudioSep's ``CLAP_Encoder._get_text_embed`` written out: ``(1, 512)``."""
    from transformers import RobertaTokenizer

    tokenizer = RobertaTokenizer.from_pretrained(str(audiosep["folder"] / "roberta-base"))
    tokens = tokenizer([text, text], padding="max_length", truncation=True, max_length=512,
                       return_tensors="pt")
    with torch.no_grad():
        embed = audiosep["reference"].model.get_text_embedding(
            {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]})
    return embed[0:1].float()


# ------------------------------------------------------------------------- the pipeline
def test_separate_equals_audiosep_pipeline(audiosep):
    model = audiosep["model"]
    assert model.sample_rate == SR and model.query_name == "clap"
    assert model.precision == "float32"
    assert model.encoder.max_tokens == 512
    mixture = _chirp(2.0, 440.0, seed=0) + _chirp(2.0, 1500.0, seed=1)  # (64000,)
    query = "a dog barking"
    ours = model.separate(mixture, SR, query, precision="float32")
    condition = _audiosep_text_embedding(audiosep, query)
    with torch.no_grad():
        expected = audiosep_reference_forward(audiosep["sd"], mixture[None, None], condition)
    expected = expected[0, 0]
    assert ours.shape == mixture.shape
    assert expected.abs().max() > 1e-3  # not two silences
    err = ((ours - expected).norm() / expected.norm()).item()
    assert err < 1e-4, err
    # the query matters: another caption gives another separation
    other = model.separate(mixture, SR, "rain falling on a roof", precision="float32")
    assert ((other - ours).norm() / ours.norm()).item() > 1e-3


def test_one_query_is_embedded_as_a_batch_of_two(audiosep):
    encoder = audiosep["model"].encoder
    encoder.clear_cache()
    alone = encoder.embed_text(["a siren wailing"])
    torch.testing.assert_close(alone, _audiosep_text_embedding(audiosep, "a siren wailing"),
                               rtol=1e-5, atol=1e-6)
    both = encoder.embed_text(["a siren wailing", "a dog barking"])
    torch.testing.assert_close(both[:1], alone, rtol=1e-4, atol=1e-5)


def test_audio_query_is_fitted_as_audiosep_does(audiosep):
    """Resampled to 48 kHz; 3 s are repeated and zero-padded to 10 s (``repeatpad``), 12 s
    are cut to a random 10-s window, reproducibly."""
    import torchaudio

    encoder = audiosep["model"].encoder
    short = _chirp(3.0, 660.0, seed=2)
    ours = encoder.embed_audio(short[None, None], SR)
    at48 = torchaudio.functional.resample(short, SR, 48000)  # AudioSep's resampling call
    n = 480000 // at48.shape[0]  # laion-clap's repeatpad, written out
    fitted = torch.nn.functional.pad(at48.repeat(n), (0, 480000 - n * at48.shape[0]))
    with torch.no_grad():
        theirs = audiosep["reference"].model.get_audio_embedding(
            [{"waveform": fitted, "longer": torch.tensor([False])}])
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)

    long = _chirp(12.0, 300.0, seed=3)
    first = encoder.embed_audio(long[None, None], SR)
    torch.testing.assert_close(encoder.embed_audio(long[None, None], SR), first)
    at48 = torchaudio.functional.resample(long, SR, 48000)
    overflow = at48.shape[0] - 480000
    start = int(torch.randint(0, overflow + 1, (1,),
                              generator=torch.Generator().manual_seed(encoder.seed)))
    with torch.no_grad():
        theirs = audiosep["reference"].model.get_audio_embedding(
            [{"waveform": at48[start : start + 480000], "longer": torch.tensor([True])}])
    torch.testing.assert_close(first, theirs, rtol=1e-4, atol=1e-5)


def test_save_and_load_round_trip(audiosep, tmp_path, monkeypatch):
    model = audiosep["model"]
    path = tmp_path / "audiosep-lassnet.pt"
    model.save(path)
    payload = torch.load(path, weights_only=True)  # plain data only
    assert payload["query"] == {"name": "clap",
                                "options": {"checkpoint": str(audiosep["clap"]),
                                            "amodel": "HTSAT-tiny"}}
    monkeypatch.chdir(audiosep["folder"])  # the random roberta-base/ lives there
    loaded = LASSModel.load(path)
    for (k, a), (k2, b) in zip(model.separator.state_dict().items(),
                               loaded.separator.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b), k
    mixture = _chirp(1.0, 880.0, seed=4)
    torch.testing.assert_close(loaded.separate(mixture, SR, "rain", precision="float32"),
                               model.separate(mixture, SR, "rain", precision="float32"))


# ------------------------------------------------------------------------- clear errors
def test_clap_of_another_size_is_refused(audiosep):
    with pytest.raises(ValueError, match="HTSAT-tiny audio tower, not HTSAT-base.*another "
                                         "model size"):
        LASSModel.from_audiosep(audiosep["sep"], audiosep["clap"], device="cpu")


def test_separator_with_missing_keys_is_refused(audiosep, tmp_path):
    sd = dict(audiosep["sd"])
    del sd["ss_model.base.encoder_block3.conv_block1.conv2.weight"]
    broken = tmp_path / "broken.ckpt"
    torch.save({"state_dict": sd}, broken)
    with pytest.raises(CheckpointError, match="lacks 1 tensors lassnet needs.*encoders.2"):
        LASSModel.from_audiosep(broken, audiosep["clap"], device="cpu",
                                clap_model="HTSAT-tiny")


def test_query_too_long_for_the_tokenizer(audiosep):
    model = audiosep["model"]
    text = "a dog barking loudly in the rain " * 80
    count = model.encoder.token_count(text)
    assert count > 512
    with pytest.raises(ValueError, match=f"is {count} tokens long.*at most 512"):
        model.separate(_chirp(0.5, 440.0, seed=5), SR, text)


def test_another_clap_than_the_stored_one_warns(audiosep, tmp_path, monkeypatch):
    sd = dict(audiosep["sd"])
    sd["query_encoder.model.logit_scale_a"] = sd["query_encoder.model.logit_scale_a"] + 1
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": sd}, other)
    monkeypatch.chdir(audiosep["folder"])
    with pytest.warns(UserWarning, match="1 CLAP tensors stored in other.ckpt differ from "
                                         "clap.pt .e.g. logit_scale_a"):
        LASSModel.from_audiosep(other, audiosep["clap"], device="cpu", clap_model="HTSAT-tiny")


def test_bad_precision_is_refused(audiosep):
    with pytest.raises(ValueError, match="precision must be one of"):
        LASSModel.from_audiosep(audiosep["sep"], audiosep["clap"], precision="fp8")


def _cli(capsys, *argv):
    status = main(list(argv))
    err = capsys.readouterr().err.strip()
    return status, err


def test_cli_separate_with_audiosep(audiosep, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(audiosep["folder"])
    src, out = tmp_path / "mix.wav", tmp_path / "out.wav"
    mixture = _chirp(1.0, 500.0, seed=6)
    sf.write(src, mixture.numpy(), SR, subtype="FLOAT")
    common = ["separate", str(src), "-q", "a dog barking", "-o", str(out)]
    status = main([*common, "--audiosep", str(audiosep["sep"]), "--clap",
                   str(audiosep["clap"]), "--clap-model", "HTSAT-tiny"])
    assert status == 0
    written, rate = sf.read(out, dtype="float32")
    assert rate == SR and written.shape == mixture.shape
    expected = audiosep["model"].separate(mixture, SR, "a dog barking", precision="float32")
    np.testing.assert_allclose(written, expected.numpy(), rtol=1e-4, atol=1e-5)
    capsys.readouterr()

    cases = [
        ([*common, "--audiosep", str(audiosep["sep"])], "--audiosep needs --clap"),
        ([*common, "--clap", str(audiosep["clap"])], "--clap needs --audiosep"),
        ([*common, "--audiosep", str(audiosep["sep"]), "--clap", str(audiosep["clap"]),
          "--checkpoint", "x.pt"], "give one model"),
        ([*common, "--audiosep", str(tmp_path / "nope.ckpt"), "--clap", str(audiosep["clap"])],
         "is not a file"),
        ([*common, "--audiosep", str(audiosep["sep"]), "--clap", str(audiosep["clap"])],
         "another model size"),
        ([*common[:3], "a dog barking loudly in the rain " * 80, *common[4:], "--audiosep",
          str(audiosep["sep"]), "--clap", str(audiosep["clap"]), "--clap-model",
          "HTSAT-tiny"], "tokens long"),
    ]
    for argv, message in cases:
        status, err = _cli(capsys, *argv)
        assert status == 2, (argv, err)
        assert message in err and len(err.splitlines()) == 1, err


# ------------------------------------------------------------------------- downloads
class _Files(http.server.BaseHTTPRequestHandler):
    payloads: dict[str, bytes] = {}
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (the name http.server expects)
        type(self).requests.append(self.path)
        body = self.payloads.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def hub(monkeypatch):
    payloads = {pretrained.AUDIOSEP_SEPARATOR.name: b"separator" * 1000,
                pretrained.AUDIOSEP_CLAP.name: b"clap" * 3000}
    _Files.payloads, _Files.requests = payloads, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    for attr in ("AUDIOSEP_SEPARATOR", "AUDIOSEP_CLAP"):  # the test files' own checksums
        file = getattr(pretrained, attr)
        monkeypatch.setattr(pretrained, attr, dataclasses.replace(
            file, sha256=hashlib.sha256(payloads[file.name]).hexdigest()))
    yield f"http://127.0.0.1:{httpd.server_address[1]}/checkpoint", payloads
    httpd.shutdown()
    httpd.server_close()


def test_released_files_are_recorded():
    for file in (pretrained.AUDIOSEP_SEPARATOR, pretrained.AUDIOSEP_CLAP):
        assert file.url == f"{pretrained.HUB_BASE}/{file.name}"
        assert len(file.sha256) == 64 and int(file.sha256, 16) >= 0
    assert pretrained.AUDIOSEP_CLAP.size == 2_352_471_003


def test_fetch_audiosep_downloads_verifies_and_caches(hub, tmp_path):
    base, payloads = hub
    sep, clap = pretrained.fetch_audiosep(tmp_path, progress=False, base_url=base)
    assert sep == tmp_path / "audiosep" / pretrained.AUDIOSEP_SEPARATOR.name
    assert clap == tmp_path / "audiosep" / pretrained.AUDIOSEP_CLAP.name
    assert sep.read_bytes() == payloads[sep.name] and clap.read_bytes() == payloads[clap.name]
    assert len(_Files.requests) == 2
    assert pretrained.fetch_audiosep(tmp_path, progress=False, base_url=base) == (sep, clap)
    assert len(_Files.requests) == 2  # cached: nothing fetched again


def test_fetch_audiosep_checksum_mismatch(hub, tmp_path, monkeypatch):
    base, _ = hub
    monkeypatch.setattr(pretrained, "AUDIOSEP_CLAP", dataclasses.replace(
        pretrained.AUDIOSEP_CLAP, sha256="0" * 64))
    with pytest.raises(ValueError, match="(?i)sha-?256|checksum"):
        pretrained.fetch_audiosep(tmp_path, progress=False, base_url=base)
    assert not (tmp_path / "audiosep" / pretrained.AUDIOSEP_CLAP.name).exists()


def test_fetch_without_checksum_warns_once(hub, tmp_path, monkeypatch):
    base, payloads = hub
    monkeypatch.setattr(pretrained, "AUDIOSEP_SEPARATOR", dataclasses.replace(
        pretrained.AUDIOSEP_SEPARATOR, sha256=None))
    with pytest.warns(UserWarning, match="no published SHA-256") as caught:
        sep, _ = pretrained.fetch_audiosep(tmp_path, progress=False, base_url=base)
    assert len(caught) == 1 and sep.read_bytes() == payloads[sep.name]


def test_fetch_offline_is_one_line(tmp_path):
    closed = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there
    with pytest.raises(DownloadError) as info:
        pretrained.fetch_audiosep(tmp_path, progress=False, base_url=f"http://127.0.0.1:{port}")
    message = str(info.value)
    assert "audiosep_base_4M_steps.ckpt" in message and "\n" not in message


# ------------------------------------------------------------------------- ESC-50 list
def _write_layout(root, rows, released_idx=()):
    """ESC-50-named clips (1 s at 44.1 kHz; ESC-50's own last 5 s) and, for ``released_idx``,
    AudioSep's released ``mixture-<idx>.wav``/``segment-<idx>.wav`` at 32 kHz."""
    root.mkdir()
    for k, (_, _, src, noise) in enumerate(rows):
        for j, name in enumerate((src, noise)):
            g = torch.Generator().manual_seed(10 * k + j)
            t = torch.arange(44100) / 44100
            wave = 0.2 * torch.sin(2 * math.pi * (300 + 400 * j + 50 * k) * t)
            wave = wave + 0.05 * torch.randn(t.shape[0], generator=g)
            sf.write(root / name, wave.numpy(), 44100, subtype="FLOAT")
    for idx in released_idx:
        g = torch.Generator().manual_seed(100 + int(idx))
        segment = 0.1 * torch.randn(SR, generator=g)
        mixture = segment + 0.1 * torch.randn(SR, generator=g)
        sf.write(root / f"segment-{idx}.wav", segment.numpy(), SR, subtype="FLOAT")
        sf.write(root / f"mixture-{idx}.wav", mixture.numpy(), SR, subtype="FLOAT")


ROWS = [("0", "dog", "1-100032-A-0.wav", "5-207836-D-29.wav"),
        ("1", "rain", "1-17367-A-10.wav", "2-32515-D-4.wav"),
        ("2", "dog", "1-110389-A-0.wav", "2-182508-B-8.wav")]


def _write_csv(path, rows=ROWS):
    path.write_text("idx,caption,src_wav,noise_wav\n"
                    + "".join(",".join(r) + "\n" for r in rows))


def _db(x):
    return 10 * np.log10(x)


def _audiosep_scores(estimate, source, mixture):
    """AudioSep's ``calculate_sdr`` and ``calculate_sisdr`` (float32 ε), written out."""
    est, ref, mix = (np.asarray(a, dtype=np.float64) for a in (estimate, source, mixture))

    def sdr(e):
        return _db(max(np.mean(ref**2), 1e-10) / max(np.mean((e - ref) ** 2), 1e-10))

    eps = np.finfo(np.float32).eps
    a = (eps + ref @ est) / (ref @ ref + eps)
    si = _db((eps + np.sum((a * ref) ** 2)) / (eps + np.sum((est - a * ref) ** 2)))
    return sdr(est) - sdr(mix), si


def test_audiosep_mix_is_its_segment_mixer_at_0db():
    g = torch.Generator().manual_seed(0)
    segment, noise = 0.3 * torch.randn(1000, generator=g), 2.0 * torch.randn(1000, generator=g)
    mixture, seg = audiosep_mix(segment, noise)
    ratio = math.sqrt(float((noise**2).mean() / (segment**2).mean()))
    expect = segment + noise / ratio
    peak = float(expect.abs().max())
    assert peak > 1  # so the declipping is exercised
    torch.testing.assert_close(mixture, expect * 0.9 / peak)
    torch.testing.assert_close(seg, segment * 0.9 / peak)
    # the ratio is clamped to [0.02, 50]: a near-silent noise is raised 50 times at most
    quiet = 1e-6 * torch.randn(1000, generator=g)
    mixture, _ = audiosep_mix(0.01 * segment, quiet)
    torch.testing.assert_close(mixture, 0.01 * segment + quiet / 0.02)


def test_evaluate_audiosep_list_scores_as_audiosep(audiosep, tmp_path):
    from lassnet.audio import load_audio

    root = tmp_path / "esc50"
    _write_layout(root, ROWS, released_idx=("1",))
    csv_path = tmp_path / "esc50_eval.csv"
    _write_csv(csv_path)
    model = audiosep["model"]
    report = evaluate_audiosep_list(model, csv_path, root, progress=False)
    assert [r["mixed"] for r in report.rows] == ["esc50", "released", "esc50"]
    for row, (idx, caption, src, noise) in zip(report.rows, ROWS, strict=True):
        if row["mixed"] == "released":
            mixture = load_audio(root / f"mixture-{idx}.wav", SR)[0][0]
            source = load_audio(root / f"segment-{idx}.wav", SR)[0][0]
        else:
            source = load_audio(root / src, SR)[0][0]
            mixture, source = audiosep_mix(source, load_audio(root / noise, SR)[0][0])
        estimate = model.separate(mixture, SR, caption, precision="float32")
        sdri, si = _audiosep_scores(estimate, source, mixture)
        assert row["caption"] == caption
        assert row["sdri"] == pytest.approx(sdri, abs=1e-3)
        assert row["si_sdr"] == pytest.approx(si, abs=1e-3)
    summary = report.summary()
    assert summary["n"] == 3
    assert summary["sdri"] == pytest.approx(np.mean([r["sdri"] for r in report.rows]))
    assert "ESC-50 Avg SDRi" in report.to_text()
    assert len(evaluate_audiosep_list(model, csv_path, root, limit=1, progress=False).rows) == 1


def test_audiosep_list_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="idx,caption,src_wav,noise_wav"):
        read_audiosep_list(bad)
    with pytest.raises(ValueError, match="does not exist"):
        read_audiosep_list(tmp_path / "none.csv")
    good = tmp_path / "good.csv"
    _write_csv(good)
    assert read_audiosep_list(good)[1] == dict(zip(("idx", "caption", "src_wav", "noise_wav"),
                                                   ROWS[1], strict=True))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="1-100032-A-0.wav"):  # before any separation
        evaluate_audiosep_list(None, good, tmp_path / "empty", progress=False)


def test_cli_evaluate_audiosep_list(audiosep, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(audiosep["folder"])
    root = tmp_path / "esc50"
    _write_layout(root, ROWS[:1])
    csv_path = tmp_path / "esc50_eval.csv"
    _write_csv(csv_path, ROWS[:1])
    model_args = ["--audiosep", str(audiosep["sep"]), "--clap", str(audiosep["clap"]),
                  "--clap-model", "HTSAT-tiny"]
    out = tmp_path / "report.json"
    status = main(["evaluate", "--audiosep-list", str(csv_path), "--data-root", str(root),
                   *model_args, "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "ESC-50 Avg SDRi" in captured.out and out.is_file()
    cases = [
        (["--audiosep-list", str(csv_path), *model_args], "needs --data-root"),
        (["--audiosep-list", str(csv_path), "--data-root", str(root), "--dataset", "esc50",
          *model_args], "leave out --dataset"),
        (["--audiosep-list", str(tmp_path / "none.csv"), "--data-root", str(root),
          *model_args], "does not exist"),
        (["--audiosep-list", str(csv_path), "--data-root", str(root), "--audiosep",
          str(audiosep["sep"])], "--audiosep needs --clap"),
        (["--limit", "3"], "--limit applies to --audiosep-list"),
        (["--precision", "bfloat16"], "--precision applies to --audiosep-list"),
    ]
    for argv, message in cases:
        status, err = _cli(capsys, "evaluate", *argv)
        assert status == 2, (argv, err)
        assert message in err and len(err.splitlines()) == 1, err
