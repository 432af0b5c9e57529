"""QueryNet: the interface, the embedding cache, input checks, MiniLM and the label ablation."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from lassnet import query
from lassnet.query.base import EmbeddingCache, check_audio_query, check_texts
from lassnet.testing import CountingEncoder

PARAPHRASES = {
    "siren": ["a siren wailing", "an ambulance siren", "a police siren going off"],
    "rain": ["rain falling", "heavy rain pouring down", "raindrops hitting a roof"],
    "telephone": ["a telephone ringing", "a phone rings"],
    "bird": ["birds chirping", "a bird singing in a tree"],
}


@pytest.fixture(scope="module")
def minilm():
    return query.build("minilm", device="cpu")


# ----------------------------------------------------------------------------- MiniLM
def test_minilm_shapes_norms_and_dim(minilm):
    emb = minilm.embed_text(["a siren wailing", "rain falling"])
    assert minilm.dim == 384 and emb.shape == (2, 384)
    assert emb.dtype == torch.float32 and emb.device == minilm.device
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))
    assert not minilm.supports_audio


def test_minilm_is_a_language_model(minilm):
    """Paraphrases of one sound sit closer to each other than to any other sound's caption."""
    texts = [t for group in PARAPHRASES.values() for t in group]
    labels = [name for name, group in PARAPHRASES.items() for _ in group]
    emb = minilm.embed_text(texts)
    sim = emb @ emb.T
    for i, text in enumerate(texts):
        same = [sim[i, j] for j in range(len(texts)) if j != i and labels[j] == labels[i]]
        other = [sim[i, j] for j in range(len(texts)) if labels[j] != labels[i]]
        assert min(same) > max(other), text
    # and it is not a bag of words: a word shared across meanings does not dominate
    a, b, c = minilm.embed_text(["a siren wailing", "an ambulance siren", "a wailing baby"])
    assert a @ b > a @ c


def test_minilm_is_frozen_and_outputs_feed_autograd(minilm):
    assert all(not p.requires_grad for p in minilm.parameters())
    minilm.train()
    assert not minilm.training and not minilm.model.training
    emb = minilm.embed_text(["a bell tolling"])
    assert not emb.requires_grad and not emb.is_inference()
    film = torch.nn.Linear(384, 4)
    film(emb).sum().backward()  # the embedding conditions a trainable layer
    assert film.weight.grad is not None


def test_minilm_rejects_audio(minilm):
    with pytest.raises(ValueError, match="text queries only"):
        minilm.embed_audio(torch.zeros(1, 1, 16000), 16000)


def test_minilm_cache_hits_skip_the_model(minilm, monkeypatch):
    minilm.clear_cache()
    first = minilm.embed_text(["water dripping in a cave", "a clock ticking"])
    assert minilm.cache_info().misses == 2 and minilm.cache_info().size == 2
    calls = []

    def spy(texts):
        calls.append(texts)
        raise AssertionError("the model must not run for cached captions")

    monkeypatch.setattr(minilm, "_encode_text", spy)
    again = minilm.embed_text(["a clock ticking", "water dripping in a cave", "a clock ticking"])
    assert calls == []
    assert torch.equal(again[0], first[1]) and torch.equal(again[1], first[0])
    assert torch.equal(again[2], first[1])
    assert minilm.cache_info().hits == 2


# ----------------------------------------------------------------------------- the cache
def test_cache_only_encodes_what_is_missing_once():
    enc = CountingEncoder()
    enc.embed_text(["siren", "rain"])
    out = enc.embed_text(["rain", "bell", "bell", "siren"])
    assert enc.text_calls == [["siren", "rain"], ["bell"]]
    assert out.shape == (4, 8)
    torch.testing.assert_close(out[1], out[2])
    info = enc.cache_info()
    assert (info.hits, info.misses, info.size) == (2, 3, 3)


def test_cache_is_keyed_by_the_exact_string():
    enc = CountingEncoder()
    enc.embed_text(["rain"])
    enc.embed_text(["rain ", "Rain"])
    assert enc.text_calls == [["rain"], ["rain ", "Rain"]]


def test_cache_returns_copies_not_aliases():
    enc = CountingEncoder()
    first = enc.embed_text(["a bell"])
    kept = first.clone()
    first.mul_(0)  # the caller scribbles on its result
    second = enc.embed_text(["a bell"])
    torch.testing.assert_close(second, kept)
    second.add_(1)
    torch.testing.assert_close(enc.embed_text(["a bell"]), kept)
    assert len(enc.text_calls) == 1


def test_cache_is_bounded_lru():
    enc = CountingEncoder(cache_size=2)
    enc.embed_text(["a"])
    enc.embed_text(["b"])
    enc.embed_text(["a"])  # a is now the most recent
    enc.embed_text(["c"])  # evicts b
    assert "a" in enc.cache and "c" in enc.cache and "b" not in enc.cache
    assert len(enc.cache) == 2
    enc.embed_text(["b"])
    assert enc.text_calls == [["a"], ["b"], ["c"], ["b"]]


