"""The chapters' figures as a reader meets them: every figure cell names its figure, captions
it and describes it in words; references point at figures that exist; players say what they
play. (Whether every image a chapter draws is such a figure is checked on the built site, by
tools/browser_check.py.)"""

from __future__ import annotations

import re

import jupytext
import pytest

from tools import browser_check, notebooks

CHAPTERS = notebooks.chapters()


def _figures(source):
    for i, cell in enumerate(jupytext.read(source).cells):
        if cell.cell_type == "code" and "figure" in cell.metadata.get("mystnb", {}):
            yield i, cell


def test_every_figure_cell_has_a_name_a_caption_and_alternative_text():
    names = {}
    for source in CHAPTERS:
        for i, cell in _figures(source):
            options = cell.metadata["mystnb"]
            where = f"{source.name}, cell {i}"
            name = options["figure"].get("name", "")
            assert re.fullmatch(r"fig-[a-z]+-[a-z0-9-]+", name), f"{where}: name {name!r}"
            assert name not in names, f"{where}: {name} is also {names[name]}"
            names[name] = where
            caption = " ".join(str(options["figure"].get("caption", "")).split())
            assert len(caption) >= 20, f"{where}: caption {caption!r} says too little"
            alt = " ".join(str(options.get("image", {}).get("alt", "")).split())
            assert len(alt) >= 30, f"{where}: alternative text {alt!r} says too little"
            assert browser_check.alt_problem(alt, "") is None, f"{where}: alt {alt!r}"
            assert alt != caption, f"{where}: the alternative text only repeats the caption"
            # MyST-NB captions every display output of a figure cell: players, tables and
            # HTML shown by the same cell would each become a copy of the figure.
            shown = re.search(r"\b(player|players|audio_players|HTML|Markdown|static_demo)\(",
                              cell.source)
            assert not shown, f"{where}: shows {shown.group(1)}(...) too; use its own cell"


def test_every_numref_points_at_a_label_of_the_book():
    text = {s: s.read_text(encoding="utf-8") for s in CHAPTERS}
    labels = set()
    for source in CHAPTERS:
        labels |= {cell.metadata["mystnb"]["figure"]["name"] for _, cell in _figures(source)}
        labels |= set(re.findall(r"^\((\S+)\)=\s*$", text[source], re.M))  # (label)= targets
        labels |= set(re.findall(r":name:\s*(\S+)", text[source]))  # directives' names
    for source, body in text.items():
        for target in re.findall(r"\{numref\}`(?:[^`<]*<)?([^`>]+)>?`", body):
            assert target in labels, f"{source.name}: {{numref}} to unknown {target!r}"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda s: s.stem)
def test_players_are_labelled(source):
    """Chapters play sound through lassnet.widgets.player/players (a label on the page and an
    accessible name), never through a bare IPython.display.Audio."""
    for i, cell in enumerate(jupytext.read(source).cells):
        if cell.cell_type == "code":
            assert not re.search(r"(?<![\w.])Audio\(|display\.Audio\b", cell.source), (
                f"{source.name}, cell {i}: use lassnet.widgets.player(wave, sr, label)")


#: Colour maps whose lightness runs evenly (so they read in grey too): sequential ones, the
#: cyclic twilight for phase, and diverging maps for signed differences (sign also shown by
#: the colour bar). Categorical tab10/tab20 only where a second cue names the category.
UNIFORM = {"viridis", "magma", "inferno", "plasma", "cividis", "gray", "Greys", "Blues",
           "twilight", "RdBu_r", "RdBu", "PuOr", "tab10", "tab20"}


def test_colour_maps_are_perceptually_uniform():
    from pathlib import Path

    sources = [Path(__file__).resolve().parent.parent / "lassnet" / "plot.py", *CHAPTERS]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"""cmap(?:: str)?\s*=\s*["']([A-Za-z_0-9]+)["']""", text):
            assert name in UNIFORM, f"{path.name}: colour map {name!r} is not perceptually uniform"
        assert not re.search(r"""["'](jet|rainbow|hsv|nipy_spectral|gist_rainbow)["']""", text)
