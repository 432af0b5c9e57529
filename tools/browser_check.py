"""Look at the built book as a reader would: check its pages and take browser screenshots.

    python tools/browser_check.py [--site book/_build/html] [--out build/screenshots]

1. **The HTML** (always; no browser needed). Every chapter of ``book/_toc.yml`` has a page
   with its "Open in Colab" badge, pointing at a notebook that exists in ``book/colab``; the
   demo pages (``--demo``, default: the introduction) show figures (images in cell outputs,
   whose files exist) and audio players; no page shows an error output. **Figures and
   players a reader can cite and a screen reader can read:** every image in a cell output
   has alternative text that is words, not its file's name; every figure a cell draws is a
   numbered, captioned figure ("Figure 5.2 …"; the pickers' static panels, embedded images,
   carry alternative text and a title line instead); every ``<audio>`` player has an
   accessible name (``aria-label``, ``aria-labelledby`` or ``title``). **Math:** some page
   has formulas, and every page with formulas loads MathJax from the site itself (a file
   under ``_static/``, put there by ``tools/offline_mathjax.py``), never from a CDN, so the
   book read offline shows typeset formulas rather than raw ``\\[ ... \\]``.
2. **In a browser**, with headless Chromium (the Debian package ``chromium``: ``make
   chromium`` installs it): every page with formulas is loaded and, once its scripts have
   run, each formula must have become MathJax output (an ``mjx-container`` element) and no
   raw TeX delimiter (``\\[``, ``\\(``, ``$$``) may be left in the visible text; then
   screenshots of the front page, one chapter, one page with formulas and every pickers'
   static panel (the page's title and the section that holds it, alone: :func:`section_page`)
   go to ``--out``: they show the captions.
   Without Chromium this step is skipped with a message saying so, and the result rests on
   step 1.

Exit status 0 when every check passes, 1 otherwise. ``make browser-check`` runs it on the site
that ``make book`` built.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python tools/browser_check.py): from the root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import notebooks  # the chapter list, the Colab addresses

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass
class PageReport:
    """What one built page holds."""

    images: list[str] = field(default_factory=list)  # src of <img> inside cell outputs
    audio: int = 0  # <audio> players inside cell outputs
    links: list[str] = field(default_factory=list)  # every <a href>
    errors: int = 0  # cell outputs that are error tracebacks
    redirect: str | None = None  # <meta http-equiv="refresh"> target
    scripts: list[str] = field(default_factory=list)  # src of every <script src=...>
    math: int = 0  # formulas as Sphinx writes them: elements of class "math", before MathJax
    alts: list[str | None] = field(default_factory=list)  # alt of each of ``images``
    unnamed_audio: int = 0  # <audio> in cell outputs without an accessible name
    numbers: list[str] = field(default_factory=list)  # "Figure 5.2" of each numbered figure
    uncaptioned: list[str] = field(default_factory=list)  # file images not in a numbered figure
    panel_anchor: str | None = None  # id of the section holding the first pickers' panel
    misplaced: list[str] = field(default_factory=list)  # numbers of captions around no image


#: What a file name looks like as alternative text ("_images/3e34….png", "fig.png").
_FILE_NAME = re.compile(r"(^|/)[\w.-]+\.(png|jpe?g|svg|gif|webp)$|^_images/|^[0-9a-f]{16,}$",
                        re.I)


def alt_problem(alt: str | None, src: str) -> str | None:
    """Why ``alt`` is no alternative text for the image ``src`` (None when it is)."""
    alt = (alt or "").strip()
    if not alt:
        return "has no alternative text"
    if alt == src or _FILE_NAME.search(alt):
        return f"has a file name as alternative text ({alt[:60]})"
    return None


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.report = PageReport()
        self._stack: list[tuple[str, bool]] = []  # (tag, opens a cell output)
        self._depth = 0  # how many enclosing cell outputs
        self._figures: list[dict] = []  # open <figure>s: their file images and their number
        self._number: list[str] | None = None  # text of a caption-number being read
        self._section: str | None = None  # id of the innermost section opened so far

    _VOID = {"img", "meta", "link", "br", "hr", "input", "source", "area", "base", "col",
             "embed", "param", "track", "wbr"}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            match = re.search(r"url=(.+)", attrs.get("content") or "", re.I)
            self.report.redirect = match.group(1).strip() if match else None
        if tag == "a" and attrs.get("href"):
            self.report.links.append(attrs["href"])
        if tag == "script" and attrs.get("src"):
            self.report.scripts.append(attrs["src"])
        if "math" in classes and tag in ("div", "span"):
            self.report.math += 1
        if tag == "section" and attrs.get("id"):
            self._section = attrs["id"]
        if tag == "figure":
            self._figures.append({"images": [], "number": None, "any": False})
        if tag == "span" and "caption-number" in classes and self._figures:
            self._number = []
        if self._depth:
            if tag == "img" and attrs.get("src"):
                self.report.images.append(attrs["src"])
                self.report.alts.append(attrs.get("alt"))
                if self._figures:
                    self._figures[-1]["any"] = True
                if not attrs["src"].startswith("data:"):
                    if self._figures:
                        self._figures[-1]["images"].append(attrs["src"])
                    else:
                        self.report.uncaptioned.append(attrs["src"])
            elif tag == "audio":
                self.report.audio += 1
                if not any((attrs.get(k) or "").strip()
                           for k in ("aria-label", "aria-labelledby", "title")):
                    self.report.unnamed_audio += 1
            if "lassnet-figure" in classes and self.report.panel_anchor is None:
                self.report.panel_anchor = self._section
        if "traceback" in classes or "output_error" in classes:
            self.report.errors += 1
        if tag in self._VOID:
            return
        opens = "cell_output" in classes
        self._stack.append((tag, opens))
        self._depth += opens

    def handle_data(self, data):
        if self._number is not None:
            self._number.append(data)

    def handle_endtag(self, tag):
        if tag == "span" and self._number is not None:
            number = " ".join("".join(self._number).split())
            self._figures[-1]["number"] = number
            self._number = None
        if tag == "figure" and self._figures:
            figure = self._figures.pop()
            if figure["number"] and not figure["any"] and self._depth:
                self.report.misplaced.append(figure["number"])
            if figure["images"]:
                if figure["number"]:
                    self.report.numbers.append(figure["number"])
                else:
                    self.report.uncaptioned.extend(figure["images"])
        if tag in self._VOID or all(name != tag for name, _ in self._stack):
            return  # a void element (<img/>) or a stray end tag
        while self._stack:
            name, opens = self._stack.pop()
            self._depth -= opens
            if name == tag:
                break


def parse_page(path: Path) -> PageReport:
    """Figures, players, links and error outputs of one built HTML page."""
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser.report


def check_site(site: Path, demo_pages: list[str], colab_dir: Path | None = None) -> list[str]:
    """Problems found in the built site (an empty list when all is well)."""
    colab_dir = colab_dir or ROOT / notebooks.COLAB_DIR
    problems = []
    for source in notebooks.chapters():
        stem = source.stem
        page = site / f"{stem}.html"
        if not page.is_file():
            problems.append(f"{page}: missing (is the book built? `make book`)")
            continue
        report = parse_page(page)
        if notebooks.colab_url(stem) not in report.links:
            problems.append(f"{page.name}: no Colab badge linking to {stem}.ipynb")
        if not (colab_dir / f"{stem}.ipynb").is_file():
            problems.append(f"{page.name}: its badge opens {stem}.ipynb, missing in {colab_dir}")
        if report.errors:
            problems.append(f"{page.name}: {report.errors} error output(s)")
        for src, alt in zip(report.images, report.alts, strict=True):
            if not src.startswith("data:") and not (page.parent / src).is_file():
                problems.append(f"{page.name}: image {src} does not exist")
            why = alt_problem(alt, src)
            if why:
                problems.append(f"{page.name}: an image {why}")
        if report.uncaptioned:
            problems.append(f"{page.name}: {len(report.uncaptioned)} figure(s) without a "
                            f"number and caption (give the cell mystnb figure metadata)")
        if report.misplaced:
            problems.append(f"{page.name}: {', '.join(report.misplaced)} caption(s) something "
                            f"that is not an image (a figure cell that also displays players, "
                            f"tables or HTML: show those in a cell of their own)")
        if report.unnamed_audio:
            problems.append(f"{page.name}: {report.unnamed_audio} of {report.audio} audio "
                            f"player(s) without an accessible name (lassnet.widgets.player)")
        if report.images or report.audio:
            print(f"{page.name}: {len(report.numbers)} numbered figures"
                  + (f" ({report.numbers[0]}–{report.numbers[-1].split()[-1]})"
                     if report.numbers else "")
                  + f", {len(report.images) - len(report.numbers)} other images, "
                  f"{report.audio - report.unnamed_audio}/{report.audio} players named")
    for name in demo_pages:
        page = site / name
        if not page.is_file():
            problems.append(f"{page}: missing")
            continue
        report = parse_page(page)
        if not report.images:
            problems.append(f"{name}: no figure in the cell outputs")
        if not report.audio:
            problems.append(f"{name}: no audio player in the cell outputs")
        print(f"{name}: {len(report.images)} figures, {report.audio} audio players")
    return problems


def is_remote(src: str) -> bool:
    """Whether a script address leaves the site (``https://…``, ``//cdn…``)."""
    return "://" in src or src.startswith("//")


def check_math(site: Path) -> tuple[list[str], list[str]]:
    """Problems with the formulas of the built site, and the pages that have formulas.

    A page with formulas must load MathJax from a file of the site itself (one that exists);
    no page may load MathJax from the network. A site without any formula is a problem too:
    the book has formulas, so finding none means the pages are not what the checks expect."""
    problems, math_pages = [], []
    for page in sorted(site.glob("*.html")):
        report = parse_page(page)
        mathjax = [src for src in report.scripts if "mathjax" in src.lower()]
        remote = [src for src in mathjax if is_remote(src)]
        for src in remote:
            problems.append(f"{page.name}: loads MathJax from the network ({src}), so the "
                            "offline book shows raw TeX; book/_config.yml must load "
                            "tools/offline_mathjax.py and set mathjax_path")
        if not report.math:
            continue
        math_pages.append(page.name)
        local = [src for src in mathjax if not is_remote(src)]
        if not local and not remote:
            problems.append(f"{page.name}: {report.math} formula(s) but no MathJax script")
        for src in local:
            if not (page.parent / src.split("?")[0]).is_file():
                problems.append(f"{page.name}: MathJax script {src} does not exist in the site")
    if not math_pages:
        problems.append(f"{site}: no page has a formula (elements of class 'math'), "
                        "but the book has formulas")
    return problems, math_pages


#: TeX delimiters that MathJax removes when it typesets a formula.
RAW_TEX = ("\\[", "\\(", "$$")


@dataclass
class RenderedMath:
    """What a page holds after its scripts have run (Chromium's ``--dump-dom``)."""

    containers: int = 0  # <mjx-container>: typeset formulas
    formulas: int = 0  # elements of class "math" (Sphinx's formulas)
    untypeset: int = 0  # of those, the ones without an <mjx-container> inside
    text: list[str] = field(default_factory=list)  # visible text outside code and formulas' MathML


class _RenderedParser(HTMLParser):
    _HIDDEN = {"script", "style", "pre", "code", "textarea", "mjx-assistive-mml", "noscript"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.result = RenderedMath()
        self._stack: list[tuple[str, bool]] = []  # (tag, is a formula)
        self._open_formulas: list[bool] = []  # per open formula: whether MathJax output is in it
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "mjx-container":
            self.result.containers += 1
            if self._open_formulas:
                self._open_formulas[-1] = True
        if tag in _PageParser._VOID:
            return
        formula = "math" in (attrs.get("class") or "").split() and tag in ("div", "span")
        if formula:
            self.result.formulas += 1
            self._open_formulas.append(False)
        self._hidden += tag in self._HIDDEN
        self._stack.append((tag, formula))

    def handle_endtag(self, tag):
        if tag in _PageParser._VOID or all(name != tag for name, _ in self._stack):
            return
        while self._stack:
            name, formula = self._stack.pop()
            self._hidden -= name in self._HIDDEN
            if formula:
                typeset = self._open_formulas.pop()
                self.result.untypeset += not typeset
                if typeset and self._open_formulas:
                    self._open_formulas[-1] = True
            if name == tag:
                break

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.result.text.append(data)


def parse_rendered(dom: str) -> RenderedMath:
    """Typeset formulas, formulas left as TeX, and the visible text of a rendered page."""
    parser = _RenderedParser()
    parser.feed(dom)
    parser.close()
    return parser.result


def rendered_math_problems(dom: str, name: str) -> list[str]:
    """Problems with the formulas of one page as the browser shows it: every formula must
    contain MathJax output, and no raw TeX delimiter may be left in the visible text."""
    result = parse_rendered(dom)
    problems = []
    if not result.formulas:
        problems.append(f"{name}: no formula in the rendered page")
    elif result.untypeset:
        problems.append(f"{name}: {result.untypeset} of {result.formulas} formulas not typeset "
                        f"by MathJax ({result.containers} mjx-container elements)")
    text = " ".join(result.text)
    for delimiter in RAW_TEX:
        at = text.find(delimiter)
        if at >= 0:
            snippet = " ".join(text[max(0, at - 30):at + 50].split())
            problems.append(f"{name}: raw TeX {delimiter} left in the visible text: …{snippet}…")
    return problems


def rendered_dom(browser: str, url: str, timeout: float = 120.0) -> str:
    """The page at ``url`` as headless Chromium holds it once its scripts have run (MathJax
    included): the serialised DOM."""
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--mute-audio", f"--user-data-dir={profile}",
            "--virtual-time-budget=10000", "--dump-dom", url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or "<html" not in done.stdout.lower():
        raise RuntimeError(f"no rendered page for {url}: {done.stderr.strip()[-500:]}")
    return done.stdout


def find_browser() -> str | None:
    """The first headless-capable Chromium/Chrome on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(browser: str, url: str, out: Path, width: int = 1280, height: int = 16000,
               timeout: float = 120.0) -> None:
    """Save a screenshot of ``url`` to ``out`` (PNG) with headless Chromium: a window
    ``width`` wide and ``height`` tall (tall enough for a whole chapter), with the empty space
    below the page's end cut off."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--mute-audio",
            f"--user-data-dir={profile}", f"--window-size={width},{height}",
            "--virtual-time-budget=8000", f"--screenshot={out}", url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not out.is_file():
        raise RuntimeError(f"no screenshot of {url}: {done.stderr.strip()[-500:]}")
    trim_bottom(out)


def trim_bottom(path: Path, margin: int = 40, min_gap: int = 300) -> None:
    """Cut the empty window below the page's end from a PNG screenshot: the last run of at
    least ``min_gap`` identical rows (and the footer that the theme pins below it) goes,
    ``margin`` rows of it stay. Needs Pillow (matplotlib's dependency)."""
    try:
        import numpy as np
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    repeat = np.r_[False, (pixels[1:] == pixels[:-1]).all(axis=(1, 2))]  # row == row above
    starts = np.flatnonzero(~repeat)  # where each run of identical rows begins
    lengths = np.diff(np.r_[starts, len(pixels)])
    long = np.flatnonzero(lengths >= min_gap)
    if long.size:
        end = int(starts[long[-1]]) + margin
        Image.fromarray(pixels[:end]).save(path)


def _page_url(site: Path, page: str) -> tuple[str, str]:
    """``file://`` address of ``page`` (``name.html#anchor``), following a front-page
    redirect, and a file name for its screenshot."""
    name, _, anchor = page.partition("#")
    path = site / name
    redirect = parse_page(path).redirect if path.is_file() else None
    if redirect:
        path = site / redirect
    url = path.resolve().as_uri() + (f"#{anchor}" if anchor else "")
    shot = name.removesuffix(".html") + (f"-{anchor}" if anchor else "") + ".png"
    return url, shot


def panel_pages(site: Path) -> list[str]:
    """``page.html#section`` for every chapter page showing a pickers' static panel (the
    section that holds the first one), so the screenshots show each picker's fallback."""
    found = []
    for source in notebooks.chapters():
        page = site / f"{source.stem}.html"
        if page.is_file():
            anchor = parse_page(page).panel_anchor
            if anchor:
                found.append(f"{page.name}#{anchor}")
    return found


#: Removes every section of the page that neither holds nor is the one named, so the page
#: shows its title and that section only.
_ONLY_SECTION = """<script>
document.addEventListener("DOMContentLoaded", () => {
  let keep = document.getElementById(%s);
  while (keep && keep.parentElement && keep.tagName !== "ARTICLE") {
    for (const other of [...keep.parentElement.children]) {
      if (other !== keep && other.tagName === "SECTION") other.remove();
    }
    keep = keep.parentElement;
  }
});
</script>"""


def section_page(site: Path, page: str) -> Path:
    """A copy of ``page`` (``name.html#section``) beside it, showing the page's title and that
    section only (for a screenshot of one part of a long chapter); the caller removes it."""
    import json

    name, _, anchor = page.partition("#")
    html = (site / name).read_text(encoding="utf-8")
    script = _ONLY_SECTION % json.dumps(anchor)
    at = html.rfind("</body>")
    html = html[:at] + script + html[at:] if at >= 0 else html + script
    out = site / f"_section-{name.removesuffix('.html')}-{anchor}.html"
    out.write_text(html, encoding="utf-8")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "book" / "_build" / "html")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "screenshots")
    parser.add_argument("--colab-dir", type=Path, default=None,
                        help="the Colab notebooks the badges open (default: book/colab)")
    parser.add_argument("--demo", nargs="+", default=["intro.html"],
                        help="pages that must show figures and audio players")
    parser.add_argument("--pages", nargs="+", default=None,
                        help="pages to screenshot (default: index.html, i.e. the introduction "
                        "with the demo, the first chapter and the first other page with "
                        "formulas)")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"no built book at {args.site}: build it first (`make book`)", file=sys.stderr)
        return 1
    problems = check_site(args.site, args.demo, args.colab_dir)
    math_problems, math_pages = check_math(args.site)
    problems += math_problems
    for problem in problems:
        print("FAIL", problem, file=sys.stderr)
    print(f"math: {len(math_pages)} page(s) with formulas ({', '.join(math_pages)})")
    print(f"HTML: {'ok' if not problems else f'{len(problems)} problem(s)'}")

    browser = find_browser()
    if browser is None:
        print("SKIPPED rendered math and screenshots: no Chromium found (`make chromium` "
              "installs it: apt-get install chromium)")
    else:
        for name in math_pages:
            url = (args.site / name).resolve().as_uri()
            try:
                found = rendered_math_problems(rendered_dom(browser, url), name)
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                found = [f"{name}: {err}"]
            for problem in found:
                print("FAIL", problem, file=sys.stderr)
            problems += found
            print(f"rendered math {name}: {'ok' if not found else 'FAIL'}")
        chapters = [p.stem for p in notebooks.chapters()]
        pages = args.pages or ["index.html",
                               f"{chapters[1] if len(chapters) > 1 else chapters[0]}.html"]
        if args.pages is None:
            front = _page_url(args.site, "index.html")[0].rsplit("/", 1)[-1]
            pages += [name for name in math_pages if name not in pages and name != front][:1]
            pages += panel_pages(args.site)
        for page in pages:
            url, name = _page_url(args.site, page)
            section = None
            if "#" in page:  # a window scrolled to an anchor paints blank: show the section
                section = section_page(args.site, page)
                url = section.resolve().as_uri()
            try:
                screenshot(browser, url, args.out / name)
                print(f"screenshot {args.out / name}")
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                problems.append(f"{page}: {err}")
                print("FAIL", page, err, file=sys.stderr)
            finally:
                if section is not None:
                    section.unlink(missing_ok=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