def test_cache_can_be_disabled_and_batches_are_chunked():
    enc = CountingEncoder(cache_size=0, batch_size=2)
    out = enc.embed_text(["a", "b", "c", "a"])
    assert out.shape == (4, 8) and len(enc.cache) == 0
    assert enc.text_calls == [["a", "b"], ["c", "a"]]
    torch.testing.assert_close(out[0], out[3])


def test_moving_the_encoder_clears_the_cache():
    enc = CountingEncoder()
    enc.embed_text(["a"])
    enc.to("cpu")
    assert len(enc.cache) == 0


def test_embedding_cache_checks_its_size():
    with pytest.raises(ValueError, match="cache_size"):
        EmbeddingCache(-1)
    cache = EmbeddingCache(1)
    row = torch.ones(3)
    cache.put("x", row)
    row.zero_()
    assert torch.equal(cache.get("x"), torch.ones(3))  # a private copy was stored


# ----------------------------------------------------------------------------- input checks
@pytest.mark.parametrize(
    "bad, message",
    [
        ("a siren", "single string"),
        ([], "empty list"),
        ([""], "empty or only whitespace"),
        (["ok", "   \n"], "query 1 is empty"),
        (["ok", 3], "must be a string"),
        (None, "list of strings"),
    ],
)
def test_text_queries_are_checked(bad, message):
    with pytest.raises(ValueError, match=message):
        check_texts(bad)
    with pytest.raises(ValueError, match=message):
        CountingEncoder().embed_text(bad)


def test_audio_query_shapes_and_types():
    one, sr = check_audio_query(np.zeros(100, dtype=np.float32), 16000)
    assert one.shape == (1, 1, 100) and sr == 16000
    assert check_audio_query(torch.zeros(3, 100), 8000.0)[0].shape == (3, 1, 100)
    assert check_audio_query(torch.zeros(3, 1, 100), 8000)[0].shape == (3, 1, 100)


@pytest.mark.parametrize(
    "wave, rate, message",
    [
        (torch.zeros(2, 2, 100), 16000, "mono"),
        (np.zeros(100, dtype=np.int16), 16000, "integer samples"),
        (torch.zeros(100, dtype=torch.int16), 16000, "floating-point"),
        (torch.full((100,), float("nan")), 16000, "non-finite"),
        (torch.zeros(1, 1, 0), 16000, "no samples"),
        (torch.zeros(100), None, "sample rate"),
        (torch.zeros(100), 0, "positive"),
        (torch.zeros(100), 441.5, "whole number"),
        ([0.0] * 100, 16000, "torch tensor"),
    ],
)
def test_audio_queries_are_checked(wave, rate, message):
    with pytest.raises(ValueError, match=message):
        CountingEncoder().embed_audio(wave, rate)


def test_embed_audio_resamples_chunks_and_normalises():
    enc = CountingEncoder(batch_size=2)
    t = torch.arange(16000) / 16000
    wave = torch.stack([torch.sin(2 * torch.pi * f * t) for f in (220, 440, 880)])  # (3, L)
    emb = enc.embed_audio(wave[:, None], 16000)
    assert emb.shape == (3, 8)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    assert enc.audio_shapes == [(2, 8000), (1, 8000)]  # resampled 16 → 8 kHz, chunks of 2
    with pytest.raises(ValueError, match="too short"):
        enc.embed_audio(torch.zeros(1, 1, 40), 8000)


# ----------------------------------------------------------------------------- factory
def test_build_names_and_errors():
    assert {"minilm", "minilm-audio", "clap", "label"} <= set(query.available())
    assert query.DEFAULT == "minilm"
    with pytest.raises(ValueError, match="unknown query encoder 'bert'"):
        query.build("bert")
    with pytest.raises(ValueError, match="does not take checkpoint"):
        query.build("minilm", checkpoint="x.pt")
    with pytest.raises(ValueError, match="named by a string"):
        query.build(None)


@pytest.mark.parametrize("name", ["label", "LABEL", "  Label\n", "Label"])
def test_build_accepts_case_and_whitespace_variants(name):
    enc = query.build(name, classes=["a", "b"], dim=4, device="cpu")
    assert enc.name == "label" and enc.dim == 4


@pytest.mark.parametrize("name", ["minilm_audio", "MiniLM_Audio", " minilm-audio "])
def test_build_reads_underscore_as_dash(name, monkeypatch):
    built = []

    class Probe:
        def __init__(self, weights=None):
            built.append(weights)

    monkeypatch.setitem(query._BACKENDS, "minilm-audio", lambda: Probe)
    assert isinstance(query.build(name, weights="w.pt"), Probe)
    assert built == ["w.pt"]
    with pytest.raises(ValueError, match="unknown query encoder 'minilm__audio x'"):
        query.build("minilm__audio x")  # separators collapse, but the words must match


