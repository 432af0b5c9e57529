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

* ``OUT/nbgrader/``: an nbgrader course. ``source/chNN/chNN.ipynb`` holds the exercises that
  chapter NN teaches (wherever in the book they are): each exercise's statement (read-only), its
  solution cell (an nbgrader answer cell, solution between the markers) and an autograded test
  cell worth :attr:`Exercise.points <lassnet.exercises.Exercise.points>` that calls the
  checker and asserts its result (read-only). The tool then runs ``nbgrader
  generate_assignment`` itself, so that ``release/chNN/chNN.ipynb`` is what nbgrader hands
  out (needs the ``classroom`` extra: ``pip install -e ".[classroom]"``).
  ``source/projects/projects.ipynb`` holds the open-ended projects with their rubrics, one
  answer cell each that a teacher grades by hand;

and checks notebooks by running only their exercise cells (fast: the rest of the chapter is
not executed)::

    python tools/exercises.py generate build/classroom            # what `make classroom` runs
    python tools/exercises.py generate build/classroom --no-release  # without running nbgrader
    python tools/exercises.py check build/classroom/teacher       # every exercise must PASS
    python tools/exercises.py check submissions/*/*.ipynb         # a table of PASS / FAIL
    python tools/exercises.py time [--fast] [CHAPTER ...]         # seconds per chapter
    python tools/exercises.py time-exercises                      # the checkers, per chapter

:func:`solutions` gives the book's own answers as functions (the tests check them and build
the typical wrong answers from them).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import re
import subprocess
import sys
import time
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


def versions(source: Path):
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
    for nb in (student, teacher):
        nb.metadata.pop("jupytext", None)
        nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                              "name": "python3"})
        for index, cell in enumerate(nb.cells):
            cell.id = f"cell-{index}"
    return student, teacher


def generate(out_dir: Path, book: Path = BOOK) -> list[Path]:
    """Write ``out_dir/student/*.ipynb`` and ``out_dir/teacher/*.ipynb``; return the paths.
    Each notebook is written atomically (:func:`lassnet.files.atomic_write`): an interrupted
    ``make classroom`` leaves whole notebooks only."""
    written = []
    for source in exercise_chapters(book):
        student, teacher = versions(source)
        for kind, nb in (("student", student), ("teacher", teacher)):
            path = Path(out_dir) / kind / f"{source.stem}.ipynb"
            with atomic_write(path, "w", encoding="utf-8") as fh:  # never half a notebook
                nbformat.write(nb, fh)
            written.append(path)
    return written


# --------------------------------------------------------------------------- nbgrader
NBGRADER_CONFIG = """\
# nbgrader's configuration of the lassnet course (written by tools/exercises.py).
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "lassnet"
c.Execute.timeout = 600  # seconds per cell: a checker takes seconds, the kernel's imports more
"""


def assignment_name(chapter: int) -> str:
    """The nbgrader assignment of a chapter's exercises: ``ch01`` ... ``ch08``."""
    return f"ch{chapter:02d}"


def _locked(cell, grade_id: str):
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": True,
                                 "schema_version": 3, "solution": False, "task": False}
    return cell


def _statement(cells, index: int) -> list[str]:
    """The markdown cells before ``cells[index]`` back to the nearest heading: the statement
    of the exercise whose solution cell is ``cells[index]``."""
    found = []
    for cell in reversed(cells[:index]):
        if cell.cell_type != "markdown":
            if found:  # a code cell between heading and statement: the statement is complete
                break
            continue
        headings = list(re.finditer(r"^#+ ", cell.source, re.M))
        # From the last heading on: what comes before it belongs to the chapter's text.
        found.insert(0, cell.source[headings[-1].start():] if headings else cell.source)
        if headings:
            break
    return found


def _hinted(source: str, hint: str) -> str:
    """``source`` with a comment ``# Hint: ...`` above the ``BEGIN SOLUTION`` marker: nbgrader
    replaces the solution by its own stub, and the hint must survive that."""
    out = []
    for line in source.splitlines():
        if line.strip() == BEGIN:
            out.append(f"{line[: len(line) - len(line.lstrip())]}# Hint: {hint}")
        out.append(line)
    return "\n".join(out)


def assignment_notebook(chapter: int, book: Path = BOOK):
    """The nbgrader source notebook of the exercises that ``chapter`` teaches, in the order of
    :data:`lassnet.exercises.EXERCISES`; ``ValueError`` when it has none."""
    from lassnet.exercises import EXERCISES

    names = [n for n, e in EXERCISES.items() if e.teaches == chapter]
    if not names:
        raise ValueError(f"chapter {chapter} has no exercises; chapters with exercises: "
                         f"{sorted({e.teaches for e in EXERCISES.values()})}")
    sources = {}
    for path in exercise_chapters(book):
        nb = jupytext.read(path)
        for index, cell in enumerate(nb.cells):
            name = _exercise(cell)
            if name in names and BEGIN in cell.source:
                sources[name] = (path, nb.cells, index)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    total = sum(EXERCISES[n].points for n in names)
    nb.cells.append(_locked(nbformat.v4.new_markdown_cell(
        f"# Exercises of chapter {chapter}\n\n"
        "Write each function in the cell under its statement, where it says `YOUR CODE HERE`, "
        "then run the test cell below it: it prints `PASS`, or `FAIL` with a hint. The test "
        "cells are read-only and are run again when your work is graded; the functions of "
        "`lassnet` that an exercise is checked against refuse to run inside your function. "
        f"Total: {total} points."), "header"))
    for name in names:
        exercise = EXERCISES[name]
        if name not in sources:
            raise ValueError(f"exercise {name!r}: no solution cell in the book")
        path, cells, index = sources[name]
        statement = "\n\n".join(_statement(cells, index))
        nb.cells.append(_locked(nbformat.v4.new_markdown_cell(
            f"{statement}\n\n*({exercise.kind}, {exercise.points} point"
            f"{'s' if exercise.points > 1 else ''}; from the book's page `{path.stem}`)*"),
            f"{name}_statement"))
        answer = nbformat.v4.new_code_cell(_hinted(cells[index].source, exercise.hint))
        answer.metadata["nbgrader"] = {"grade": False, "grade_id": f"{name}_answer",
                                       "locked": False, "schema_version": 3, "solution": True,
                                       "task": False}
        nb.cells.append(answer)
        test = nbformat.v4.new_code_cell(
            f"# Autograded ({exercise.points} point{'s' if exercise.points > 1 else ''}): "
            f"the checker of exercise {name}.\n"
            "from lassnet.exercises import check\n\n"
            f"result = check({name!r}, {exercise.function})\n"
            "assert result, result.message")
        test.metadata["nbgrader"] = {"grade": True, "grade_id": f"{name}_test",
                                     "locked": True, "points": exercise.points,
                                     "schema_version": 3, "solution": False, "task": False}
        nb.cells.append(test)
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    return nb


#: The projects' assignment: one manually graded answer per project, out of these points.
PROJECTS = "projects"
PROJECT_POINTS = 20


def _projects(book: Path) -> list[tuple[str, str]]:
    """``[(statement, rubric), ...]``: each project of the exercises page (its numbered item
    under "## Projects", as ``"N: title\\n\\ntext"``) with its rubric from the course guide
    (the table under ``**N. ...**``)."""
    page = (book / "exercises.md").read_text()
    section = page[page.index("## Projects"):]
    items = re.split(r"^(?=\d+\. \*\*)", section, flags=re.M)[1:]
    guide = (book / "course_guide.md").read_text()
    found = []
    for number, item in enumerate(items, 1):
        start = guide.index(f"**{number}. ")
        table = re.search(r"^\|.*?(?=^\s*$)", guide[start:], re.M | re.S)
        head = re.match(r"\d+\. \*\*(.+?)\.?\*\*\s*(.*)", item.strip(), re.S)
        body = "\n".join(line.strip() for line in head.group(2).splitlines())
        found.append((f"{number}: {head.group(1)}\n\n{body}",
                      table.group(0).strip() if table else ""))
    return found


def projects_notebook(book: Path = BOOK):
    """The nbgrader source notebook of the projects: for each, the statement and its rubric
    (read-only) and a markdown answer cell graded by hand, worth :data:`PROJECT_POINTS`."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nb.cells.append(_locked(nbformat.v4.new_markdown_cell(
        "# Projects\n\nChoose the project(s) your teacher set. Write the report in the answer "
        "cell under its statement (one page; figures as attached images or links) and hand in "
        "the code that produced every number with it. Each project is graded by hand with the "
        f"rubric under its statement, out of {PROJECT_POINTS} points."), "header"))
    for number, (statement, rubric) in enumerate(_projects(book), 1):
        nb.cells.append(_locked(nbformat.v4.new_markdown_cell(
            f"## Project {statement}\n\n**Rubric**\n\n{rubric}"), f"project{number}_statement"))
        answer = nbformat.v4.new_markdown_cell("YOUR ANSWER HERE")
        answer.metadata["nbgrader"] = {"grade": True, "grade_id": f"project{number}_report",
                                       "locked": False, "points": PROJECT_POINTS,
                                       "schema_version": 3, "solution": True, "task": False}
        nb.cells.append(answer)
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    return nb


def write_course(course: Path, chapters=None, book: Path = BOOK) -> list[str]:
    """Write an nbgrader course folder: ``nbgrader_config.py``,
    ``source/chNN/chNN.ipynb`` for every chapter with exercises (or those in ``chapters``)
    and, when ``chapters`` is not given, ``source/projects/projects.ipynb`` (graded by hand);
    return the assignment names."""
    from lassnet.exercises import EXERCISES

    projects = chapters is None
    chapters = sorted({e.teaches for e in EXERCISES.values()}) if chapters is None \
        else list(chapters)
    course = Path(course)
    course.mkdir(parents=True, exist_ok=True)
    with atomic_write(course / "nbgrader_config.py", "w", encoding="utf-8") as fh:
        fh.write(NBGRADER_CONFIG)
    names = []
    for chapter in chapters:
        name = assignment_name(chapter)
        path = course / "source" / name / f"{name}.ipynb"
        with atomic_write(path, "w", encoding="utf-8") as fh:
            nbformat.write(assignment_notebook(chapter, book), fh)
        names.append(name)
    if projects:
        path = course / "source" / PROJECTS / f"{PROJECTS}.ipynb"
        with atomic_write(path, "w", encoding="utf-8") as fh:
            nbformat.write(projects_notebook(book), fh)
        names.append(PROJECTS)
    return names


def nbgrader(course: Path, *args: str, timeout: float = 1800) -> str:
    """Run ``nbgrader ARGS`` in the course folder (this Python's nbgrader); return its output.
    Raises ``RuntimeError`` with nbgrader's own messages when it fails, ``ValueError`` when
    nbgrader is not installed."""
    import importlib.util

    if importlib.util.find_spec("nbgrader") is None:
        raise ValueError('nbgrader is not installed; install the classroom extra: '
                         'pip install -e ".[classroom]"')
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def release(course: Path, names) -> list[Path]:
    """``nbgrader generate_assignment`` for the assignments ``names`` (all of ``source/`` when
    there are several): ``release/<name>/<name>.ipynb``
    (solutions replaced by nbgrader's stub, checksums of the read-only cells recorded in the
    course's ``gradebook.db``)."""
    names = list(names)
    # One nbgrader process for all of them (each start costs seconds): a pattern when several.
    pattern = names[0] if len(names) == 1 else "*"
    nbgrader(course, "generate_assignment", pattern, "--force")
    return [Path(course) / "release" / name / f"{name}.ipynb" for name in names]


def time_exercises(book: Path = BOOK) -> list[tuple[int, float]]:
    """``[(chapter, seconds), ...]``: how long the checkers of each chapter's exercises take on
    the book's own answers, in this process (imports done beforehand, so that the first
    chapter does not pay for them)."""
    from lassnet.exercises import EXERCISES

    answers = solutions(book)
    rows = []
    for chapter in sorted({e.teaches for e in EXERCISES.values()}):
        start = time.perf_counter()
        for name, exercise in EXERCISES.items():
            if exercise.teaches == chapter:
                if not exercise.checker(answers[name], progress=False):
                    raise RuntimeError(f"the book's answer to {name} does not pass")
        rows.append((chapter, time.perf_counter() - start))
    return rows


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
    gen.add_argument("--no-release", action="store_true",
                     help="write the nbgrader course's source/ only, do not run nbgrader")
    chk = sub.add_parser("check", help="run the exercise checkers of notebooks (or folders)")
    chk.add_argument("paths", type=Path, nargs="+")
    tim = sub.add_parser("time", help="execute chapters one by one and print their times")
    tim.add_argument("chapters", nargs="*", help="chapter stems (default: all)")
    tim.add_argument("--fast", action="store_true", help="with the fast switch LASSNET_FAST=1")
    tim.add_argument("--book", type=Path, default=BOOK)
    sub.add_parser("time-exercises", help="time the checkers of each chapter's exercises")
    args = parser.parse_args(argv)
    if args.command == "time-exercises":
        rows = time_exercises()
        for chapter, seconds in rows:
            print(f"chapter {chapter}        {seconds:7.1f} s")
        return 0
    if args.command == "time":
        rows = time_chapters(args.chapters or None, fast=args.fast, book=args.book)
        for stem, seconds in rows:
            print(f"{stem:16s} {seconds:7.1f} s")
        print(f"{'total':16s} {sum(s for _, s in rows):7.1f} s")
        return 0
    if args.command == "generate":
        for path in generate(args.out_dir, args.book):
            print(path)
        course = args.out_dir / "nbgrader"
        names = write_course(course, book=args.book)
        for name in names:
            print(course / "source" / name / f"{name}.ipynb")
        if not args.no_release:
            try:
                for path in release(course, names):
                    print(path)
            except (ValueError, RuntimeError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
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
