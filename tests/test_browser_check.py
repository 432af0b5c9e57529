"""The browser check: what counts as a figure, a player, a badge, an error, a formula
served offline and a formula typeset in the browser."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from tools import browser_check, notebooks, offline_mathjax

OUTPUT = """<div class="cell_output docutils container">
<figure class="align-default" id="fig-intro-demo">
<img alt="Spectrograms of a mixture and its estimate." src="_images/fig.png" />
<figcaption><p><span class="caption-number">Figure 1.1 </span><span class="caption-text">
The demo.</span></p></figcaption></figure>
<div class="output text_html"><table><tr><td><audio controls="controls" aria-label="mixture">
<source src="data:audio/wav;base64,UklGRg==" type="audio/wav" /></audio></td></tr></table></div>
</div>"""

#: What a cell shows without figure metadata: a bare image named by its file, a bare player.
BARE = """<div class="cell_output docutils container">
<img alt="_images/3e34aa.png" src="_images/fig.png" />
<div class="output text_html"><audio controls="controls"><source src="data:audio/wav;base64,
UklGRg==" type="audio/wav" /></audio></div></div>"""

#: A pickers' static panel: an embedded image with alternative text, in its section.
PANEL = """<section id="try-it"><h2>Try it</h2><div class="cell_output docutils container">
<figure class="lassnet-figure"><img src="data:image/png;base64,iVBORw0KGgo=" alt="FiLM's
shifts for two queries."></figure></div></section>"""


#: A display formula and an inline one as Sphinx writes them (before MathJax runs).
MATH = ('<div class="math notranslate nohighlight">\\[\\hat s = f(x, q)\\]</div>'
        '<p>Inline <span class="math notranslate nohighlight">\\(x = s + n\\)</span>.</p>')
LOCAL_MATHJAX = '<script defer="defer" src="_static/mathjax/tex-mml-chtml.js"></script>'
CDN_MATHJAX = ('<script defer="defer" '
               'src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>')


def _page(body: str, stem: str, head: str = "") -> str:
    badge = notebooks.BADGE.format(url=notebooks.colab_url(stem))
    return (f"<html><head><meta charset='utf-8'>{head}</head><body><section><h1>{stem}</h1>"
            f"{badge}{body}</section></body></html>")


