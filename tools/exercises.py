"""Student and teacher notebooks from the book's exercises, and checking handed-in work.

The chapters in ``book/`` are the one source. An exercise is two code cells that carry
``exercise: <name>`` in their cell options (a key of :data:`lassnet.exercises.EXERCISES`):

* the **solution cell** defines the function the student writes; its body holds the solution
  between nbgrader-style markers ``### BEGIN SOLUTION`` and ``### END SOLUTION``. It must be
  self-contained (its own imports), so that it can run on its own;
* the **checker cell** calls the exercise's checker and keeps the result in ``result``.

This tool writes, for every chapter with an exercise,

* ``OUT/teacher/<chapter>.ipynb``: the chapter as it is, solutions included;
* ``OUT/student/<chapter>.ipynb``: each solution replaced by ``raise NotImplementedError(hint)``
  (the function's signature and docstring stay), its cell shown rather than collapsed;

and checks notebooks by running only their exercise cells (fast: the rest of the chapter is
not executed)::

    python tools/exercises.py generate build/classroom            # what `make classroom` runs
    python tools/exercises.py generate build/classroom --nbgrader # + nbgrader cell metadata
    python tools/exercises.py check build/classroom/teacher       # every exercise must PASS
    python tools/exercises.py check submissions/*/*.ipynb         # a table of PASS / FAIL
    python tools/exercises.py time [--fast] [CHAPTER ...]         # seconds per chapter

:func:`solutions` gives the book's own answers as functions (the tests check them and build
the typical wrong answers from them).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

if __package__ in (None, ""):  # run as a script (python tools/exercises.py): tools.* from the root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lassnet.files import atomic_write
from tools import notebooks  # chapter order, the Colab install cell

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"


def exercise_chapters(book: Path = BOOK) -> list[Path]:
    """The chapters of ``book/_toc.yml`` (in order) with a solution block in a code cell."""
    return [
        p for p in notebooks.chapters(book)
        if BEGIN in p.read_text()
        and any(c.cell_type == "code" and BEGIN in c.source for c in jupytext.read(p).cells)
    ]


# --------------------------------------------------------------------------- one source
def strip_solutions(source: str, hint: str) -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block of ``source`` by a
    stub that raises ``NotImplementedError(hint)``, indented like the ``BEGIN`` marker."""
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"line {number}: {BEGIN} inside another solution block")
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({hint!r})"]
            inside = True
        elif marker == END:
            if not inside:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out)


def _exercise(cell) -> str | None:
    return cell.metadata.get("exercise") if cell.cell_type == "code" else None


def _nbgrader(cell, name: str, solution: bool) -> None:
    """nbgrader's cell metadata: an answer cell, or a 1-point test cell."""
    cell.metadata["nbgrader"] = {
        "grade": not solution,
        "grade_id": f"{name}_{'solution' if solution else 'check'}",
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
        **({} if solution else {"points": 1}),
    }


def versions(source: Path, nbgrader: bool = False):
    """``(student, teacher)`` notebooks of one chapter source."""
    from lassnet.exercises import EXERCISES

    teacher = jupytext.read(source)
    # On Colab the first cell installs lassnet; elsewhere it does nothing.
    teacher.cells.insert(0, nbformat.v4.new_code_cell(notebooks.INSTALL_CELL))
    student = copy.deepcopy(teacher)
    for t_cell, s_cell in zip(teacher.cells, student.cells, strict=True):
        name = _exercise(t_cell)
        if name is None:
            continue
        if name not in EXERCISES:
            raise ValueError(f"{source.name}: unknown exercise {name!r}")
        solution = BEGIN in t_cell.source
        if solution:
            s_cell.source = strip_solutions(t_cell.source, f"Exercise {name}: "
                                                           f"{EXERCISES[name].hint}")
            # Shown, not collapsed: in the student version this cell is the exercise.
            tags = [t for t in s_cell.metadata.get("tags", []) if t != "hide-input"]
            if tags:
                s_cell.metadata["tags"] = tags
            else:
                s_cell.metadata.pop("tags", None)
            s_cell.metadata.pop("mystnb", None)  # the site's "Show the solution" prompt
        if nbgrader:
            _nbgrader(t_cell, name, solution)
            _nbgrader(s_cell, name, solution)
            if not solution:  # nbgrader scores a test cell by whether it raises
                for cell in (t_cell, s_cell):
                    cell.source += "\nassert result, result.message"
    for nb in (student, teacher):
        nb.metadata.pop("jupytext", None)
        nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                              "name": "python3"})
        for index, cell in enumerate(nb.cells):
            cell.id = f"cell-{index}"
    return student, teacher


