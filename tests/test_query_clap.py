"""The 'clap' query encoder, offline.

The ``clap_env`` fixture writes a tiny random-weight ``roberta-base/`` folder (a BPE tokenizer
trained on a few captions, a one-layer RoBERTa of width 768), constructs laion-clap's real
``CLAP_Module`` (HTS-AT tiny) beside it, saves its weights as the released checkpoints are laid
out, and loads them back through ``lassnet.query.build("clap", ...)``; our embeddings must equal
laion-clap's own. The tests using ``clap_env`` build real CLAP models (about 10-20 s in all on
a 2-core CPU, once per run); the others take a second together.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys

import numpy as np
import pytest
import torch

from lassnet import query
from lassnet.checkpoint import CheckpointError
from lassnet.query import clap as clap_backend
from lassnet.testing import laion_clap_tiny, released_clap_state, write_random_roberta

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
if importlib.util.find_spec("laion_clap") is None:
    pytest.skip("laion-clap is not installed", allow_module_level=True)

CAPTIONS = [
    "a siren wailing",
    "an ambulance siren",
    "rain falling on a roof",
    "a telephone ringing",
    "a dog barking",
    "birds chirping in the morning",
    "a bell tolling",
]


@pytest.fixture(scope="module")
def clap_env(tmp_path_factory):
    """A tiny CLAP: laion-clap's own module, its checkpoint files, and our encoder."""
    folder = tmp_path_factory.mktemp("clap")
    write_random_roberta(folder, CAPTIONS)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        reference = laion_clap_tiny()
        weights = reference.model.state_dict()
        released = released_clap_state(reference)
        released_path = folder / "released.pt"
        torch.save({"epoch": 15, "state_dict": released, "esc": np.float64(0.8998)},
                   released_path)
        bare_path = folder / "bare.pt"
        torch.save(weights, bare_path)
        encoder = query.build("clap", checkpoint=released_path, device="cpu")
    return {
        "folder": folder,
        "reference": reference,
        "encoder": encoder,
        "released": released_path,
        "bare": bare_path,
    }


# ------------------------------------------------------------------------- real CLAP models
def test_clap_text_matches_laion_clap(clap_env):
    encoder, reference = clap_env["encoder"], clap_env["reference"]
    assert encoder.dim == 512
    assert encoder.amodel == "HTSAT-tiny"
    assert encoder.dropped_keys == ["text_branch.embeddings.position_ids"]
    ours = encoder.embed_text(CAPTIONS[:3])
    with torch.no_grad():
        theirs = reference.get_text_embedding(CAPTIONS[:3], use_tensor=True)
    assert ours.shape == (3, 512)
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    # different captions give different embeddings (the text tower is really used)
    assert (ours[0] - ours[2]).abs().max() > 1e-3


def test_clap_audio_matches_laion_clap_and_resamples(clap_env):
    encoder, reference = clap_env["encoder"], clap_env["reference"]
    t = torch.arange(480000) / 48000
    clip = 0.3 * torch.sin(2 * math.pi * 440 * t * (1 + 0.5 * t))  # 10 s chirp at 48 kHz
    ours = encoder.embed_audio(clip[None, None], 48000)
    with torch.no_grad():
        theirs = reference.get_audio_embedding_from_data(x=clip[None], use_tensor=True)
    assert ours.shape == (1, 512)
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(1))
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    # a 16 kHz query is resampled to 48 kHz; (B, L) and numpy inputs are accepted
    import torchaudio

    low = torchaudio.functional.resample(clip, 48000, 16000)
    from16k = encoder.embed_audio(low[None].numpy(), 16000)
    expect = encoder.embed_audio(torchaudio.functional.resample(low, 16000, 48000)[None], 48000)
    torch.testing.assert_close(from16k, expect)


def test_clap_bare_state_dict_and_size_check(clap_env, monkeypatch):
    monkeypatch.chdir(clap_env["folder"])
    encoder = query.build("clap", checkpoint=clap_env["bare"], device="cpu", amodel="HTSAT-tiny")
    assert encoder.dropped_keys == []
    texts = ["a bell tolling"]
    torch.testing.assert_close(encoder.embed_text(texts), clap_env["encoder"].embed_text(texts))
    with pytest.raises(ValueError, match="another model size"):
        query.build("clap", checkpoint=clap_env["bare"], device="cpu", amodel="HTSAT-base")


def test_clap_cache_serves_repeats(clap_env, monkeypatch):
    encoder = clap_env["encoder"]
    encoder.clear_cache()
    first = encoder.embed_text(["a dog barking"])
    calls = []
    original = encoder.model.get_text_embedding
    monkeypatch.setattr(encoder.model, "get_text_embedding",
                        lambda batch: calls.append(1) or original(batch))
    again = encoder.embed_text(["a dog barking", "a dog barking"])
    assert calls == []
    torch.testing.assert_close(again, first.expand(2, -1))