@pytest.fixture()
def site(tmp_path):
    root = tmp_path / "html"
    (root / "_images").mkdir(parents=True)
    (root / "_images" / "fig.png").write_bytes(b"\x89PNG")
    (root / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=intro.html" />')
    colab = tmp_path / "colab"
    colab.mkdir()
    for source in notebooks.chapters():
        body = OUTPUT + MATH if source.stem == "intro" else "<p>prose</p>"
        head = LOCAL_MATHJAX if source.stem == "intro" else ""
        (root / f"{source.stem}.html").write_text(_page(body, source.stem, head))
        (colab / f"{source.stem}.ipynb").write_text("{}")
    (root / "_static" / "mathjax").mkdir(parents=True)
    (root / "_static" / "mathjax" / "tex-mml-chtml.js").write_text("// MathJax")
    return root


def _check(site, demo=("intro.html",)):
    return browser_check.check_site(site, list(demo), site.parent / "colab")


def test_parse_counts_only_cell_outputs(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<img src="logo.png"><p><audio></audio></p>' + OUTPUT +
                    '<div class="cell_output"><pre class="traceback">boom</pre></div>')
    report = browser_check.parse_page(page)
    assert report.images == ["_images/fig.png"] and report.audio == 1 and report.errors == 1
    assert report.numbers == ["Figure 1.1"] and report.uncaptioned == []
    assert report.alts == ["Spectrograms of a mixture and its estimate."]
    assert report.unnamed_audio == 0 and report.panel_anchor is None
    front = tmp_path / "index.html"
    front.write_text('<meta http-equiv="Refresh" content="0; url=intro.html" />')
    assert browser_check.parse_page(front).redirect == "intro.html"


def test_bare_figures_file_name_alt_text_and_unnamed_players_are_reported(site):
    first = notebooks.chapters()[1].stem
    (site / f"{first}.html").write_text(_page(BARE, first))
    problems = _check(site)
    assert f"{first}.html: an image has a file name as alternative text (_images/3e34aa.png)" \
        in problems
    assert any(f"{first}.html: 1 figure(s) without a number and caption" in p for p in problems)
    assert any(f"{first}.html: 1 of 1 audio player(s) without an accessible name" in p
               for p in problems)
    assert len(problems) == 3
    wrapped = ('<div class="cell_output"><figure id="fig-x"><div class="output text_html">'
               '<audio aria-label="mixture"></audio></div><figcaption><p><span '
               'class="caption-number">Figure 2.4 </span>players</p></figcaption></figure></div>')
    (site / f"{first}.html").write_text(_page(OUTPUT + wrapped, first))
    assert _check(site) == [f"{first}.html: Figure 2.4 caption(s) something that is not an "
                            "image (a figure cell that also displays players, tables or HTML: "
                            "show those in a cell of their own)"]
    for alt, ok in [("fig.png", False), ("", False), ("0123456789abcdef0123", False),
                    ("A chirp rising from 300 Hz to 2.1 kHz.", True)]:
        assert (browser_check.alt_problem(alt, "_images/x.png") is None) == ok, alt


def test_a_pickers_panel_needs_alt_text_and_is_screenshot(site, tmp_path, monkeypatch):
    (site / "03_film.html").write_text(_page(PANEL, "03_film"))
    assert _check(site) == []
    assert browser_check.parse_page(site / "03_film.html").panel_anchor == "try-it"
    assert browser_check.panel_pages(site) == ["03_film.html#try-it"]
    (site / "03_film.html").write_text(_page(PANEL.replace('alt="FiLM', 'title="FiLM'),
                                             "03_film"))
    assert _check(site) == ["03_film.html: an image has no alternative text"]


def test_a_good_site_passes(site):
    assert _check(site) == []
    assert browser_check.check_math(site) == ([], ["intro.html"])


def test_parse_finds_scripts_and_formulas(tmp_path):
    page = tmp_path / "p.html"
    page.write_text(_page(MATH + '<p class="mathematics">not a formula</p>', "intro",
                          LOCAL_MATHJAX + '<script src="_static/doctools.js"></script>'))
    report = browser_check.parse_page(page)
    assert report.math == 2
    assert report.scripts == ["_static/mathjax/tex-mml-chtml.js", "_static/doctools.js"]
    assert browser_check.is_remote("https://cdn.example.org/x.js")
    assert browser_check.is_remote("//cdn.example.org/x.js")
    assert not browser_check.is_remote("_static/mathjax/tex-mml-chtml.js")


def test_mathjax_from_a_cdn_or_missing_is_reported(site):
    intro = site / "intro.html"
    intro.write_text(_page(MATH, "intro", CDN_MATHJAX))
    problems, pages = browser_check.check_math(site)
    assert pages == ["intro.html"]
    assert any("intro.html: loads MathJax from the network (https://cdn.jsdelivr.net" in p
               for p in problems)
    # A CDN script is reported even on a page without formulas.
    (site / "glossary.html").write_text(_page("<p>prose</p>", "glossary", CDN_MATHJAX))
    assert any(p.startswith("glossary.html: loads MathJax") for p in browser_check.check_math(
        site)[0])
    (site / "glossary.html").unlink()
    intro.write_text(_page(MATH, "intro"))
    assert browser_check.check_math(site)[0] == [
        "intro.html: 2 formula(s) but no MathJax script"]
    intro.write_text(_page(MATH, "intro", LOCAL_MATHJAX))
    (site / "_static" / "mathjax" / "tex-mml-chtml.js").unlink()
    assert browser_check.check_math(site)[0] == [
        "intro.html: MathJax script _static/mathjax/tex-mml-chtml.js does not exist in the site"]


def test_a_site_without_formulas_is_reported(site):
    (site / "intro.html").write_text(_page(OUTPUT, "intro", LOCAL_MATHJAX))
    problems, pages = browser_check.check_math(site)
    assert pages == [] and len(problems) == 1 and "no page has a formula" in problems[0]


#: The same formulas once MathJax has typeset them (shortened CommonHTML output).
TYPESET = ('<div class="math notranslate nohighlight"><mjx-container class="MathJax" '
           'jax="CHTML" display="true"><mjx-math><mjx-mi><mjx-c class="mjx-c1D453"></mjx-c>'
           '</mjx-mi></mjx-math><mjx-assistive-mml><math><mi>f</mi></math></mjx-assistive-mml>'
           '</mjx-container></div><p>Inline <span class="math notranslate nohighlight">'
           '<mjx-container class="MathJax" jax="CHTML"><mjx-math></mjx-math></mjx-container>'
           '</span> and <code>print("$$")</code>.</p><pre>x = "\\[not math\\]"</pre>')


def test_rendered_math_passes_when_every_formula_is_typeset():
    result = browser_check.parse_rendered(TYPESET)
    assert (result.containers, result.formulas, result.untypeset) == (2, 2, 0)
    assert "f" not in " ".join(result.text)  # MathJax's hidden MathML is not visible text
    assert browser_check.rendered_math_problems(TYPESET, "intro.html") == []


def test_rendered_math_reports_raw_tex_and_untypeset_formulas():
    problems = browser_check.rendered_math_problems(_page(MATH, "intro"), "intro.html")
    assert problems[0] == ("intro.html: 2 of 2 formulas not typeset by MathJax "
                           "(0 mjx-container elements)")
    assert any("raw TeX \\[ left" in p and "hat s" in p for p in problems)
    assert any("raw TeX \\( left" in p for p in problems)
    half = TYPESET.replace('<mjx-container class="MathJax" jax="CHTML"><mjx-math></mjx-math>'
                           '</mjx-container>', "$$x$$")
    assert browser_check.rendered_math_problems(half, "p.html") == [
        "p.html: 1 of 2 formulas not typeset by MathJax (1 mjx-container elements)",
        "p.html: raw TeX $$ left in the visible text: …Inline $$x$$ and .…"]
    assert browser_check.rendered_math_problems("<p>no math</p>", "p.html") == [
        "p.html: no formula in the rendered page"]


def test_main_checks_rendered_math_and_screenshots_a_page_with_formulas(
        site, tmp_path, monkeypatch, capsys):
    (site / "03_film.html").write_text(_page(MATH + PANEL, "03_film", LOCAL_MATHJAX))
    rendered, shots = [], []
    monkeypatch.setattr(browser_check, "find_browser", lambda: "chromium")

    def fake_dom(browser, url, timeout=120.0):
        rendered.append(url.rsplit("/", 1)[-1])
        return TYPESET if "intro" in url else _page(MATH, "03_film")  # film left untypeset

    monkeypatch.setattr(browser_check, "rendered_dom", fake_dom)
    urls = []

    def fake_screenshot(browser, url, out, **kw):
        shots.append(out.name)
        urls.append(url)
        if "#" not in out.name and "_section-" in url:  # the section's page exists meanwhile
            text = (site / url.rsplit("/", 1)[-1]).read_text()
            assert 'getElementById("try-it")' in text and text.index("<script>") > text.index(
                "Try it")

    monkeypatch.setattr(browser_check, "screenshot", fake_screenshot)
    code = browser_check.main(["--site", str(site), "--out", str(tmp_path / "shots"),
                               "--colab-dir", str(tmp_path / "colab")])
    out, err = capsys.readouterr()
    assert rendered == ["03_film.html", "intro.html"]
    assert code == 1 and "03_film.html: 2 of 2 formulas not typeset" in err
    assert "rendered math intro.html: ok" in out
    chapter = notebooks.chapters()[1].stem
    assert shots == ["index.png", f"{chapter}.png", "03_film.png", "03_film-try-it.png"]
    assert urls[-1].endswith("/_section-03_film-try-it.html")
    assert not list(site.glob("_section-*"))  # removed once shot


def test_missing_players_figures_badges_and_images_are_reported(site):
    first = notebooks.chapters()[1].stem
    (site / f"{first}.html").write_text("<html><body><h1>no badge</h1></body></html>")
    (site / "intro.html").write_text(_page(OUTPUT.replace("<audio", "<video"), "intro"))
    (site / "_images" / "fig.png").unlink()
    (site.parent / "colab" / "intro.ipynb").unlink()
    problems = _check(site)
    assert any(f"{first}.html: no Colab badge" in p for p in problems)
    assert any("intro.html: no audio player" in p for p in problems)
    assert any("image _images/fig.png does not exist" in p for p in problems)
    assert any("intro.ipynb, missing" in p for p in problems)
    (site / "intro.html").write_text(_page("<p>nothing</p>", "intro"))
    assert any("intro.html: no figure" in p for p in _check(site))


def test_without_a_browser_the_screenshots_are_skipped(site, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(browser_check.shutil, "which", lambda name: None)
    code = browser_check.main(["--site", str(site), "--out", str(tmp_path / "shots"),
                               "--colab-dir", str(tmp_path / "colab")])
    out = capsys.readouterr().out
    assert code == 0 and "SKIPPED rendered math and screenshots" in out
    assert "math: 1 page(s) with formulas (intro.html)" in out
    assert not (tmp_path / "shots").exists()


def test_no_site_is_an_error(tmp_path):
    assert browser_check.main(["--site", str(tmp_path / "nothing")]) == 1


def test_front_page_redirect_is_followed(site):
    url, name = browser_check._page_url(site, "index.html")
    assert url.endswith("/intro.html") and name == "index.png"
    url, name = browser_check._page_url(site, "intro.html#a-demo")
    assert url.endswith("/intro.html#a-demo") and name == "intro-a-demo.png"


def test_trim_bottom_cuts_the_empty_window(tmp_path):
    np = pytest.importorskip("numpy")
    image = pytest.importorskip("PIL.Image")
    pixels = np.full((900, 40, 3), 255, dtype=np.uint8)
    pixels[:, 5] = 200  # a sidebar line that runs to the bottom
    pixels[100:120, 10:30] = 0  # content, a short gap, more content
    pixels[200:220, 10:30] = 0
    pixels[880:890, 10:30] = 90  # a footer pinned to the window's bottom
    path = tmp_path / "shot.png"
    image.fromarray(pixels).save(path)
    browser_check.trim_bottom(path, margin=10, min_gap=300)
    with image.open(path) as trimmed:
        assert trimmed.size == (40, 230)
    browser_check.trim_bottom(path, margin=10, min_gap=300)  # nothing long left to cut
    with image.open(path) as again:
        assert again.size == (40, 230)


BROWSER = browser_check.find_browser()
HAS_MATHJAX = importlib.util.find_spec("mathjax") is not None


@pytest.mark.skipif(BROWSER is None, reason="no Chromium (`make chromium` installs it)")
@pytest.mark.skipif(not HAS_MATHJAX, reason="django-static-mathjax is not installed")
def test_chromium_typesets_formulas_with_the_local_mathjax(tmp_path):
    """End to end, offline: a page like Sphinx's, MathJax copied by the book's extension."""
    offline_mathjax.copy_mathjax(tmp_path / "_static")
    config = ('<script>window.MathJax = {"options": {"processHtmlClass": '
              '"tex2jax_process|mathjax_process|math|output_area"}}</script>')
    page = tmp_path / "intro.html"
    page.write_text(_page(MATH, "intro", config + LOCAL_MATHJAX))
    dom = browser_check.rendered_dom(BROWSER, page.resolve().as_uri())
    assert browser_check.parse_rendered(dom).containers == 2
    assert browser_check.rendered_math_problems(dom, "intro.html") == []
    # Without the copy the same page shows raw TeX, and the check says so.
    shutil.rmtree(tmp_path / "_static")
    dom = browser_check.rendered_dom(BROWSER, page.resolve().as_uri())
    problems = browser_check.rendered_math_problems(dom, "intro.html")
    assert "2 of 2 formulas not typeset" in problems[0]
