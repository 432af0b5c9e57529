"""The corpus ontology (lassnet.ontology): one torch-free home for classes and captions."""

from __future__ import annotations

import subprocess
import sys

from lassnet import data, ontology
from lassnet.data import synthetic


def test_ontology_imports_without_torch_or_numpy():
    code = ("import sys, lassnet.ontology as o; "
            "heavy = sorted(m for m in ('torch', 'numpy', 'lassnet.data') if m in sys.modules); "
            "print(len(o.CLASSES), heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "14 []"


def test_the_corpus_re_exports_the_same_objects():
    for name in ("CLASSES", "CAPTIONS", "DESCRIPTIONS"):
        assert getattr(data, name) is getattr(ontology, name)
        assert getattr(synthetic, name) is getattr(ontology, name)


def test_every_class_has_captions_and_a_description():
    assert ontology.CLASSES == tuple(ontology.CAPTIONS)
    assert len(ontology.CLASSES) == 14
    assert set(ontology.DESCRIPTIONS) == set(ontology.CLASSES)
    every = [c for name in ontology.CLASSES for c in ontology.CAPTIONS[name]]
    assert all(len(ontology.CAPTIONS[name]) >= 4 for name in ontology.CLASSES)
    assert len(set(every)) == len(every)  # a caption names one class only
    assert all(c == c.strip() and c for c in every)
