# lassnet — the two commands a newcomer needs are `make book` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
CONSTRAINTS := constraints.txt
NOTEBOOKS := build/notebooks
PYTEST_FLAGS ?=

.PHONY: help install book test unit-test notebook-test notebooks lint format bench clean \
	colab browser-check chromium classroom

help:
	@echo "make book   install everything, build the book (executes every chapter) -> book/_build/html"
	@echo "make test   install everything, run the unit tests and every chapter (fast setting)"
	@echo "make lint | format | bench | notebooks | clean"
	@echo "make colab          regenerate the Colab notebooks book/colab/*.ipynb from the chapters"
	@echo "make browser-check  check the built book's pages, screenshots -> build/screenshots"
	@echo "make classroom      student + teacher notebooks of the exercises -> build/classroom"
	@echo "make chromium       (optional, root) apt-get install chromium for browser-check"

install:
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev,book,clap,classroom]"
	$(PIP) install -q --no-deps "laion-clap==1.1.7"

book: install
	$(PYTHON) -c "from jupyter_book.cli.main import main; main()" build book --all

test: install
	$(MAKE) unit-test notebook-test

unit-test:
	$(PYTHON) -m pytest tests $(PYTEST_FLAGS)

notebooks:
	rm -rf $(NOTEBOOKS)
	$(PYTHON) tools/notebooks.py $(NOTEBOOKS)

notebook-test: notebooks
	$(PYTHON) tools/notebooks.py --check book/colab
	LASSNET_FAST=1 $(PYTHON) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider \
		$(NOTEBOOKS) $(PYTEST_FLAGS)

colab:
	$(PYTHON) tools/notebooks.py --colab book/colab

# Exercises for a class: build/classroom/student (solutions replaced by stubs),
# build/classroom/teacher (solutions kept) and build/classroom/nbgrader, an nbgrader course
# (source/chNN, then release/chNN made by `nbgrader generate_assignment`; the classroom extra).
# `python tools/exercises.py check DIR` runs the checkers of handed-in notebooks.
classroom:
	rm -rf build/classroom
	$(PYTHON) tools/exercises.py generate build/classroom

browser-check:
	$(PYTHON) tools/browser_check.py --site book/_build/html --out build/screenshots

# Optional: the headless browser for browser-check (Debian/Ubuntu, as root). Without it,
# browser-check still checks the HTML and says that it skipped the screenshots.
chromium:
	apt-get update && apt-get install -y chromium

lint:
	$(PYTHON) -m ruff check lassnet tests benchmarks tools

format:
	$(PYTHON) -m ruff format lassnet tests benchmarks tools

bench:
	$(PYTHON) benchmarks/separator.py

clean:
	rm -rf build book/_build .pytest_cache
