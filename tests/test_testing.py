"""The shared test doubles of lassnet.testing behave as their docstrings promise."""

from __future__ import annotations

import pytest
import torch

from lassnet.separator import SeparationNet
from lassnet.testing import (
    TINY_SEPARATOR,
    CountingEncoder,
    FixedQueries,
    LetterEncoder,
    letter_counts,
)


def test_letter_counts_ignore_case_and_other_characters():
    counts = letter_counts(["Aa b!", "", "zz z"])
    assert counts.shape == (3, 26) and counts.dtype == torch.float32
    assert counts[0, 0] == 2 and counts[0, 1] == 1 and counts[0].sum() == 3
    assert counts[1].sum() == 0
    assert counts[2, 25] == 3 and counts[2].sum() == 3


def test_letter_encoder_is_deterministic_and_leaves_the_global_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    a, b = LetterEncoder(), LetterEncoder()
    assert torch.equal(torch.rand(3), expected)  # building them drew nothing globally
    assert torch.equal(a.proj.weight, b.proj.weight) and torch.equal(a.proj.bias, b.proj.bias)
    assert not torch.equal(LetterEncoder(seed=1).proj.weight, a.proj.weight)
    emb = a.embed_text(["a siren", "rain", "sirenA"])
    assert emb.shape == (3, a.dim) == (3, 8)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(emb[0], emb[2])  # the same letters, the same embedding
    assert not torch.allclose(emb[0], emb[1])
    assert not a.supports_audio and not any(p.requires_grad for p in a.parameters())


def test_counting_encoder_records_what_the_cache_lets_through():
    enc = CountingEncoder(batch_size=2)
    assert enc.name == "counting" and enc.supports_audio and enc.audio_sample_rate == 8000
    enc.embed_text(["a", "b", "c"])
    enc.embed_text(["b", "d"])  # "b" comes from the cache
    assert enc.text_calls == [["a", "b"], ["c"], ["d"]]
    emb = enc.embed_audio(torch.randn(3, 800), 8000)
    assert emb.shape == (3, 8) and enc.audio_shapes == [(2, 800), (1, 800)]


def test_fixed_queries_return_the_named_rows_and_refuse_other_captions():
    table = torch.randn(3, 4)
    enc = FixedQueries(table)
    assert enc.dim == 4
    assert torch.equal(enc.embed_text(["q2", "q0"]), table[[2, 0]])
    with pytest.raises(ValueError, match="'q0' ... 'q2'.*'siren'"):
        enc.embed_text(["q1", "siren"])


def test_tiny_separator_is_a_small_working_tiny_preset():
    net = SeparationNet.from_preset("tiny", condition_dim=8, **TINY_SEPARATOR).eval()
    full = SeparationNet.from_preset("tiny", condition_dim=8)
    assert net.config.channels == (4, 8) and net.config.centre_channels == 8
    assert net.num_parameters() < full.num_parameters() / 10
    with torch.no_grad():
        out = net(torch.randn(2, 1, 4000), torch.randn(2, 8))
    assert out.shape == (2, 1, 4000) and torch.isfinite(out).all()