def generate(out_dir: Path, book: Path = BOOK, nbgrader: bool = False) -> list[Path]:
    """Write ``out_dir/student/*.ipynb`` and ``out_dir/teacher/*.ipynb``; return the paths.
    Each notebook is written atomically (:func:`lassnet.files.atomic_write`): an interrupted
    ``make classroom`` leaves whole notebooks only."""
    written = []
    for source in exercise_chapters(book):
        student, teacher = versions(source, nbgrader=nbgrader)
        for kind, nb in (("student", student), ("teacher", teacher)):
            path = Path(out_dir) / kind / f"{source.stem}.ipynb"
            with atomic_write(path, "w", encoding="utf-8") as fh:  # never half a notebook
                nbformat.write(nb, fh)
            written.append(path)
    return written


# --------------------------------------------------------------------------- checking
@dataclass
class ExerciseCells:
    """The two cells of one exercise in a notebook."""

    name: str
    solution: str
    checker: str | None


def exercise_cells(nb) -> list[ExerciseCells]:
    """The exercises of a notebook, in order: solution cell (the one defining the exercise's
    function) and checker cell (the one calling ``check_*``)."""
    from lassnet.exercises import EXERCISES

    found: dict[str, ExerciseCells] = {}
    for cell in nb.cells:
        name = _exercise(cell)
        if name is None or name not in EXERCISES:
            continue
        entry = found.setdefault(name, ExerciseCells(name, "", None))
        defines = re.search(rf"^def {re.escape(EXERCISES[name].function)}\(", cell.source, re.M)
        if defines:
            entry.solution = cell.source
        else:
            entry.checker = cell.source
    return list(found.values())


def solutions(book: Path = BOOK) -> dict[str, Callable]:
    """The book's own answer to every exercise: ``{exercise name: function}``.

    Each solution cell of the chapters is run on its own in a fresh namespace (solution cells
    are self-contained) and the function it defines is returned, so that tests can use the
    book's answers instead of writing them again. A solution cell that raises, or defines no
    function of the expected name, raises ``ValueError`` naming the chapter and the exercise.
    """
    from lassnet.exercises import EXERCISES

    found: dict[str, Callable] = {}
    for source in exercise_chapters(book):
        for cells in exercise_cells(jupytext.read(source)):
            where = f"{source.name}, exercise {cells.name}"
            namespace = {"__name__": f"solution_{cells.name}"}
            try:
                exec(compile(cells.solution, f"<{where}: solution>", "exec"), namespace)
            except Exception as exc:
                raise ValueError(f"{where}: the solution cell raised {type(exc).__name__}: "
                                 f"{exc}") from exc
            function = namespace.get(EXERCISES[cells.name].function)
            if not callable(function):
                raise ValueError(f"{where}: no solution cell defines "
                                 f"{EXERCISES[cells.name].function}()")
            found[cells.name] = function
    return found


