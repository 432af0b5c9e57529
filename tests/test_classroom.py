"""Student and teacher notebooks and the nbgrader course from the book (tools/exercises.py,
`make classroom`).

The generator runs into a temporary folder; then only the exercise cells of each notebook are
executed in-process (the chapters themselves are not run): every teacher exercise passes its
checker, and every student stub makes its checker return FAIL without crashing. The nbgrader
course is checked cell by cell, and one assignment makes the real round trip: nbgrader
generate_assignment, a solved and a blank submission, nbgrader autograde, the gradebook's
scores.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from lassnet.exercises import EXERCISES
from tools import exercises as classroom
from tools import notebooks

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("classroom")
    paths = classroom.generate(out)
    return out, paths


def _notebooks(out: Path, kind: str):
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted((out / kind).glob("*.ipynb"))}


def test_strip_solutions_keeps_the_signature_and_the_indentation():
    source = (
        "import torch\n\n\ndef f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n"
        "    y = x + 1\n    return y\n    ### END SOLUTION\n"
    )
    student = classroom.strip_solutions(source, "add one")
    assert student == (
        "import torch\n\n\ndef f(x):\n    \"\"\"Doc.\"\"\"\n    # YOUR CODE HERE\n"
        "    raise NotImplementedError('add one')"
    )
    namespace = {}
    exec(student, namespace)
    with pytest.raises(NotImplementedError, match="add one"):
        namespace["f"](1)


@pytest.mark.parametrize("broken", [
    "### BEGIN SOLUTION\nx = 1\n",
    "x = 1\n### END SOLUTION\n",
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
])
def test_unbalanced_markers_are_refused(broken):
    with pytest.raises(ValueError):
        classroom.strip_solutions(broken, "hint")


def test_both_versions_exist_for_every_chapter_with_an_exercise(generated):
    out, paths = generated
    chapters = {EXERCISES[name].chapter for name in EXERCISES}
    for kind in ("student", "teacher"):
        assert {p.stem for p in (out / kind).glob("*.ipynb")} == chapters
    assert len(paths) == 2 * len(chapters)


def test_every_exercise_is_in_the_book_exactly_once(generated):
    out, _ = generated
    found = []
    for stem, nb in _notebooks(out, "teacher").items():
        for cells in classroom.exercise_cells(nb):
            assert EXERCISES[cells.name].chapter == stem
            assert cells.solution and cells.checker, cells.name
            found.append(cells.name)
    assert sorted(found) == sorted(EXERCISES) and len(found) >= 8


def test_student_notebooks_hold_no_solution_and_show_the_stub(generated):
    out, _ = generated
    teacher, student = _notebooks(out, "teacher"), _notebooks(out, "student")
    for stem, nb in student.items():
        t_nb = teacher[stem]
        assert len(nb.cells) == len(t_nb.cells)
        for s_cell, t_cell in zip(nb.cells, t_nb.cells, strict=True):
            assert classroom.BEGIN not in s_cell.source and classroom.END not in s_cell.source
            if classroom.BEGIN in t_cell.source:
                name = t_cell.metadata["exercise"]
                assert "raise NotImplementedError" in s_cell.source
                assert EXERCISES[name].hint in s_cell.source
                assert f"def {EXERCISES[name].function}(" in s_cell.source
                # The site collapses the solution ("Show the solution"); students see the stub.
                assert "hide-input" in t_cell.metadata["tags"]
                assert "solution" in t_cell.metadata["mystnb"]["code_prompt_show"]
                assert "hide-input" not in s_cell.metadata.get("tags", [])
                assert "mystnb" not in s_cell.metadata
            else:  # everything outside the solution blocks is the same
                assert s_cell.source == t_cell.source


@pytest.mark.parametrize("use_checker_cell", [True, False], ids=["checker-cell", "grading"])
def test_teacher_exercises_pass_and_student_stubs_fail_cleanly(generated, use_checker_cell):
    out, _ = generated
    for kind in ("teacher", "student"):
        rows = classroom.check_notebooks(sorted((out / kind).glob("*.ipynb")), use_checker_cell)
        assert sorted(r.exercise for _, r in rows) == sorted(EXERCISES)
        for path, result in rows:
            if kind == "teacher":
                assert result.passed, f"{path.name}: {result.message}"
            else:
                assert not result.passed and result.error == "NotImplementedError", result.message
                assert result.message.startswith(f"FAIL {result.exercise}")


def test_check_command_exit_status(generated, capsys):
    out, _ = generated
    assert classroom.main(["check", str(out / "teacher")]) == 0
    assert f"{len(EXERCISES)} of {len(EXERCISES)} exercises pass" in capsys.readouterr().out
    assert classroom.main(["check", str(out / "student")]) == 1
    assert f"0 of {len(EXERCISES)} exercises pass" in capsys.readouterr().out


def test_a_broken_solution_cell_is_a_fail_not_a_crash():
    cells = classroom.ExerciseCells("si_sdr", "def si_sdr_db(estimate, reference)\n", None)
    result = classroom.run_exercise(cells)
    assert not result and "SyntaxError" in result.message
    cells = classroom.ExerciseCells("si_sdr", "x = 1\n", None)
    assert "does not define si_sdr_db" in classroom.run_exercise(cells).message


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_course_source_marks_answers_tests_and_read_only_cells(tmp_path):
    names = classroom.write_course(tmp_path)
    chapters = sorted({e.teaches for e in EXERCISES.values()})
    assert chapters == list(range(1, 9))
    assert names == [classroom.assignment_name(c) for c in chapters] + [classroom.PROJECTS]
    names = names[:-1]
    assert (tmp_path / "nbgrader_config.py").is_file()
    seen = []
    for chapter, name in zip(chapters, names, strict=True):
        nb = nbformat.read(tmp_path / "source" / name / f"{name}.ipynb", as_version=4)
        assert all(_meta(c) for c in nb.cells), "every cell is an nbgrader cell"
        answers = [c for c in nb.cells if _meta(c)["solution"]]
        tests = [c for c in nb.cells if _meta(c)["grade"]]
        expected = [n for n, e in EXERCISES.items() if e.teaches == chapter]
        assert [_meta(c)["grade_id"] for c in answers] == [f"{n}_answer" for n in expected]
        assert [_meta(c)["grade_id"] for c in tests] == [f"{n}_test" for n in expected]
        for answer, test, exercise in zip(answers, tests, expected, strict=True):
            assert classroom.BEGIN in answer.source and EXERCISES[exercise].hint in answer.source
            assert _meta(test)["locked"] and _meta(test)["points"] == EXERCISES[exercise].points
            assert f"check({exercise!r}" in test.source and "assert result" in test.source
        # Statements (and the header) are read-only markdown; each begins at its heading.
        others = [c for c in nb.cells if c not in answers and c not in tests]
        assert all(c.cell_type == "markdown" and _meta(c)["locked"] for c in others)
        assert all(c.source.startswith("#") for c in others), [c.source[:40] for c in others]
        seen += expected
    assert sorted(seen) == sorted(EXERCISES)
    with pytest.raises(ValueError, match="has no exercises"):
        classroom.assignment_notebook(99)


def test_the_projects_are_graded_by_hand_with_their_rubrics(tmp_path):
    classroom.write_course(tmp_path)
    nb = nbformat.read(tmp_path / "source" / "projects" / "projects.ipynb", as_version=4)
    reports = [c for c in nb.cells if _meta(c)["solution"]]
    assert len(reports) == 3 >= 3
    for report in reports:  # a markdown answer with points and no test: graded by hand
        assert report.cell_type == "markdown" and _meta(report)["grade"]
        assert _meta(report)["points"] == classroom.PROJECT_POINTS
    statements = [c for c in nb.cells if c.source.startswith("## Project")]
    assert len(statements) == 3 and all(_meta(c)["locked"] for c in statements)
    for statement in statements:  # the rubric's points add up to the project's
        rows = [line.split("|") for line in statement.source.splitlines()
                if line.startswith("| ") and line.split("|")[2].strip().isdigit()]
        assert sum(int(r[2]) for r in rows) == classroom.PROJECT_POINTS, statement.source[:60]


def test_generate_without_release_writes_the_course_source_only(tmp_path, capsys):
    assert classroom.main(["generate", str(tmp_path), "--no-release"]) == 0
    assert (tmp_path / "nbgrader" / "source" / "ch01" / "ch01.ipynb").is_file()
    assert (tmp_path / "student" / "exercises.ipynb").is_file()
    assert not (tmp_path / "nbgrader" / "release").exists()


def test_a_missing_nbgrader_is_one_clear_error(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nbgrader" else real(name, *a))
    with pytest.raises(ValueError, match=r"pip install -e \"\.\[classroom\]\""):
        classroom.nbgrader(tmp_path, "--version")


#: The assignment of the round trip: a chapter whose checkers take well under a second.
ROUND_TRIP = 8


def test_nbgrader_round_trip_full_marks_and_zero(tmp_path):
    """The real thing, offline: nbgrader generate_assignment, a solved and a blank submission,
    nbgrader autograde (which executes both with a python3 kernel), scores from the
    gradebook."""
    pytest.importorskip("nbgrader")
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    [name] = classroom.write_course(course, [ROUND_TRIP])
    [released] = classroom.release(course, [name])
    source = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
    blank = nbformat.read(released, as_version=4)
    assert classroom.BEGIN not in nbformat.writes(blank)  # nbgrader removed the solutions
    solved = copy.deepcopy(blank)
    answers = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("solution")}
    filled = 0
    for cell in solved.cells:
        if _meta(cell).get("solution"):
            assert "raise NotImplementedError" in cell.source
            cell.source = answers[_meta(cell)["grade_id"]]
            filled += 1
    assert filled == len(answers) > 0
    for student, nb in (("ada", solved), ("bob", blank)):
        path = course / "submitted" / student / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    classroom.nbgrader(course, "autograde", name, "--force")
    points = sum(e.points for e in EXERCISES.values() if e.teaches == ROUND_TRIP)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        ada = gradebook.find_submission(name, "ada")
        bob = gradebook.find_submission(name, "bob")
        assert ada.max_score == bob.max_score == points
        assert ada.score == points, [(g.name, g.auto_score) for g in ada.notebooks[0].grades]
        assert bob.score == 0
        for grade in ada.notebooks[0].grades:
            assert grade.auto_score == grade.max_score
        for grade in bob.notebooks[0].grades:
            assert grade.auto_score == 0


def test_time_runs_each_chapter_with_or_without_the_fast_switch(tmp_path):
    header = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
              "    format_version: 0.13\nkernelspec:\n  display_name: Python 3\n"
              "  language: python\n  name: python3\n---\n")
    check = ("```{code-cell} ipython3\nimport os\n"
             "assert os.environ.get('LASSNET_FAST') == FLAG\n```\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                       "  - file: 01_one\n  - file: guide\n")
    (tmp_path / "intro.md").write_text(header + "# Intro\n\n" + check.replace("FLAG", "'1'"))
    (tmp_path / "01_one.md").write_text(header + "# One\n\n" + check.replace("FLAG", "'1'"))
    (tmp_path / "guide.md").write_text("# A page without code\n")
    rows = classroom.time_chapters(fast=True, book=tmp_path)
    assert [stem for stem, _ in rows] == ["intro", "01_one"] and all(s > 0 for _, s in rows)
    (tmp_path / "01_one.md").write_text(header + "# One\n\n" + check.replace("FLAG", "None"))
    assert [stem for stem, _ in classroom.time_chapters(["01_one"], book=tmp_path)] == ["01_one"]


def test_the_course_guide_is_a_plain_page_in_the_book():
    import jupytext

    guide = ROOT / "book" / "course_guide.md"
    assert "course_guide" in [p.stem for p in notebooks.chapters()]
    # Shell examples must stay text: a code cell here would be run by nbval as Python.
    assert all(c.cell_type == "markdown" for c in jupytext.read(guide).cells)
    assert "make classroom" in guide.read_text()
