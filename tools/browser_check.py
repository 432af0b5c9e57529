"""Look at the built book as a reader would: check its pages and take browser screenshots.

    python tools/browser_check.py [--site book/_build/html] [--out build/screenshots]

1. **The HTML** (always; no browser needed). Every chapter of ``book/_toc.yml`` has a page
   with its "Open in Colab" badge, pointing at a notebook that exists in ``book/colab``; the
   demo pages (``--demo``, default: the introduction) show figures (images in cell outputs,
   whose files exist) and audio players; no page shows an error output.
2. **Screenshots** with headless Chromium (the Debian package ``chromium``: ``make chromium``
   installs it) of the front page and one chapter into ``--out``. Without Chromium this step
   is skipped with a message saying so, and the result rests on step 1.

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


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.report = PageReport()
        self._stack: list[tuple[str, bool]] = []  # (tag, opens a cell output)
        self._depth = 0  # how many enclosing cell outputs

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
        if self._depth:
            if tag == "img" and attrs.get("src"):
                self.report.images.append(attrs["src"])
            elif tag == "audio":
                self.report.audio += 1
        if "traceback" in classes or "output_error" in classes:
            self.report.errors += 1
        if tag in self._VOID:
            return
        opens = "cell_output" in classes
        self._stack.append((tag, opens))
        self._depth += opens

    def handle_endtag(self, tag):
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
        for src in report.images:
            if not src.startswith("data:") and not (page.parent / src).is_file():
                problems.append(f"{page.name}: image {src} does not exist")
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
                        "with the demo, and the first chapter)")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"no built book at {args.site}: build it first (`make book`)", file=sys.stderr)
        return 1
    problems = check_site(args.site, args.demo, args.colab_dir)
    for problem in problems:
        print("FAIL", problem, file=sys.stderr)
    print(f"HTML: {'ok' if not problems else f'{len(problems)} problem(s)'}")

    browser = find_browser()
    if browser is None:
        print("SKIPPED screenshots: no Chromium found (`make chromium` installs it: "
              "apt-get install chromium)")
    else:
        chapters = [p.stem for p in notebooks.chapters()]
        pages = args.pages or ["index.html",
                               f"{chapters[1] if len(chapters) > 1 else chapters[0]}.html"]
        for page in pages:
            url, name = _page_url(args.site, page)
            try:
                screenshot(browser, url, args.out / name)
                print(f"screenshot {args.out / name}")
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                problems.append(f"{page}: {err}")
                print("FAIL", page, err, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
