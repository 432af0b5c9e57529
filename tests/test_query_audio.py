"""The audio tower and the 'minilm-audio' encoder: the shipped weights, the tower, its files."""

from __future__ import annotations

import pytest
import torch

from lassnet import data, query
from lassnet.checkpoint import CheckpointError
from lassnet.query import audio_tower as at
from lassnet.query.minilm_audio import MiniLMAudioEncoder


@pytest.fixture(scope="module")
def shipped():
    path = at.default_weights_path()
    if not path.is_file():
        pytest.fail(f"the shipped audio-encoder weights are missing: {path}")
    return query.build("minilm-audio", device="cpu")


def test_shipped_encoder_shapes_and_space(shipped):
    assert isinstance(shipped, MiniLMAudioEncoder)
    assert shipped.dim == 384 and shipped.supports_audio
    assert shipped.audio_sample_rate == 16000
    clip = data.synthesize("siren", 12345, 32000, 1.5)  # 32 kHz: resampled inside
    emb = shipped.embed_audio(torch.from_numpy(clip)[None, None], 32000)
    assert emb.shape == (1, 384)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(1))
    text = shipped.embed_text(["a siren wailing", "rain falling", "a clock ticking"])
    assert (emb @ text.T).argmax() == 0  # the audio lands next to its caption
    meta = shipped.metadata
    # the command that made the file, spelled as it runs today
    assert meta["command"] == (
        "python -m lassnet.train_query --out data/audio_encoder_minilm.pt --seed 0"
    )
    assert isinstance(meta["seed"], int) and meta["test_top1"] >= 0.9
    assert meta["train"]["steps"] == 1500 and meta["test_clips"] == 420
    size_mb = at.default_weights_path().stat().st_size / 2**20
    assert size_mb < 5


def test_shipped_text_side_is_minilm(shipped):
    minilm = query.build("minilm", device="cpu")
    texts = ["a bell ringing", "wind blowing"]
    torch.testing.assert_close(shipped.embed_text(texts), minilm.embed_text(texts))
    assert not any(p.requires_grad for p in shipped.parameters())


def test_registry_spellings_reach_the_audio_encoder(shipped):
    for name in ("minilm_audio", " MiniLM-Audio ", "MINILM_AUDIO"):
        encoder = query.build(name, device="cpu")
        assert isinstance(encoder, MiniLMAudioEncoder) and encoder.name == "minilm-audio"
    torch.testing.assert_close(encoder.tower.state_dict()["head.2.weight"],
                               shipped.tower.state_dict()["head.2.weight"])


# ----------------------------------------------------------------------------- the tower
def test_tower_takes_any_length_and_ignores_level():
    torch.manual_seed(0)
    tower = at.AudioTower().eval()
    for seconds in (0.25, 1.0, 3.3):
        wave = torch.randn(2, int(16000 * seconds))
        assert tower(wave).shape == (2, 384)
    clip = torch.from_numpy(data.synthesize("rain", 7, 16000, 1.0))[None]
    torch.testing.assert_close(tower(clip), tower(0.1 * clip), rtol=1e-3, atol=1e-3)


def test_tower_logmel_and_embedding_shapes():
    tower = at.AudioTower(at.AudioEncoderConfig(channels=(4, 8, 8, 8, 8), hidden=16)).eval()
    wave = torch.randn(3, 16000)
    logmel = tower.logmel(wave)
    assert logmel.shape == (3, 1, 64, 16000 // 320 + 1)  # (B, 1, F, T): 20 ms frames
    torch.testing.assert_close(tower.embed_logmel(logmel), tower(wave))
    assert tower(wave).shape == (3, 384)


def test_config_is_checked():
    with pytest.raises(ValueError, match="Nyquist"):
        at.AudioEncoderConfig(f_max=9000.0)
    with pytest.raises(ValueError, match="pooled"):
        at.AudioEncoderConfig(n_mels=16)
    with pytest.raises(ValueError, match="positive"):
        at.AudioEncoderConfig(channels=(8, 0, 8, 8, 8))


# ----------------------------------------------------------------------------- files
def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    tower = at.AudioTower(at.AudioEncoderConfig(channels=(4, 8, 8, 8, 8), hidden=16)).eval()
    path = at.save_audio_tower(tower, tmp_path / "t.pt", {"command": "x", "seed": 3})
    loaded, meta = at.load_audio_tower(path)
    assert meta == {"command": "x", "seed": 3}
    assert loaded.config == tower.config
    assert not loaded.training
    wave = torch.randn(1, 8000)
    torch.testing.assert_close(loaded(wave), tower(wave))
    with pytest.raises(CheckpointError, match="python -m lassnet.train_query --out"):
        at.load_audio_tower(tmp_path / "missing.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an audio-tower file"):
        at.load_audio_tower(tmp_path / "other.pt")


def test_weights_path_follows_lassnet_data(tmp_path, monkeypatch):
    monkeypatch.setenv("LASSNET_DATA", str(tmp_path))
    assert at.default_weights_path() == tmp_path / at.WEIGHTS_NAME
    with pytest.raises(CheckpointError, match="train them"):
        query.build("minilm-audio", device="cpu")


def test_encoder_refuses_a_tower_of_another_width(tmp_path):
    tower = at.AudioTower(at.AudioEncoderConfig(channels=(4, 8, 8, 8, 8), hidden=16, dim=32))
    path = at.save_audio_tower(tower, tmp_path / "narrow.pt", {"command": "x", "seed": 0})
    with pytest.raises(ValueError, match="32-d embeddings but the text model gives 384-d"):
        query.build("minilm-audio", weights=path, device="cpu")
