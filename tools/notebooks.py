"""Turn the book's MyST-markdown chapters into ``.ipynb`` notebooks, for nbval and for Colab.

The chapters in ``book/`` are the single source of truth (jupytext MyST markdown). This tool
writes notebooks from them:

    python tools/notebooks.py OUT_DIR               # every chapter of book/_toc.yml (for nbval)
    python tools/notebooks.py --colab book/colab    # the same, first cell installs lassnet on Colab
    python tools/notebooks.py --check book/colab    # exit 1 if the committed ones are out of date

The Colab notebooks are committed (without outputs) so that a link can open them; ``make
colab`` regenerates them and the unit tests fail when they no longer match the chapters.

This file is also a Sphinx extension (``book/_config.yml`` loads it): it puts an "Open in
Colab" badge under the title of every chapter, linking to that chapter's Colab notebook.
:data:`REPO_URL` is the one place that names the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

from lassnet.files import atomic_write, write_text

BOOK = Path(__file__).resolve().parent.parent / "book"

#: The project's public repository: Colab badges link into it, the Colab cell installs from it.
REPO_URL = "https://github.com/lassnet/lassnet"
#: The branch the badges open.
BRANCH = "main"
#: Where the Colab notebooks live, relative to the repository root.
COLAB_DIR = "book/colab"

#: The first cell of every Colab notebook. Outside Colab it does nothing.
INSTALL_CELL = f'''\
# On Colab: fetch lassnet with its shipped weights and install it. Elsewhere: nothing happens.
import importlib
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    if not os.path.isdir("/content/lassnet"):
        subprocess.run(["git", "clone", "--depth", "1", "{REPO_URL}",
                        "/content/lassnet"], check=True)
        # Colab already has PyTorch and NumPy 2: keep them (laion-clap pins an old NumPy).
        subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                        "/content/lassnet[clap]"], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "laion-clap==1.1.7"], check=True)
        importlib.invalidate_caches()
    os.environ["LASSNET_DATA"] = "/content/lassnet/data"   # the shipped weights
    os.chdir("/content/lassnet/book")                      # where the book's chapters run'''


def chapters(book: Path = BOOK) -> list[Path]:
    """The chapter sources in table-of-contents order (root first)."""
    toc = yaml.safe_load((book / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []):
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    paths = []
    for name in names:
        path = book / (name if name.endswith(".md") else name + ".md")
        if not path.is_file():
            raise FileNotFoundError(f"_toc.yml lists {name}, but {path} does not exist")
        paths.append(path)
    return paths


def colab_url(stem: str) -> str:
    """The Colab address that opens chapter ``stem``'s committed notebook from GitHub."""
    repo = REPO_URL.removeprefix("https://github.com/").removesuffix(".git")
    return f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/{COLAB_DIR}/{stem}.ipynb"


def to_notebook(source: Path, out_dir: Path) -> Path:
    """Write ``out_dir/<source stem>.ipynb`` from one MyST chapter (atomically: an
    interrupted run leaves the previous notebook or none, never half of one)."""
    notebook = jupytext.read(source)
    out = out_dir / (source.stem + ".ipynb")
    with atomic_write(out, "w", encoding="utf-8") as fh:
        jupytext.write(notebook, fh, fmt="ipynb")
    return out


def colab_notebook(source: Path) -> str:
    """The Colab notebook of one chapter as ``.ipynb`` text: the install cell, then the
    chapter's cells, no outputs, stable cell ids (so that regenerating changes nothing)."""
    notebook = jupytext.read(source)
    number = source.stem.split("_", 1)[0]
    if number.isdigit():  # the site numbers chapters from _toc.yml; a notebook says it itself
        for cell in notebook.cells:
            if cell.cell_type == "markdown" and cell.source.startswith("# "):
                cell.source = f"# {int(number)}. " + cell.source[2:]
                break
    notebook.cells.insert(0, nbformat.v4.new_code_cell(INSTALL_CELL))
    for i, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{i}"
        if cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["colab"] = {"name": source.stem + ".ipynb", "provenance": []}
    nbformat.validate(notebook)
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write_colab(out_dir: Path, book: Path = BOOK) -> list[Path]:
    """Write the Colab notebook of every chapter into ``out_dir``; remove stale ones. Each
    notebook is replaced atomically (:func:`lassnet.files.write_text`), so an interrupted
    ``make colab`` leaves every notebook either as it was or as it should be."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = chapters(book)
    written = []
    for source in sources:
        out = out_dir / (source.stem + ".ipynb")
        text = colab_notebook(source)
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            write_text(out, text)
        written.append(out)
    keep = {s.stem for s in sources}
    for stale in out_dir.glob("*.ipynb"):
        if stale.stem not in keep:
            stale.unlink()
    return written


def check_colab(out_dir: Path, book: Path = BOOK) -> list[str]:
    """Problems with the committed Colab notebooks in ``out_dir`` (empty when in sync)."""
    problems = []
    sources = chapters(book)
    for source in sources:
        out = out_dir / (source.stem + ".ipynb")
        if not out.is_file():
            problems.append(f"{out} is missing")
        elif out.read_text(encoding="utf-8") != colab_notebook(source):
            problems.append(f"{out} differs from {source.name}")
    keep = {s.stem for s in sources}
    for extra in sorted(out_dir.glob("*.ipynb")):
        if extra.stem not in keep:
            problems.append(f"{extra} belongs to no chapter of _toc.yml")
    return problems


# ----------------------------------------------------------------------------- Sphinx
BADGE = """\
<p class="colab-badge"><a href="{url}" title="Run this chapter on Google Colab">\
<svg xmlns="http://www.w3.org/2000/svg" width="118" height="20" role="img" \
aria-label="Open in Colab"><rect width="118" height="20" rx="3" fill="#555"/>\
<path d="M54 0h61a3 3 0 0 1 3 3v14a3 3 0 0 1-3 3H54z" fill="#e8710a"/>\
<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" \
text-anchor="middle"><text x="27" y="14">Open in</text><text x="86" y="14">Colab</text>\
</g></svg></a></p>"""


def _add_badge(app, doctree) -> None:
    """Sphinx ``doctree-read``: put the Colab badge under a chapter's first title."""
    from docutils import nodes

    docname = app.env.docname
    if docname not in app.config.colab_chapters:
        return
    for section in doctree.findall(nodes.section):
        title = section.next_node(nodes.title)
        if title is not None:
            badge = nodes.raw("", BADGE.format(url=colab_url(docname)), format="html")
            section.insert(section.index(title) + 1, badge)
            return


def setup(app):
    """Sphinx extension entry point (``sphinx: local_extensions`` in ``book/_config.yml``)."""
    book = Path(app.srcdir)
    app.add_config_value("colab_chapters", [p.stem for p in chapters(book)], "env")
    app.connect("doctree-read", _add_badge)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# ----------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--book", type=Path, default=BOOK, help="the book folder (default: book/)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--colab", action="store_true",
                      help="write Colab notebooks (install cell first, no outputs)")
    mode.add_argument("--check", action="store_true",
                      help="check that the Colab notebooks in out_dir match the chapters")
    args = parser.parse_args(argv)
    if args.check:
        problems = check_colab(args.out_dir, args.book)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("the Colab notebooks are out of date: run `make colab`", file=sys.stderr)
            return 1
        count = len(chapters(args.book))
        print(f"{args.out_dir}: {count} Colab notebooks match their chapters")
        return 0
    if args.colab:
        for path in write_colab(args.out_dir, args.book):
            print(path)
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for source in chapters(args.book):
        print(to_notebook(source, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
