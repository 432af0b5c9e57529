r"""Serve MathJax from the built book itself, so that its formulas render without a network.

Sphinx's ``sphinx.ext.mathjax`` loads MathJax from a CDN unless told otherwise; a book opened
offline (a laptop on a train, a classroom behind a firewall) then shows raw ``\[ ... \]``
where its formulas should be. This file is a Sphinx extension (``book/_config.yml`` loads it
through ``local_extensions``, as it loads ``tools/notebooks.py``) that

1. checks, when the configuration is read, that ``mathjax_path`` names a file of the local
   copy (``mathjax/tex-mml-chtml.js``, relative to the site's ``_static``), never a URL, and
   that the MathJax files are installed;
2. copies, when an HTML build has finished, MathJax 3's ``es5`` build into
   ``_build/html/_static/mathjax/``: the entry script and the folders it loads its parts
   from (fonts, TeX extensions, the menu and its accessibility tools).

The files come from the ``django-static-mathjax`` wheel on PyPI (the ``book`` extra of
``pyproject.toml``), which ships MathJax 3's ``es5`` build as package data of a Python package
named ``mathjax``. ``tools/browser_check.py`` checks the result: every page with math loads
MathJax from the site, and in a browser the formulas are typeset.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

#: Where the copy lives, relative to the built site's ``_static`` folder.
MATHJAX_DIR = "mathjax"
#: The entry script ``book/_config.yml`` names: TeX and MathML input, CommonHTML output
#: (what Sphinx loads from the CDN by default).
DEFAULT_ENTRY = "tex-mml-chtml.js"
#: The folders of the ``es5`` build an entry script loads its parts from at run time.
PARTS = ("a11y", "adaptors", "input", "output", "sre", "ui")
#: The fix named by every error below.
INSTALL = "pip install django-static-mathjax (or the book extra: pip install -e '.[book]')"


def es5_dir() -> Path:
    """The installed MathJax 3 ``es5`` build (``<site-packages>/mathjax/static/mathjax/es5``).

    Raises ``FileNotFoundError`` naming the package to install when it is missing.
    """
    spec = importlib.util.find_spec("mathjax")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        es5 = Path(location) / "static" / "mathjax" / "es5"
        if (es5 / DEFAULT_ENTRY).is_file():
            return es5
    raise FileNotFoundError(
        f"MathJax 3's es5 build is not installed (no Python package 'mathjax' with "
        f"static/mathjax/es5/{DEFAULT_ENTRY}); the book serves its formulas from it: {INSTALL}")


def version(es5: Path) -> str:
    """The MathJax version of an ``es5`` folder (from its ``package.json``), or ``"unknown"``."""
    try:
        return json.loads((es5.parent / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def entry_script(mathjax_path: str) -> str:
    """The entry script's file name in ``mathjax_path`` (``"mathjax/tex-mml-chtml.js"`` →
    ``"tex-mml-chtml.js"``). A URL, or a path outside the local copy, is a ``ValueError``
    that says what to write instead."""
    fix = (f"set mathjax_path: {MATHJAX_DIR}/{DEFAULT_ENTRY} under sphinx: config: in "
           "book/_config.yml")
    if not mathjax_path or "://" in mathjax_path or mathjax_path.startswith("//"):
        raise ValueError(f"mathjax_path = {mathjax_path!r} loads MathJax from the network, so "
                         f"the offline book shows raw TeX; {fix}")
    folder, _, name = mathjax_path.partition("/")
    if folder != MATHJAX_DIR or not name or "/" in name:
        raise ValueError(f"mathjax_path = {mathjax_path!r} is not a file of the local MathJax "
                         f"copy in _static/{MATHJAX_DIR}/; {fix}")
    return name


def copy_mathjax(static_dir: Path, entry: str = DEFAULT_ENTRY, es5: Path | None = None) -> Path:
    """Copy the entry script ``entry`` and the folders it loads (:data:`PARTS`) from the
    ``es5`` build into ``static_dir/mathjax``; return that folder. Files already there are
    overwritten, so a rebuild after a MathJax upgrade serves the new version."""
    es5 = es5 or es5_dir()
    if not (es5 / entry).is_file():
        raise FileNotFoundError(f"{entry} is not part of MathJax's es5 build in {es5}; "
                                f"name one of its entry scripts, e.g. {DEFAULT_ENTRY}")
    target = static_dir / MATHJAX_DIR
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / entry, target / entry)
    for part in PARTS:
        if (es5 / part).is_dir():
            shutil.copytree(es5 / part, target / part, dirs_exist_ok=True)
    return target


# ----------------------------------------------------------------------------- Sphinx
def _check_config(app, config) -> None:
    """Sphinx ``config-inited``: refuse a CDN ``mathjax_path`` or a missing MathJax early,
    before any chapter is executed."""
    from sphinx.errors import ConfigError

    try:
        entry_script(config.mathjax_path)
        es5_dir()
    except (ValueError, FileNotFoundError) as err:
        raise ConfigError(str(err)) from None


def _copy_after_build(app, exception) -> None:
    """Sphinx ``build-finished``: put the local MathJax copy into the HTML site."""
    if exception is not None or app.builder.format != "html":
        return
    from sphinx.util import logging

    target = copy_mathjax(Path(app.outdir) / "_static", entry_script(app.config.mathjax_path))
    logging.getLogger(__name__).info(f"MathJax {version(es5_dir())} served from {target}")


def setup(app):
    """Sphinx extension entry point (``sphinx: local_extensions`` in ``book/_config.yml``)."""
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _check_config)
    app.connect("build-finished", _copy_after_build)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
