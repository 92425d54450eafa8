"""The student edition (exercises/): in sync, no solution in it, useful check cells, 0/8 then 8/8."""
import contextlib
import csv
import io
import os
import subprocess
import sys

import nbformat
import pytest

from conftest import NOTEBOOKS, ROOT, code_cells
from student_edition import BEGIN, END, MarkerError, student_notebook, student_source, write_edition

EXERCISES = ROOT / "exercises"
STUB = "raise NotImplementedError("


def solution_lines(source):
    """The code lines inside the solution regions of a cell."""
    inside, lines = False, []
    for line in source.splitlines():
        if line.strip() in (BEGIN, END):
            inside = line.strip() == BEGIN
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("name", NOTEBOOKS.values())
def test_exercises_are_in_sync_with_the_solutions(tmp_path, name):
    write_edition(ROOT, tmp_path, [name])
    assert (tmp_path / name).read_bytes() == (EXERCISES / name).read_bytes(), \
        f"exercises/{name} is out of date: run `make exercises`"


@pytest.mark.parametrize("name", NOTEBOOKS.values())
def test_the_edition_reveals_no_solution(name):
    edition = nbformat.read(EXERCISES / name, as_version=4)
    code = [cell for cell in edition.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    edition_text = "\n".join(cell.source for cell in code)
    assert BEGIN not in edition_text and END not in edition_text
    for source in code_cells(ROOT / name):
        for line in solution_lines(source):
            assert line not in edition_text, f"solution line shows in exercises/{name}: {line}"


@pytest.mark.parametrize("name", NOTEBOOKS.values())
def test_each_region_becomes_one_stub_with_its_indentation(name):
    solutions = code_cells(ROOT / name)
    stubs = [line for source in code_cells(EXERCISES / name) for line in source.splitlines() if STUB in line]
    begins = [line for source in solutions for line in source.splitlines() if line.strip() == BEGIN]
    assert len(stubs) == len(begins) > 0
    for stub, begin in zip(stubs, begins):
        assert stub[:len(stub) - len(stub.lstrip())] == begin[:len(begin) - len(begin.lstrip())]
        assert "(about " in stub and ("line)" in stub or "lines)" in stub)


def test_hints_say_what_to_compute():
    edition = "\n".join(code_cells(EXERCISES / "ex04_forward_propagation.ipynb"))
    assert "raise NotImplementedError('compute per_student[name] (about 1 line)')" in edition
    assert "raise NotImplementedError('compute loss (about 1 line)')" in edition
    assert ("NotImplementedError('Neuron.__init__: keep the two weights and the bias as weights_1, "
            "weights_2 and bias (about 3 lines)')") in edition


@pytest.mark.parametrize("source, problem", [
    (f"x = 1\n{BEGIN}\ny = 2\n", f"line 2: {BEGIN} without an {END} after it"),
    (f"x = 1\n{END}\n", f"line 2: {END} without a {BEGIN} before it"),
    (f"{BEGIN}\n{BEGIN}\n{END}\n", f"line 2: {BEGIN} inside another solution region"),
])
def test_unbalanced_markers_are_refused_naming_notebook_and_cell(source, problem):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"),
                                               nbformat.v4.new_code_cell("import numpy"),
                                               nbformat.v4.new_code_cell(source)])
    with pytest.raises(MarkerError, match=f"^broken.ipynb, code cell 2: {problem}$".replace("(", r"\(")
                       .replace(")", r"\)")):
        student_notebook(notebook, "broken.ipynb")


def test_the_command_line_reports_bad_markers(tmp_path):
    for name in NOTEBOOKS.values():
        notebook = nbformat.read(ROOT / name, as_version=4)
        if name == "ex03_log_loss.ipynb":
            notebook.cells.append(nbformat.v4.new_code_cell(f"{BEGIN}\nx = 1\n"))
        nbformat.write(notebook, tmp_path / name)
    run = subprocess.run([sys.executable, "-m", "student_edition", "--solutions", str(tmp_path),
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    assert "student_edition: ex03_log_loss.ipynb, code cell" in run.stderr and "without an" in run.stderr


def test_stub_keeps_surrounding_code():
    source = f"def f(x):\n    \"\"\"Twice x.\"\"\"\n    {BEGIN}\n    y = 2 * x\n    return y\n    {END}\nprint(f)"
    assert student_source(source, "here") == \
        "def f(x):\n    \"\"\"Twice x.\"\"\"\n    raise NotImplementedError('f: twice x (about 2 lines)')\nprint(f)"


def run_continuing(path):
    """Run a notebook's code cells in order, going on past errors; [(source, printed, error)]."""
    namespace, results = {"__name__": "__main__"}, []
    previous = os.getcwd()
    os.chdir(path.parent)
    try:
        for source in code_cells(path):
            printed, error = io.StringIO(), None
            with contextlib.redirect_stdout(printed):
                try:
                    exec(compile(source, path.name, "exec"), namespace)
                except Exception as raised:
                    error = raised
            results.append((source, printed.getvalue(), error))
    finally:
        os.chdir(previous)
    return results


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", NOTEBOOKS.values())
def test_check_cells_say_not_implemented_before_the_work(name):
    checks = [(source, printed, error) for source, printed, error in run_continuing(EXERCISES / name)
              if source.startswith("check(")]
    assert checks
    for source, printed, error in checks:
        assert error is None, (source, error)
        assert "not implemented yet" in printed or "not computed yet" in printed, (source, printed)


def test_check_cell_names_expected_and_got_for_a_wrong_answer(notebook):
    check = notebook("ex01")["check"]
    with pytest.raises(AssertionError, match=r"^ex1.q1: expected 0.9990889488055994, got 0.5$"):
        check("ex1.q1", 0.9990889488055994, lambda: 0.5)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        check("ex1.q1", 0.9990889488055994, lambda: 0.9990889488055995)
    assert output.getvalue() == "ex1.q1: check passed.\n"


def complete(edition, solution):
    """The edition with each stub replaced by the solution's code (cells matched by id)."""
    solutions = {cell.id: cell.source for cell in solution.cells}
    for cell in edition.cells:
        if cell.cell_type == "code" and STUB in cell.source:
            cell.source = "\n".join(line for line in solutions[cell.id].splitlines()
                                    if line.strip() not in (BEGIN, END))
    return edition


def grade_total(folder, tmp_path):
    gradebook = tmp_path / "grades.csv"
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--submissions", str(folder),
                          "--gradebook", str(gradebook)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    with open(gradebook, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return run, rows


def test_grader_gives_the_blank_edition_0_of_8(tmp_path):
    run, rows = grade_total(EXERCISES, tmp_path)
    assert [(row["student"], row["total"]) for row in rows] == [("exercises", "0")], run.stdout[-3000:]
    assert "raised NotImplementedError: not implemented yet" in run.stdout


def test_grader_gives_the_completed_edition_8_of_8(tmp_path):
    folder = tmp_path / "completed"
    folder.mkdir()
    for name in NOTEBOOKS.values():
        edition = nbformat.read(EXERCISES / name, as_version=4)
        nbformat.write(complete(edition, nbformat.read(ROOT / name, as_version=4)), folder / name)
    run, rows = grade_total(folder, tmp_path)
    assert [(row["student"], row["total"]) for row in rows] == [("completed", "8")], run.stdout[-3000:]
