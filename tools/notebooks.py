"""Turn the book's MyST-markdown chapters into ``.ipynb`` notebooks.

The chapters in ``book/`` are the single source of truth (jupytext MyST markdown). This tool
writes executable notebooks from them, for nbval (the test command) and for Colab:

    python tools/notebooks.py OUT_DIR          # every chapter listed in book/_toc.yml
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jupytext
import yaml

BOOK = Path(__file__).resolve().parent.parent / "book"


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


def to_notebook(source: Path, out_dir: Path) -> Path:
    """Write ``out_dir/<source stem>.ipynb`` from one MyST chapter."""
    notebook = jupytext.read(source)
    out = out_dir / (source.stem + ".ipynb")
    jupytext.write(notebook, out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for source in chapters():
        print(to_notebook(source, args.out_dir))


if __name__ == "__main__":
    main()
