"""The Sphinx extension that serves MathJax from the built book (tools/offline_mathjax.py)."""

from __future__ import annotations

import importlib.util

import pytest

from tools import offline_mathjax

HAS_MATHJAX = importlib.util.find_spec("mathjax") is not None


def _fake_es5(root):
    """A small stand-in for MathJax's es5 build: two entry scripts and the part folders."""
    es5 = root / "mathjax" / "static" / "mathjax" / "es5"
    for part in offline_mathjax.PARTS:
        (es5 / part / "sub").mkdir(parents=True)
        (es5 / part / "sub" / f"{part}.js").write_text(f"// {part}")
    (es5 / offline_mathjax.DEFAULT_ENTRY).write_text("// entry")
    (es5 / "tex-svg.js").write_text("// another entry, not copied")
    (es5.parent / "package.json").write_text('{"version": "3.2.2"}')
    return es5


def test_entry_script_accepts_only_the_local_copy():
    assert offline_mathjax.entry_script("mathjax/tex-mml-chtml.js") == "tex-mml-chtml.js"
    assert offline_mathjax.entry_script("mathjax/tex-chtml.js") == "tex-chtml.js"
    cdn = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
    with pytest.raises(ValueError, match="loads MathJax from the network") as err:
        offline_mathjax.entry_script(cdn)
    assert "mathjax/tex-mml-chtml.js" in str(err.value) and "_config.yml" in str(err.value)
    for path in ("//cdn.example.org/tex-chtml.js", ""):
        with pytest.raises(ValueError, match="network"):
            offline_mathjax.entry_script(path)
    for path in ("MathJax/tex-chtml.js", "mathjax/", "mathjax/es5/tex-chtml.js", "tex.js"):
        with pytest.raises(ValueError, match="not a file of the local MathJax copy"):
            offline_mathjax.entry_script(path)


def test_copy_takes_the_entry_and_the_parts_it_loads(tmp_path):
    es5 = _fake_es5(tmp_path / "site-packages")
    static = tmp_path / "html" / "_static"
    target = offline_mathjax.copy_mathjax(static, es5=es5)
    assert target == static / "mathjax"
    assert (target / "tex-mml-chtml.js").read_text() == "// entry"
    assert not (target / "tex-svg.js").exists()  # only the entry the book loads
    for part in offline_mathjax.PARTS:
        assert (target / part / "sub" / f"{part}.js").read_text() == f"// {part}"
    # A rebuild after an upgrade overwrites the old copy.
    (es5 / "output" / "sub" / "output.js").write_text("// new font")
    offline_mathjax.copy_mathjax(static, es5=es5)
    assert (target / "output" / "sub" / "output.js").read_text() == "// new font"
    assert offline_mathjax.version(es5) == "3.2.2"
    assert offline_mathjax.version(tmp_path) == "unknown"
    with pytest.raises(FileNotFoundError, match="tex-nothing.js is not part"):
        offline_mathjax.copy_mathjax(static, "tex-nothing.js", es5=es5)


def test_missing_package_names_the_wheel_to_install(monkeypatch):
    monkeypatch.setattr(offline_mathjax.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install django-static-mathjax"):
        offline_mathjax.es5_dir()


@pytest.mark.skipif(not HAS_MATHJAX, reason="django-static-mathjax is not installed")
def test_the_installed_wheel_has_mathjax_3():
    es5 = offline_mathjax.es5_dir()
    assert (es5 / "tex-mml-chtml.js").stat().st_size > 100_000
    assert (es5 / "output" / "chtml" / "fonts" / "woff-v2").is_dir()  # the CommonHTML fonts
    assert offline_mathjax.version(es5).startswith("3.")


def _sphinx(tmp_path, mathjax_path):
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(offline_mathjax.__file__.rsplit('/', 1)[0])!r})\n"
        "extensions = ['offline_mathjax']\n"
        f"mathjax_path = {mathjax_path!r}\n")
    (src / "index.rst").write_text("Title\n=====\n\n.. math::\n\n   \\hat s = f(x, q)\n")
    return Sphinx(str(src), str(src), str(tmp_path / "html"), str(tmp_path / "doctrees"),
                  "html", status=None, warning=None, freshenv=True)


@pytest.mark.skipif(not HAS_MATHJAX, reason="django-static-mathjax is not installed")
def test_a_sphinx_build_serves_mathjax_from_its_static_folder(tmp_path):
    app = _sphinx(tmp_path, "mathjax/tex-mml-chtml.js")
    app.build()
    html = tmp_path / "html"
    page = (html / "index.html").read_text()
    assert 'src="_static/mathjax/tex-mml-chtml.js"' in page
    assert "cdn.jsdelivr.net" not in page
    assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


@pytest.mark.skipif(not HAS_MATHJAX, reason="django-static-mathjax is not installed")
def test_a_cdn_mathjax_path_stops_the_build_before_it_starts(tmp_path):
    from sphinx.errors import ConfigError

    with pytest.raises(ConfigError, match="loads MathJax from the network"):
        _sphinx(tmp_path, "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js")
