"""The browser check's HTML side: what counts as a figure, a player, a badge, an error."""

from __future__ import annotations

import pytest

from tools import browser_check, notebooks

OUTPUT = """<div class="cell_output docutils container">
<img alt="_images/fig.png" src="_images/fig.png" />
<div class="output text_html"><table><tr><td><audio controls="controls">
<source src="data:audio/wav;base64,UklGRg==" type="audio/wav" /></audio></td></tr></table></div>
</div>"""


def _page(body: str, stem: str) -> str:
    badge = notebooks.BADGE.format(url=notebooks.colab_url(stem))
    return (f"<html><head><meta charset='utf-8'></head><body><section><h1>{stem}</h1>"
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
        body = OUTPUT if source.stem == "intro" else "<p>prose</p>"
        (root / f"{source.stem}.html").write_text(_page(body, source.stem))
        (colab / f"{source.stem}.ipynb").write_text("{}")
    return root


def _check(site, demo=("intro.html",)):
    return browser_check.check_site(site, list(demo), site.parent / "colab")


def test_parse_counts_only_cell_outputs(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<img src="logo.png"><p><audio></audio></p>' + OUTPUT +
                    '<div class="cell_output"><pre class="traceback">boom</pre></div>')
    report = browser_check.parse_page(page)
    assert report.images == ["_images/fig.png"] and report.audio == 1 and report.errors == 1
    front = tmp_path / "index.html"
    front.write_text('<meta http-equiv="Refresh" content="0; url=intro.html" />')
    assert browser_check.parse_page(front).redirect == "intro.html"


def test_a_good_site_passes(site):
    assert _check(site) == []


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
    assert code == 0 and "SKIPPED screenshots" in out
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
