"""Training the audio tower (lassnet.train_query): losses, held-out retrieval, the loop, the
command line."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lassnet import cli, data, query, train_query
from lassnet.query import audio_tower as at

SMALL_TOWER = at.AudioEncoderConfig(channels=(4, 8, 8, 8, 8), hidden=32)


@pytest.fixture(scope="module")
def shipped():
    return query.build("minilm-audio", device="cpu")


# ----------------------------------------------------------------------------- retrieval
def test_shipped_weights_retrieve_the_right_class(shipped):
    """Zero-shot: a test-split clip's embedding is nearest to its own class's captions."""
    result = train_query.retrieval_accuracy(shipped, "test", per_class=4, duration=2.0, seed=1)
    assert result["clips"] == 4 * len(data.CLASSES)
    assert result["classes"] == list(data.CLASSES)
    assert result["top1"] >= 0.8, result["confusion"]
    assert result["top1_caption"] >= 0.7
    confusion = torch.tensor(result["confusion"])
    assert confusion.shape == (14, 14)
    assert (confusion.sum(dim=1) == 4).all()  # every clip counted once, in its own row
    assert confusion.trace() / confusion.sum() == pytest.approx(result["top1"])


# ----------------------------------------------------------------------------- losses
def test_contrastive_loss_is_clap_loss_with_distinct_classes():
    torch.manual_seed(0)
    audio = F.normalize(torch.randn(5, 8), dim=-1)
    text = F.normalize(torch.randn(5, 8), dim=-1)
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    loss = train_query.contrastive_loss(audio, text, torch.arange(5), scale)
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
    loss = train_query.contrastive_loss
    # audio equal to the class's mean caption scores well; swapping classes scores badly
    means = F.normalize(torch.stack([text[:2].mean(0), text[:2].mean(0),
                                     text[2:].mean(0), text[2:].mean(0)]), dim=-1)
    assert loss(means, text, labels, scale) < loss(means.flip(0), text, labels, scale)
    # which caption of its class a clip was paired with does not matter (both are positives);
    # for CLAP's one-positive loss it would
    torch.manual_seed(1)
    audio = F.normalize(torch.randn(4, 8), dim=-1)
    swapped = text[[1, 0, 3, 2]]
    torch.testing.assert_close(loss(audio, text, labels, scale),
                               loss(audio, swapped, labels, scale))
    distinct = torch.arange(4)
    assert not torch.isclose(loss(audio, text, distinct, scale),
                             loss(audio, swapped, distinct, scale))


def test_alignment_loss_is_one_minus_cosine():
    torch.manual_seed(2)
    audio = F.normalize(torch.randn(3, 8), dim=-1)
    protos = F.normalize(torch.randn(3, 8), dim=-1)
    expect = (1 - F.cosine_similarity(audio, protos)).mean()
    torch.testing.assert_close(train_query.alignment_loss(audio, protos), expect)
    assert float(train_query.alignment_loss(audio, audio)) == pytest.approx(0.0, abs=1e-6)
    assert float(train_query.alignment_loss(audio, -audio)) == pytest.approx(2.0, abs=1e-6)


# ----------------------------------------------------------------------------- batches
def test_train_batches_are_class_balanced_and_deterministic():
    s = train_query.TrainSettings(batch_size=28, min_seconds=0.5, max_seconds=0.75,
                                  config=SMALL_TOWER)
    waves, labels, captions = train_query._train_batch(3, s, data.CLASSES, 0)
    assert waves.shape[0] == 28 and waves.dim() == 2
    assert 0.5 * 16000 <= waves.shape[1] <= 0.75 * 16000
    assert torch.bincount(labels, minlength=14).tolist() == [2] * 14
    for label, caption in zip(labels.tolist(), captions, strict=True):
        assert caption in data.CAPTIONS[data.CLASSES[label]]
    again = train_query._train_batch(3, s, data.CLASSES, 0)
    torch.testing.assert_close(again[0], waves)
    assert not torch.equal(train_query._train_batch(4, s, data.CLASSES, 0)[1], labels)


def test_spec_mask_fills_one_band_and_one_span_per_clip():
    torch.manual_seed(3)
    logmel = torch.randn(4, 1, 16, 24)  # (B, 1, F, T)
    original = logmel.clone()
    masked_cells = 0
    for seed in range(3):
        out = train_query._spec_mask(logmel, torch.Generator().manual_seed(seed))
        assert torch.equal(logmel, original)  # a new tensor: the input is untouched
        for i in range(4):
            masked = out[i, 0] != logmel[i, 0]  # (F, T)
            bands = masked.all(dim=1, keepdim=True)  # (F, 1): whole mel bands
            spans = masked.all(dim=0, keepdim=True)  # (1, T): whole frame spans
            assert torch.equal(masked, bands | spans)  # nothing but bands and spans
            assert bands.sum() <= 16 // 8 and spans.sum() <= 24 // 8  # at most 1/8 of each
            fill = logmel[i].mean()
            torch.testing.assert_close(out[i, 0][masked], fill.expand(int(masked.sum())))
            masked_cells += int(masked.sum())
    assert masked_cells > 0


# ----------------------------------------------------------------------------- the loop
def test_training_runs_records_and_loads(tmp_path):
    out = tmp_path / "tower.pt"
    report = train_query.train_audio_encoder(
        out, steps=3, batch_size=14, seed=5, progress=False, eval_every=2, eval_per_class=1,
        test_per_class=1, min_seconds=0.5, max_seconds=0.75, config=SMALL_TOWER,
    )
    assert out.is_file() and report["path"] == str(out)
    assert [h["step"] for h in report["history"]] == [1, 2, 3]
    assert all(math.isfinite(h["loss"]) for h in report["history"])
    assert math.isnan(report["history"][0]["val_top1"])  # first validation after step 2
    assert 0.0 <= report["test"]["top1"] <= 1.0
    encoder = query.build("minilm-audio", weights=out, device="cpu")
    assert encoder.metadata["seed"] == 5
    assert encoder.metadata["command"] == (
        f"python -m lassnet.train_query --out {out} --steps 3 --batch-size 14 --seed 5"
    )
    assert encoder.metadata["train"]["steps"] == 3
    emb = encoder.embed_audio(torch.randn(2, 1, 8000) * 0.1, 16000)
    assert emb.shape == (2, 384)
    # another text model than the one it was trained against is refused
    tower, meta = at.load_audio_tower(out)
    meta["probe_embedding"] = (-torch.tensor(meta["probe_embedding"])).tolist()
    at.save_audio_tower(tower, tmp_path / "mismatch.pt", meta)
    with pytest.raises(ValueError, match="another text model"):
        query.build("minilm-audio", weights=tmp_path / "mismatch.pt", device="cpu")


def test_default_steps_do_not_follow_the_fast_switch(monkeypatch):
    import inspect

    monkeypatch.setenv("LASSNET_FAST", "1")
    assert inspect.signature(train_query.train_audio_encoder).parameters["steps"].default == 1500
    assert train_query.TrainSettings().steps == 1500
    parser_default = []
    monkeypatch.setattr(train_query, "train_audio_encoder",
                        lambda **kw: parser_default.append(kw) or {
                            "test": {"top1": 1.0, "top1_caption": 1.0, "clips": 1},
                            "path": "x", "train_seconds": 0.0})
    train_query.main(["--out", "x.pt", "--no-progress"])
    assert parser_default[0]["steps"] == 1500
    assert parser_default[0]["command"] == "python -m lassnet.train_query --out x.pt --no-progress"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps must be a whole number >= 1, got 0"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"batch_size": 1}, "batch_size must be a whole number >= 2"),
        ({"min_seconds": 0.1}, r"config.min_seconds <= min_seconds <= max_seconds, got 0.25"),
        ({"learning_rate": 1e-3}, "does not take learning_rate"),
    ],
)
def test_training_settings_are_checked(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        train_query.train_audio_encoder(tmp_path / "t.pt", progress=False, **kwargs)
    assert not (tmp_path / "t.pt").exists()


def test_lassnet_train_query_passes_every_argument_on(monkeypatch):
    seen = []
    monkeypatch.setattr(train_query, "main", seen.append)
    assert cli.main(["train-query", "--out", "t.pt", "--steps", "2", "--seed", "1"]) == 0
    assert seen == [["--out", "t.pt", "--steps", "2", "--seed", "1"]]
