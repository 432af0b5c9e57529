"""The exercises for chapter 4 (QueryNet), on the book's exercises page: ``retrieve`` and
``ensemble_prototypes``.

*Transcribe*: :func:`check_retrieve` compares the student's cosine similarities between query
embeddings ``(N, D)`` and class prototypes ``(K, D)`` and the retrieval accuracy (the share of
queries whose most similar prototype is their own class) with the checker's own computation,
on prototypes of different lengths (a plain dot product then picks other classes), a batch of
one, a zero query and float64; it recognises a missing normalisation, a transposed matrix and
a count instead of a share. PyTorch's ``cosine_similarity`` (functional, ``torch.`` and the
``CosineSimilarity`` module), ``F.normalize`` and :func:`lassnet.train_query.retrieval_accuracy`
are withheld: the exercise *is* the normalisation.

*Apply*: :func:`check_ensemble` gives the student a text encoder ``embed(texts) -> (n, D)``,
class names and caption templates; the student builds one prototype per class from all the
templates (a *query ensemble*), and the checker measures the retrieval accuracy of those
prototypes on held-out captions, which must reach what an ensemble can (and beat a single
template). The encoder is a deterministic stand-in (a class direction plus per-caption
noise), so the check takes milliseconds and needs no weights.
:func:`lassnet.query.base.class_prototypes` is withheld. Taught in chapter 4 (QueryNet).
"""

from __future__ import annotations

import zlib

import torch

from ._runner import CheckResult, Exercise, Withhold, _call, _compare, _Mismatch, _run

EPS = 1e-8