def test_load_is_a_deprecated_alias_that_warns_once(monkeypatch):
    monkeypatch.setattr(query, "_load_warned", False)
    with pytest.warns(DeprecationWarning, match=r"renamed lassnet.query.build"):
        first = query.load("label", classes=["a", "b"], dim=4, device="cpu")
    assert first.name == "label" and first.classes == ("a", "b")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise here
        second = query.load("label", classes=["a", "b"], dim=4, device="cpu")
    torch.testing.assert_close(second.embed_text(["a"]), first.embed_text(["a"]))
    with pytest.raises(ValueError, match="unknown query encoder"):
        query.load("bert")


# ----------------------------------------------------------------------------- prototypes
def test_class_prototypes_are_normalised_caption_means():
    enc = CountingEncoder()
    captions = {"x": ["abc", "abd", "xyz"], "y": ["hello"]}
    protos = query.class_prototypes(enc, ["y", "x"], captions)
    assert protos.shape == (2, 8)
    torch.testing.assert_close(protos.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(protos[0], enc.embed_text(["hello"])[0])
    mean = enc.embed_text(captions["x"]).mean(0)
    torch.testing.assert_close(protos[1], mean / mean.norm())
    with pytest.raises(ValueError, match="class 'z' has no captions"):
        query.class_prototypes(enc, ["x", "z"], captions)


def test_one_batching_path_checks_text_and_audio_outputs():
    class Broken(CountingEncoder):
        def _encode_text(self, texts):
            return torch.zeros(len(texts), 3)

        def _encode_audio(self, wave):
            return torch.full((wave.shape[0], 8), float("nan"))

    enc = Broken(cache_size=0)
    with pytest.raises(RuntimeError, match=r"text encoder returned \(2, 3\), expected \(2, 8\)"):
        enc.embed_text(["a", "b"])
    with pytest.raises(ValueError, match="audio embedding"):
        enc.embed_audio(torch.ones(1, 800), 8000)


# ----------------------------------------------------------------------------- layering
FORBIDDEN = ("lassnet.data", "lassnet.train", "lassnet.evaluate", "lassnet.plot")


def _forbidden_imports(path: Path, package: str) -> list[str]:
    """``"line: module"`` for every import in ``path`` (module level or inside a function,
    absolute or relative) of a module :mod:`lassnet.query` must not depend on."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                module = ".".join(parts[: len(parts) - node.level + 1] + [node.module or ""])
                module = module.rstrip(".")
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if name.startswith(FORBIDDEN)]
    return found


def test_the_query_package_imports_no_corpus_training_or_figures():
    root = Path(query.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert {"base.py", "audio_tower.py", "minilm_audio.py", "clap.py"} <= {f.name for f in files}
    assert not (root / "audio_encoder.py").exists()
    bad = {}
    for path in files:
        package = ".".join(["lassnet", *path.relative_to(root.parent).parent.parts])
        if _forbidden_imports(path, package):
            bad[str(path.relative_to(root))] = _forbidden_imports(path, package)
    assert bad == {}


def test_the_layering_check_sees_function_level_and_relative_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from .. import checkpoint\n"
        "from .base import QueryEncoder\n"
        "def f():\n"
        "    from .. import data\n"
        "    from ..train_query import main\n"
        "    import lassnet.evaluate\n"
        "    from lassnet.plot import plot_similarity\n"
    )
    found = _forbidden_imports(sample, "lassnet.query")
    assert {line.split(":")[0] for line in found} == {"4", "5", "6", "7"}
    assert "4: lassnet.data" in found and "5: lassnet.train_query" in found


# ----------------------------------------------------------------------------- label ablation
def test_label_encoder_learns_and_answers_captions():
    enc = query.build("label", classes=["siren", "rain"], dim=8, device="cpu",
                     captions={"siren": ["a siren wailing"]})
    assert enc.trainable and enc.dim == 8
    emb = enc.embed_text(["siren", "a siren wailing", "rain"])
    torch.testing.assert_close(emb[0], emb[1])
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    emb.sum().backward()
    assert enc.table.weight.grad is not None  # trained with the separator
    enc.train()
    assert enc.training
    with pytest.raises(ValueError, match="does not know"):
        enc.embed_text(["an ambulance siren"])  # no language: paraphrases are unknown


def test_label_encoder_defaults_to_the_corpus_and_checks_inputs():
    from lassnet import ontology

    enc = query.build("label", device="cpu")
    assert enc.classes == tuple(ontology.CLASSES)
    assert len(enc.lookup) == len(ontology.CLASSES) + sum(map(len, ontology.CAPTIONS.values()))
    name = ontology.CLASSES[0]
    caption = ontology.CAPTIONS[name][0]
    torch.testing.assert_close(enc.embed_text([caption]), enc.embed_text([name]))
    with pytest.raises(ValueError, match="distinct"):
        query.build("label", classes=["a", "a"])
    with pytest.raises(ValueError, match="both"):
        query.build("label", classes=["a", "b"], captions={"a": ["x"], "b": ["x"]})
    with pytest.raises(ValueError, match="not one of the classes"):
        query.build("label", classes=["a"], captions={"b": ["x"]})