def run_exercise(cells: ExerciseCells, use_checker_cell: bool = True):
    """Run one exercise in a fresh namespace and return its :class:`CheckResult`.

    Executes the solution cell, then the checker cell (which must leave ``result``), or with
    ``use_checker_cell=False`` calls the exercise's checker directly on the student's
    function (for grading: a student cannot change what is checked). The checker's printout is
    captured, not shown. Never raises for a broken solution cell: that is a FAIL.
    """
    from lassnet.exercises import EXERCISES, CheckResult

    exercise = EXERCISES[cells.name]
    namespace = {"__name__": f"exercise_{cells.name}"}
    printed = io.StringIO()

    def fail(why: str) -> CheckResult:
        return CheckResult(cells.name, False, f"FAIL {cells.name}: {why}", 0, 0, error=why)

    with contextlib.redirect_stdout(printed):
        try:
            exec(compile(cells.solution, f"<{cells.name} solution>", "exec"), namespace)
        except Exception as exc:
            return fail(f"the solution cell raised {type(exc).__name__}: {exc}")
        function = namespace.get(exercise.function)
        if function is None:
            return fail(f"the solution cell does not define {exercise.function}()")
        if not use_checker_cell or cells.checker is None:
            return exercise.checker(function, progress=False)
        try:
            exec(compile(cells.checker, f"<{cells.name} checker>", "exec"), namespace)
        except Exception as exc:
            return fail(f"the checker cell raised {type(exc).__name__}: {exc}")
    result = namespace.get("result")
    if not isinstance(result, CheckResult):
        return fail("the checker cell did not leave a check result in `result`")
    return result


def check_notebooks(paths, use_checker_cell: bool = False):
    """``[(notebook path, CheckResult), ...]`` for every exercise of every notebook."""
    rows = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        for cells in exercise_cells(nb):
            rows.append((Path(path), run_exercise(cells, use_checker_cell)))
    return rows


# --------------------------------------------------------------------------- timing
def time_chapters(stems=None, fast: bool = False, book: Path = BOOK, timeout: int = 1800):
    """Execute chapters one by one (as the book build does: nbclient, in ``book/``) and return
    ``[(stem, seconds), ...]``, kernel start included. ``fast`` sets ``LASSNET_FAST=1`` for
    the kernel. Pages without code are skipped."""
    import os
    import time

    from nbclient import NotebookClient

    sources = [p for p in notebooks.chapters(book) if stems is None or p.stem in stems]
    saved = os.environ.get("LASSNET_FAST")
    rows = []
    try:
        if fast:
            os.environ["LASSNET_FAST"] = "1"
        else:
            os.environ.pop("LASSNET_FAST", None)
        for source in sources:
            nb = jupytext.read(source)
            if not any(c.cell_type == "code" for c in nb.cells):
                continue
            start = time.perf_counter()
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(book)}}).execute()
            rows.append((source.stem, time.perf_counter() - start))
    finally:
        if saved is None:
            os.environ.pop("LASSNET_FAST", None)
        else:
            os.environ["LASSNET_FAST"] = saved
    return rows


def _expand(paths: list[Path]) -> list[Path]:
    out = []
    for path in paths:
        out += sorted(path.rglob("*.ipynb")) if path.is_dir() else [path]
    return [p for p in out if ".ipynb_checkpoints" not in p.parts]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write OUT/student and OUT/teacher notebooks")
    gen.add_argument("out_dir", type=Path)
    gen.add_argument("--book", type=Path, default=BOOK)
    gen.add_argument("--nbgrader", action="store_true",
                     help="add nbgrader cell metadata; checker cells then assert the result")
    chk = sub.add_parser("check", help="run the exercise checkers of notebooks (or folders)")
    chk.add_argument("paths", type=Path, nargs="+")
    tim = sub.add_parser("time", help="execute chapters one by one and print their times")
    tim.add_argument("chapters", nargs="*", help="chapter stems (default: all)")
    tim.add_argument("--fast", action="store_true", help="with the fast switch LASSNET_FAST=1")
    tim.add_argument("--book", type=Path, default=BOOK)
    args = parser.parse_args(argv)
    if args.command == "time":
        rows = time_chapters(args.chapters or None, fast=args.fast, book=args.book)
        for stem, seconds in rows:
            print(f"{stem:16s} {seconds:7.1f} s")
        print(f"{'total':16s} {sum(s for _, s in rows):7.1f} s")
        return 0
    if args.command == "generate":
        for path in generate(args.out_dir, args.book, nbgrader=args.nbgrader):
            print(path)
        return 0
    rows = check_notebooks(_expand(args.paths))
    if not rows:
        print("no exercises found")
        return 1
    for path, result in rows:
        print(f"{str(path):50s} {result.message}")
    passed = sum(bool(r) for _, r in rows)
    print(f"{passed} of {len(rows)} exercises pass")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