def _cosine(queries: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` cosine similarities, each vector divided by ``max(‖v‖, 1e-8)``."""
    q = queries / queries.norm(dim=-1, keepdim=True).clamp_min(EPS)
    p = prototypes / prototypes.norm(dim=-1, keepdim=True).clamp_min(EPS)
    return q @ p.T


def _accuracy(similarity: torch.Tensor, labels: torch.Tensor) -> float:
    return float((similarity.argmax(dim=-1) == labels).to(torch.float64).mean())


def _retrieve_cases():
    def case(n, k, d, zero_query=False, dtype=torch.float32):
        def run(fn):
            prototypes = torch.randn(k, d, dtype=dtype)
            prototypes *= torch.linspace(0.2, 5.0, k, dtype=dtype)[:, None]  # lengths differ
            labels = torch.randint(0, k, (n,))
            queries = prototypes[labels] / prototypes[labels].norm(dim=-1, keepdim=True)
            queries = queries + 0.6 * torch.randn(n, d, dtype=dtype) / d**0.5
            if zero_query:
                queries[0] = 0.0
            expected = _cosine(queries, prototypes)
            accuracy = _accuracy(expected, labels)
            got = _call(fn, queries.clone(), prototypes.clone(), labels.clone())
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise _Mismatch("return a tuple (similarity, accuracy)")
            similarity, acc = got
            dot = queries @ prototypes.T
            _compare("the similarity", similarity, expected, rtol=1e-4, atol=1e-5, mistakes=[
                ("this is the plain dot product: divide each vector by its length first, so "
                 "that a long prototype does not win by its length", dot),
                ("only the queries are normalised: the prototypes' lengths still count",
                 (queries / queries.norm(dim=-1, keepdim=True).clamp_min(EPS)) @ prototypes.T),
            ], nan_hint="a zero query has length 0: divide by max(‖v‖, 1e-8)")
            if isinstance(acc, torch.Tensor) and acc.numel() == 1:
                acc = acc.item()
            if isinstance(acc, bool) or not isinstance(acc, (int, float)):
                raise _Mismatch(f"the accuracy should be a number, got {type(acc).__name__}")
            if abs(acc - accuracy * n) < 1e-6 and n > 1 and accuracy > 0:
                raise _Mismatch("the accuracy is a share (between 0 and 1), not a count")
            if abs(acc - accuracy) > 1e-6:
                raise _Mismatch(f"accuracy {acc:.4g}, expected {accuracy:.4g}: a query is "
                                "retrieved correctly when its most similar prototype is its "
                                "own class")
        return run

    return [
        ("20 queries, 5 classes of different lengths", case(20, 5, 16)),
        ("one query", case(1, 4, 8)),
        ("a zero query among 10", case(10, 3, 8, zero_query=True)),
        ("float64, 384-wide embeddings", case(12, 6, 384, dtype=torch.float64)),
    ]


def check_retrieve(fn, progress: bool = True) -> CheckResult:
    """Check ``retrieve(queries, prototypes, labels) -> (similarity (N, K), accuracy)``
    (chapter 4's transcribe exercise) against the cosine similarity written out here."""
    return _run(RETRIEVE, fn, _retrieve_cases, progress)


RETRIEVE = Exercise(
    "retrieve", "retrieve", "exercises", "cosine similarity and arg-max retrieval",
    "divide every vector by max(‖v‖, 1e-8), one matrix product, arg-max per row, mean of hits",
    check_retrieve, teaches=4,
    withheld=(Withhold("torch.nn.functional.cosine_similarity"),
              Withhold("torch.cosine_similarity"),
              Withhold("torch.nn.CosineSimilarity.forward"),
              Withhold("torch.nn.functional.normalize"),
              Withhold("lassnet.train_query.retrieval_accuracy")),
)


# --------------------------------------------------------------------------- apply: ensemble
class _StandInEncoder:
    """``embed(texts) -> (n, D)`` unit rows: a class's direction plus noise that depends on the
    whole caption (fixed by its text: the same caption always gives the same vector). Each
    caption alone is a noisy query; the mean of many points closer to the class."""

    def __init__(self, classes, dim: int = 48, noise: float = 1.6, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.directions = {c: torch.randn(dim, generator=generator) / dim**0.5 for c in classes}
        self.dim, self.noise, self.seed = dim, noise, seed
        self.calls = 0

    def __call__(self, texts):
        if isinstance(texts, str):
            raise TypeError("embed takes a list of captions, not one string")
        rows = []
        for text in texts:
            self.calls += 1
            generator = torch.Generator().manual_seed(zlib.crc32(f"{self.seed}|{text}".encode()))
            found = [c for c in self.directions if c in text]
            base = self.directions[found[0]] if found else torch.zeros(self.dim)
            noise = torch.randn(self.dim, generator=generator) / self.dim**0.5
            row = base + self.noise * noise
            rows.append(row / row.norm())
        return torch.stack(rows)


TEMPLATES = ("the sound of a {}", "a {} can be heard", "a recording of a {}", "{} noises",
             "someone recorded a {}", "listen to the {}", "a {} in the background",
             "a clip with a {}", "a loud {}", "a quiet {}")
HELD_OUT = ("there is a {} here", "{}", "a short {} sound", "the {} again", "a distant {}",
            "a {} nearby", "an old recording of a {}", "a {} outdoors")
CLASSES = ("dog", "siren", "rain", "clock", "engine", "bird", "piano", "cough", "door",
           "keyboard", "train", "wind")


def _held_out_accuracy(encoder, prototypes: torch.Tensor, classes) -> float:
    """Share of the held-out captions (:data:`HELD_OUT`) whose most similar prototype is their
    own class."""
    texts = [t.format(c) for c in classes for t in HELD_OUT]
    labels = torch.arange(len(classes)).repeat_interleave(len(HELD_OUT))
    return _accuracy(_cosine(encoder(texts), prototypes), labels)


def _ensemble_cases():
    def case(n_classes, n_templates, seed):
        def run(fn):
            classes = list(CLASSES[:n_classes])
            templates = list(TEMPLATES[:n_templates])
            encoder = _StandInEncoder(classes, seed=seed)
            mean = torch.stack([encoder([t.format(c) for t in templates]).mean(0)
                                for c in classes])
            possible = _held_out_accuracy(encoder, mean, classes)
            single = _held_out_accuracy(
                encoder, encoder([templates[0].format(c) for c in classes]), classes)
            got = _call(fn, encoder, list(classes), list(templates))
            if not isinstance(got, torch.Tensor):
                raise _Mismatch(f"return a tensor of prototypes ({n_classes}, D), got "
                                f"{type(got).__name__}")
            got = got.detach()
            if tuple(got.shape) != (n_classes, encoder.dim):
                raise _Mismatch(f"shape mismatch: expected ({n_classes}, {encoder.dim}), one "
                                f"prototype per class in the order given, got "
                                f"{tuple(got.shape)}")
            if not bool(torch.isfinite(got).all()):
                raise _Mismatch("the prototypes have NaN or Inf values")
            norms = got.norm(dim=-1)
            if (norms - 1).abs().max() > 1e-3:
                raise _Mismatch("the prototypes are not unit vectors: normalise the mean, so "
                                "that they compare with queries as embeddings do")
            accuracy = _held_out_accuracy(encoder, got, classes)
            if accuracy < possible - 0.05:
                hint = (" — no better than one template: use every template"
                        if accuracy <= single + 1e-9 else "")
                raise _Mismatch(
                    f"held-out retrieval accuracy {accuracy:.0%} with your prototypes, "
                    f"{single:.0%} with the first template alone; an ensemble of the "
                    f"{n_templates} templates reaches {possible:.0%}{hint}")
        return run

    return [
        ("6 classes, 10 templates", case(6, 10, 0)),
        ("12 classes, 10 templates", case(12, 10, 1)),
        ("8 classes, 5 templates", case(8, 5, 2)),
    ]


def check_ensemble(fn, progress: bool = True) -> CheckResult:
    """Check ``ensemble_prototypes(embed, classes, templates) -> (K, D)`` (chapter 4's apply
    exercise): the held-out retrieval accuracy of the student's unit prototypes must come
    within 5 points of a mean-of-templates ensemble's."""
    return _run(ENSEMBLE, fn, _ensemble_cases, progress)


ENSEMBLE = Exercise(
    "ensemble", "ensemble_prototypes", "exercises", "held-out retrieval of an ensemble",
    "embed every template filled with the class, average, normalise", check_ensemble,
    kind="apply", teaches=4, points=2,
    withheld=(Withhold("lassnet.query.base.class_prototypes"),
              Withhold("lassnet.exercises.query._held_out_accuracy")),
)
