"""The chapter → notebook tool: Colab notebooks in sync with the chapters, the install cell."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest

from tools import notebooks

ROOT = Path(__file__).resolve().parent.parent

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def _chapter(title: str, code: str) -> str:
    return f"{HEADER}\n# {title}\n\nSome prose.\n\n```{{code-cell}} ipython3\n{code}\n```\n"


@pytest.fixture()
def book(tmp_path):
    root = tmp_path / "book"
    root.mkdir()
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: 01_one\n  - file: 02_two\n"
    )
    (root / "intro.md").write_text(_chapter("Intro", "print('intro')"))
    (root / "01_one.md").write_text(_chapter("One", "x = 1\nprint(x)"))
    (root / "02_two.md").write_text(_chapter("Two", "print(2)"))
    return root


def test_committed_colab_notebooks_match_the_chapters():
    problems = notebooks.check_colab(ROOT / notebooks.COLAB_DIR)
    assert problems == [], "\n".join(problems) + "\nrun `make colab` and commit book/colab"


def test_write_then_check_then_detect_drift(book, tmp_path):
    out = tmp_path / "colab"
    written = notebooks.write_colab(out, book)
    assert [p.name for p in written] == ["intro.ipynb", "01_one.ipynb", "02_two.ipynb"]
    assert notebooks.check_colab(out, book) == []
    # Regenerating is byte-for-byte stable (stable cell ids, sorted keys).
    before = {p.name: p.read_text() for p in written}
    notebooks.write_colab(out, book)
    assert {p.name: p.read_text() for p in out.glob("*.ipynb")} == before
    # An edited chapter, a missing notebook and a notebook of no chapter are all reported.
    (book / "01_one.md").write_text(_chapter("One", "x = 2\nprint(x)"))
    (out / "02_two.ipynb").unlink()
    (out / "99_old.ipynb").write_text("{}")
    problems = notebooks.check_colab(out, book)
    assert len(problems) == 3
    assert any("01_one.ipynb differs" in p for p in problems)
    assert any("02_two.ipynb is missing" in p for p in problems)
    assert any("99_old.ipynb belongs to no chapter" in p for p in problems)
    assert notebooks.main(["--check", str(out), "--book", str(book)]) == 1
    assert notebooks.main(["--colab", str(out), "--book", str(book)]) == 0  # fixes all three
    assert notebooks.check_colab(out, book) == []
    assert notebooks.main(["--check", str(out), "--book", str(book)]) == 0
    assert not (out / "99_old.ipynb").exists()


def test_colab_notebook_is_the_chapter_after_an_install_cell(book):
    nb = json.loads(notebooks.colab_notebook(book / "01_one.md"))
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "code"
    assert "".join(cells[0]["source"]) == notebooks.INSTALL_CELL
    assert [c["cell_type"] for c in cells[1:]] == ["markdown", "code"]
    assert "".join(cells[2]["source"]) == "x = 1\nprint(x)"
    assert all(c.get("outputs", []) == [] for c in cells)
    assert len({c["id"] for c in cells}) == len(cells)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def _run_install_cell(monkeypatch, on_colab: bool, cloned: bool = False):
    calls, moves = [], []
    monkeypatch.setattr("subprocess.run", lambda cmd, **kw: calls.append((cmd, kw)))
    monkeypatch.setattr("os.chdir", moves.append)
    real_isdir = os.path.isdir
    monkeypatch.setattr(
        "os.path.isdir", lambda p: cloned if p == "/content/lassnet" else real_isdir(p)
    )
    monkeypatch.setenv("LASSNET_DATA", "")  # records the real value, restored afterwards:
    monkeypatch.delenv("LASSNET_DATA")  # the cell sets it, and it must not leak to other tests
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(notebooks.INSTALL_CELL, "install-cell", "exec"), {})
    return calls, moves


def test_install_cell_does_nothing_outside_colab(monkeypatch):
    calls, moves = _run_install_cell(monkeypatch, on_colab=False)
    assert calls == [] and moves == [] and "LASSNET_DATA" not in os.environ


def test_install_cell_on_colab_clones_installs_without_touching_numpy(monkeypatch):
    calls, moves = _run_install_cell(monkeypatch, on_colab=True)
    commands = [cmd for cmd, _ in calls]
    assert commands[0][:2] == ["git", "clone"] and notebooks.REPO_URL in commands[0]
    assert all(kw.get("check") for _, kw in calls)
    pip = [c for c in commands if "pip" in c]
    assert len(pip) == 2
    clap = next(c for c in pip if any(arg.startswith("laion-clap") for arg in c))
    assert "--no-deps" in clap
    assert not any("numpy" in arg for c in pip for arg in c)
    assert moves == ["/content/lassnet/book"]
    assert os.environ["LASSNET_DATA"] == "/content/lassnet/data"
    # Run again in the same session (already cloned): nothing is installed twice.
    calls, moves = _run_install_cell(monkeypatch, on_colab=True, cloned=True)
    assert calls == [] and moves == ["/content/lassnet/book"]


def test_badge_links_to_the_committed_notebook():
    url = notebooks.colab_url("01_stft")
    repo = notebooks.REPO_URL.removeprefix("https://github.com/")
    assert url.startswith("https://colab.research.google.com/github/" + repo + "/blob/")
    assert url.endswith("/book/colab/01_stft.ipynb")
    assert url in notebooks.BADGE.format(url=url)


def test_every_chapter_of_the_toc_is_found():
    stems = [p.stem for p in notebooks.chapters()]
    assert stems[0] == "intro" and len(stems) == len(set(stems)) >= 2