# ------------------------------------------------------------------------- fast: errors, files
def test_clap_needs_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="needs a checkpoint"):
        query.build("clap")
    with pytest.raises(CheckpointError, match="does not exist"):
        query.build("clap", checkpoint=tmp_path / "nope.pt")


def test_clap_without_laion_clap_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    torch.save({"audio_branch.x": torch.zeros(1), "text_branch.y": torch.zeros(1)}, path)
    monkeypatch.delitem(sys.modules, "clap_module", raising=False)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "laion_clap" else real_find_spec(name, *a),
    )
    with pytest.raises(ImportError, match=r"lassnet\[clap\]"):
        query.build("clap", checkpoint=path)


def _tiny_state(width: int = 96) -> dict:
    return {
        "audio_branch.patch_embed.proj.weight": torch.zeros(width, 1, 4, 4),
        "text_branch.embeddings.word_embeddings.weight": torch.zeros(10, 4),
    }


def test_read_checkpoint_layouts_and_pickle_protocols(tmp_path):
    state = _tiny_state()
    released = {"state_dict": {"module." + k: v for k, v in state.items()}, "epoch": 3,
                "esc": np.float64(0.9), "steps": np.int64(7)}
    for protocol in (2, 4):
        path = tmp_path / f"released{protocol}.pt"
        torch.save(released, path, pickle_protocol=protocol)
        got = clap_backend.read_checkpoint(path)
        assert sorted(got) == sorted(state)
    bare = tmp_path / "bare.pt"
    torch.save(state, bare)
    assert sorted(clap_backend.read_checkpoint(bare)) == sorted(state)
    assert clap_backend.describe_checkpoint(state) == {"amodel": "HTSAT-tiny", "fusion": False}
    assert clap_backend.describe_checkpoint(_tiny_state(128))["amodel"] == "HTSAT-base"


class _Payload:
    """Unpickling this would create a file: the loader must refuse before that happens."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize("protocol", [2, 4])
def test_read_checkpoint_never_runs_code(tmp_path, protocol):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": _tiny_state(), "hook": _Payload(marker)}, path,
               pickle_protocol=protocol)
    with pytest.raises(CheckpointError, match="refused.*mkdir"):
        clap_backend.read_checkpoint(path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused.*mkdir"):
        query.build("clap", checkpoint=path)
    assert not marker.exists()


def test_other_checkpoints_are_refused_clearly(tmp_path):
    not_clap = tmp_path / "separator.pt"
    torch.save({"state_dict": {"encoder.conv.weight": torch.zeros(2)}}, not_clap)
    with pytest.raises(ValueError, match="not a LAION-CLAP checkpoint"):
        query.build("clap", checkpoint=not_clap)
    fusion = tmp_path / "fusion.pt"
    state = dict(_tiny_state(), **{"audio_branch.patch_embed.fusion_model.w": torch.zeros(1)})
    torch.save(state, fusion)
    with pytest.raises(ValueError, match="feature-fusion"):
        query.build("clap", checkpoint=fusion)
    base = tmp_path / "base.pt"
    torch.save(_tiny_state(128), base)
    with pytest.raises(ValueError, match="another model size"):
        query.build("clap", checkpoint=base, amodel="HTSAT-tiny")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError):
        query.build("clap", checkpoint=garbage)


def test_fit_clip_repeats_short_and_centres_long():
    short = torch.arange(1, 200001, dtype=torch.float32)
    fitted = clap_backend._fit_clip(short)
    assert fitted.shape == (480000,)
    torch.testing.assert_close(fitted[200000:400000], short)
    assert fitted[400000:].abs().sum() == 0
    long = torch.arange(500000, dtype=torch.float32)
    torch.testing.assert_close(clap_backend._fit_clip(long), long[10000:490000])


def test_encoder_gap_measures_claps_modality_gap(clap_env):
    """introspect.encoder_gap on a CLAP checkpoint: exactly modality_gap of its own text and
    audio embeddings (what benchmarks/query.py --gap prints for AudioSep's CLAP)."""
    from lassnet.introspect import encoder_gap, modality_gap

    encoder = clap_env["encoder"]
    captions = {"siren": ["a siren wailing", "an ambulance siren"],
                "rain": ["rain on a roof", "heavy rain falling"]}
    gen = torch.Generator().manual_seed(3)
    waves = 0.1 * torch.randn(4, 16000, generator=gen)  # (N, L) at 16 kHz
    labels = ["siren", "siren", "rain", "rain"]
    gap = encoder_gap(encoder, captions, waves, labels, 16000)
    text = encoder.embed_text([c for cs in captions.values() for c in cs])
    audio = encoder.embed_audio(waves, 16000)
    expected = modality_gap(text, ["siren", "siren", "rain", "rain"], audio, labels)
    assert gap == pytest.approx(expected, abs=1e-6)
    assert 0.0 <= gap["centroid_distance"] <= 2.0
    with pytest.raises(ValueError, match="embeds no audio"):
        encoder_gap(query.build("label", dim=8), captions, waves, labels, 16000)
