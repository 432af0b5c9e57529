"""The project's own tools (not part of the installed library): run from the repository root.

* :mod:`tools.notebooks`: chapters → notebooks for nbval and Colab; the Sphinx extension that
  puts the "Open in Colab" badge on every chapter (``book/_config.yml`` loads that file as the
  extension ``notebooks``);
* :mod:`tools.exercises`: student and teacher notebooks from the book's exercises, and
  checking handed-in work (``make classroom``);
* :mod:`tools.browser_check`: the built book's pages, and browser screenshots
  (``make browser-check``).

Each runs as a script (``python tools/notebooks.py ...``, as the Makefile calls them) or as a
module (``python -m tools.notebooks ...``); tests import them as ``from tools import
notebooks``. All three work from the repository root.
"""
