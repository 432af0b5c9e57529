"""The audio tower aligned to MiniLM: the shipped weights, the loss, files and training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lassnet import data, query
from lassnet.checkpoint import CheckpointError
from lassnet.query import audio_encoder as ae


@pytest.fixture(scope="module")
def shipped():
    path = ae.default_weights_path()
    if not path.is_file():
        pytest.fail(f"the shipped audio-encoder weights are missing: {path}")
    return query.load("minilm-audio", device="cpu")


def test_shipped_weights_retrieve_the_right_class(shipped):
    """Zero-shot: a test-split clip's embedding is nearest to its own class's captions."""
    result = ae.zero_shot_accuracy(shipped, "test", per_class=4, duration=2.0, seed=1)
    assert result["clips"] == 4 * len(data.CLASSES)
    assert result["top1"] >= 0.8, result["confusion"]
    assert result["top1_caption"] >= 0.7


def test_shipped_encoder_shapes_and_space(shipped):
    assert shipped.dim == 384 and shipped.supports_audio
    assert shipped.audio_sample_rate == 16000
    clip = data.synthesize("siren", 12345, 32000, 1.5)  # 32 kHz: resampled inside
    emb = shipped.embed_audio(torch.from_numpy(clip)[None, None], 32000)
    assert emb.shape == (1, 384)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(1))
    text = shipped.embed_text(["a siren wailing", "rain falling", "a clock ticking"])
    assert (emb @ text.T).argmax() == 0  # the audio lands next to its caption
    meta = shipped.metadata
    assert meta["command"].startswith("python -m lassnet.query.audio_encoder")
    assert isinstance(meta["seed"], int) and meta["test_top1"] >= 0.9
    size_mb = ae.default_weights_path().stat().st_size / 2**20
    assert size_mb < 5


def test_shipped_text_side_is_minilm(shipped):
    minilm = query.load("minilm", device="cpu")
    texts = ["a bell ringing", "wind blowing"]
    torch.testing.assert_close(shipped.embed_text(texts), minilm.embed_text(texts))
    assert not any(p.requires_grad for p in shipped.parameters())


# ----------------------------------------------------------------------------- the tower
def test_tower_takes_any_length_and_ignores_level():
    torch.manual_seed(0)
    tower = ae.AudioTower().eval()
    for seconds in (0.25, 1.0, 3.3):
        wave = torch.randn(2, int(16000 * seconds))
        assert tower(wave).shape == (2, 384)
    clip = torch.from_numpy(data.synthesize("rain", 7, 16000, 1.0))[None]
    torch.testing.assert_close(tower(clip), tower(0.1 * clip), rtol=1e-3, atol=1e-3)


def test_contrastive_loss_is_clap_loss_with_distinct_classes():
    torch.manual_seed(0)
    audio = F.normalize(torch.randn(5, 8), dim=-1)
    text = F.normalize(torch.randn(5, 8), dim=-1)
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    loss = ae.contrastive_loss(audio, text, torch.arange(5), scale)
    logits = scale.exp() * audio @ text.T
    expect = 0.5 * (F.cross_entropy(logits, torch.arange(5))
                    + F.cross_entropy(logits.T, torch.arange(5)))
    torch.testing.assert_close(loss, expect)
    loss.backward()
    assert scale.grad is not None  # the temperature is learned


def test_contrastive_loss_counts_same_class_pairs_as_positives():
    text = F.normalize(torch.randn(4, 8), dim=-1)
    labels = torch.tensor([0, 0, 1, 1])
    scale = torch.tensor(math.log(100.0))
    # audio equal to the class's mean caption scores well; swapping classes scores badly
    means = F.normalize(torch.stack([text[:2].mean(0), text[:2].mean(0),
                                     text[2:].mean(0), text[2:].mean(0)]), dim=-1)
    good = ae.contrastive_loss(means, text, labels, scale)
    bad = ae.contrastive_loss(means.flip(0), text, labels, scale)
    assert good < bad
    # which caption of its class a clip was paired with does not matter (both are positives);
    # for CLAP's one-positive loss it would
    torch.manual_seed(1)
    audio = F.normalize(torch.randn(4, 8), dim=-1)
    swapped = text[[1, 0, 3, 2]]
    torch.testing.assert_close(ae.contrastive_loss(audio, text, labels, scale),
                               ae.contrastive_loss(audio, swapped, labels, scale))
    distinct = torch.arange(4)
    assert not torch.isclose(ae.contrastive_loss(audio, text, distinct, scale),
                             ae.contrastive_loss(audio, swapped, distinct, scale))


def test_config_is_checked():
    with pytest.raises(ValueError, match="Nyquist"):
        ae.AudioEncoderConfig(f_max=9000.0)
    with pytest.raises(ValueError, match="pooled"):
        ae.AudioEncoderConfig(n_mels=16)


# ----------------------------------------------------------------------------- files
def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    tower = ae.AudioTower(ae.AudioEncoderConfig(channels=(4, 8, 8, 8, 8), hidden=16)).eval()
    path = ae.save_audio_tower(tower, tmp_path / "t.pt", {"command": "x", "seed": 3})
    loaded, meta = ae.load_audio_tower(path)
    assert meta == {"command": "x", "seed": 3}
    assert loaded.config == tower.config
    wave = torch.randn(1, 8000)
    torch.testing.assert_close(loaded(wave), tower(wave))
    with pytest.raises(CheckpointError, match="lassnet.query.audio_encoder"):
        ae.load_audio_tower(tmp_path / "missing.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an audio-tower file"):
        ae.load_audio_tower(tmp_path / "other.pt")


def test_weights_path_follows_lassnet_data(tmp_path, monkeypatch):
    monkeypatch.setenv("LASSNET_DATA", str(tmp_path))
    assert ae.default_weights_path() == tmp_path / ae.WEIGHTS_NAME
    with pytest.raises(CheckpointError, match="train them"):
        query.load("minilm-audio", device="cpu")


# ----------------------------------------------------------------------------- training
def test_training_runs_records_and_loads(tmp_path):
    out = tmp_path / "tower.pt"
    report = ae.train_audio_encoder(
        out, steps=3, batch_size=14, seed=5, progress=False, eval_every=2, eval_per_class=1,
        test_per_class=1, min_seconds=0.5, max_seconds=0.75,
        config=ae.AudioEncoderConfig(channels=(4, 8, 8, 8, 8), hidden=32),
    )
    assert out.is_file() and report["path"] == str(out)
    assert [h["step"] for h in report["history"]] == [1, 2, 3]
    assert all(math.isfinite(h["loss"]) for h in report["history"])
    assert 0.0 <= report["test"]["top1"] <= 1.0
    encoder = query.load("minilm-audio", weights=out, device="cpu")
    assert encoder.metadata["seed"] == 5
    assert "--seed 5" in encoder.metadata["command"]
    assert encoder.metadata["train"]["steps"] == 3
    emb = encoder.embed_audio(torch.randn(2, 1, 8000) * 0.1, 16000)
    assert emb.shape == (2, 384)
    # another text model than the one it was trained against is refused
    tower, meta = ae.load_audio_tower(out)
    meta["probe_embedding"] = (-torch.tensor(meta["probe_embedding"])).tolist()
    ae.save_audio_tower(tower, tmp_path / "mismatch.pt", meta)
    with pytest.raises(ValueError, match="another text model"):
        query.load("minilm-audio", weights=tmp_path / "mismatch.pt", device="cpu")
