"""The student edition (exercises/): in sync, no solution in it, no busywork, useful check cells,
no given cell printing a graded number, 0/8 then 8/8."""
import contextlib
import csv
import io
import math
import os
import re
import shutil
import subprocess
import sys
import warnings

import nbformat
import numpy as np
import pytest

from conftest import NOTEBOOKS, ROOT, code_cells, grade_warm, off_screen
from grader.questions import ALL_NOTEBOOKS, QUESTION_IDS, NOTEBOOKS as GRADED_NOTEBOOKS
import statement as S
from student_edition import (BEGIN, BEGIN_PASTE, END, END_PASTE, MarkerError, hint, solution_regions,
                             student_notebook, student_source, write_edition)

EXERCISES = ROOT / "exercises"
STUB = "raise NotImplementedError("
PASTE_LABEL = re.compile(r"^# Paste your (`\w+`(, | and )?)+ from exercise [1-5] into this cell, then run it\.$")


def solution_lines(source):
    """The code lines inside the solution regions of a cell (code pasted again in a later notebook
    is an earlier notebook's solution, so checking every notebook's solution lines covers it)."""
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
    for other in NOTEBOOKS.values():
        for source in code_cells(ROOT / other):
            for line in solution_lines(source):
                assert line not in edition_text, f"a solution line of {other} shows in exercises/{name}: {line}"


@pytest.mark.parametrize("name", NOTEBOOKS.values())
def test_each_region_becomes_one_stub_with_its_indentation(name):
    solutions = code_cells(ROOT / name)
    stubs = [line for source in code_cells(EXERCISES / name) for line in source.splitlines() if STUB in line]
    begins = [line for source in solutions for line in source.splitlines() if line.strip() == BEGIN]
    assert len(stubs) == len(begins) > 0
    for stub, begin in zip(stubs, begins):
        assert stub[:len(stub) - len(stub.lstrip())] == begin[:len(begin) - len(begin.lstrip())]
        assert "(about " in stub and ("line)" in stub or "lines)" in stub)


@pytest.mark.parametrize("name", NOTEBOOKS.values())
def test_paste_cells_are_labelled_and_empty(name):
    number = list(NOTEBOOKS.values()).index(name) + 1
    edition = {cell.id: cell.source for cell in nbformat.read(EXERCISES / name, as_version=4).cells}
    for cell in nbformat.read(ROOT / name, as_version=4).cells:
        if BEGIN_PASTE in cell.source:
            label = edition[cell.id]
            assert PASTE_LABEL.match(label), f"exercises/{name}: paste cell {label!r}"
            assert all(int(n) < number for n in re.findall(r"exercise (\d)", label)), label


def solution_regions_in_order():
    """[(notebook, what the stub asks for, {code lines})] of every solution region, notebook by notebook."""
    found = []
    for name in NOTEBOOKS.values():
        for index, source in enumerate(code_cells(ROOT / name)):
            for begin, end in solution_regions(source, f"{name}, code cell {index + 1}"):
                code = {line.strip() for line in source.splitlines()[begin + 1:end]
                        if line.strip() and not line.strip().startswith("#")}
                what = re.sub(r" \(about \d+ lines?\)$", "", hint(source, begin, end))
                found.append((name, what, code))
    return found


def test_no_stub_re_asks_a_piece_an_earlier_notebook_asked_for():
    regions = solution_regions_in_order()
    stubs = {name[:4]: sum(1 for notebook, _, _ in regions if notebook == name) for name in NOTEBOOKS.values()}
    expected = {"ex01": 3, "ex02": 2, "ex03": 1, "ex04": 2, "ex05": 6}  # 14 stubs, where there were 26
    assert {exercise: stubs[exercise] for exercise in expected} == expected
    for position, (name, what, code) in enumerate(regions):
        for other, earlier_what, earlier_code in regions[:position]:
            if other == name:
                continue
            assert what != earlier_what, f"{name} asks again for {what!r}, already asked in {other}"
            shared = code & earlier_code
            assert 2 * len(shared) <= len(code), f"{name}'s stub {what!r} re-asks code of {other}: {sorted(shared)}"


def test_hints_say_what_to_compute():
    edition = "\n".join(code_cells(EXERCISES / "ex04_forward_propagation.ipynb"))
    assert "raise NotImplementedError('compute per_student[name] (about 1 line)')" in edition
    assert "raise NotImplementedError('compute loss (about 1 line)')" in edition
    assert ("NotImplementedError('Neuron.__init__: keep the two weights and the bias as weights_1, "
            "weights_2 and bias (about 3 lines)')") in "\n".join(code_cells(EXERCISES / "ex01_neuron.ipynb"))


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
    plt = off_screen()
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
        plt.close("all")
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
        if cell.cell_type == "code" and (STUB in cell.source or BEGIN_PASTE in solutions.get(cell.id, "")):
            cell.source = "\n".join(line for line in solutions[cell.id].splitlines()
                                    if line.strip() not in (BEGIN, END, BEGIN_PASTE, END_PASTE))
    return edition


def grade_total(folder, tmp_path):
    gradebook = tmp_path / "grades.csv"
    run = grade_warm(folder, "--gradebook", gradebook, timeout=300)
    with open(gradebook, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return run, rows



def completed_edition(folder, edit=None, names=ALL_NOTEBOOKS):
    """The student edition (bonus included) completed with the solution code; `edit` changes a cell."""
    folder.mkdir()
    for name in names:
        edition = complete(nbformat.read(EXERCISES / name, as_version=4), nbformat.read(ROOT / name, as_version=4))
        for cell in edition.cells:
            if edit and cell.cell_type == "code":
                cell.source = edit(name, cell.source)
        nbformat.write(edition, folder / name)
    return folder


def summed_mse(name, source):
    return source.replace("np.mean((y_true - y_pred) ** 2)", "np.sum((y_true - y_pred) ** 2)")


@pytest.fixture(scope="module")
def edition_class(tmp_path_factory):
    """The blank edition, the completed one, and the completed one with its MSE summed, graded in
    one run (one start-up of the grader, not three): the class folder, {student: (run, [row])}."""
    classroom = tmp_path_factory.mktemp("editions")
    shutil.copytree(EXERCISES, classroom / "exercises", ignore=shutil.ignore_patterns(".*"))
    completed_edition(classroom / "completed")
    completed_edition(classroom / "summed", summed_mse, GRADED_NOTEBOOKS)  # its bonus is not looked at
    run, rows = grade_total(classroom, tmp_path_factory.mktemp("gradebook"))
    return classroom, {row["student"]: (run, [row]) for row in rows}


def test_grader_gives_the_blank_edition_0_of_8_and_no_bonus(edition_class):
    run, rows = edition_class[1]["exercises"]
    assert [(row["student"], row["total"], row["ex6.q1"], row["ex6.q2"]) for row in rows] == \
        [("exercises", "0", "0", "0")], run.stdout[-3000:]
    assert "raised NotImplementedError: not implemented yet" in run.stdout


def test_grader_gives_the_completed_edition_8_of_8_and_the_bonus(edition_class):
    run, rows = edition_class[1]["completed"]
    assert [(row["student"], row["total"], row["ex6.q1"], row["ex6.q2"]) for row in rows] == \
        [("completed", "8", "1", "1")], run.stdout[-3000:]


def test_the_completed_edition_with_an_mse_summed_loses_ex5_q3_only(edition_class):
    """No given cell prints the right MSE next to the student's wrong one."""
    folder = edition_class[0] / "summed"
    assert "np.sum((y_true - y_pred) ** 2)" in (folder / NOTEBOOKS["ex05"]).read_text()
    run, rows = edition_class[1]["summed"]
    assert [rows[0][q] for q in QUESTION_IDS] == ["1"] * 7 + ["0"], run.stdout[-3000:]
    assert "the MSE: expected 10.237608699909138, shown 40.95043479963655" in run.stdout


# --- check messages --------------------------------------------------------------------

def test_check_reports_an_error_inside_the_students_code_as_an_error(notebook):
    check = notebook("ex01")["check"]

    def feedforward():
        return sigmoidd(7)  # noqa: F821 - the student's typo

    def lookup():
        return {"Bob": 1}["Eli"]

    with pytest.raises(AssertionError, match=r"^ex1.q1: your code raised NameError: name 'sigmoidd' is not "
                                             r"defined \(in feedforward, line \d+ of its cell\)$"):
        check("ex1.q1", 0.5, lambda: feedforward())
    with pytest.raises(AssertionError, match=r"^q: your code raised KeyError: 'Eli' \(in lookup, line \d+"):
        check("q", 0.5, lambda: lookup())


def test_check_says_not_computed_yet_when_the_checked_name_is_missing(notebook, capsys):
    check = notebook("ex01")["check"]
    check("ex1.q1", 0.5, lambda: neuron_never_defined.feedforward(2, 3))  # noqa: F821
    check("ex4.q1", [0.5], lambda: [{}[name] for name in ["Bob"]])
    check("your Neuron", 0.5, lambda: Neuronn(0, 1, 4), missing="paste your Neuron from exercise 1 into the cell above")  # noqa: F821
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["ex1.q1: not computed yet (NameError: name 'neuron_never_defined' is not defined) - "
                     "complete and run the cells above first.",
                     "ex4.q1: not computed yet (KeyError: 'Bob') - complete and run the cells above first.",
                     "your Neuron: not computed yet (NameError: name 'Neuronn' is not defined) - "
                     "paste your Neuron from exercise 1 into the cell above."]


def test_a_failed_check_shows_one_line_without_a_traceback(notebook):
    check = notebook("ex01")["check"]
    with pytest.raises(AssertionError) as failed:
        check("ex1.q1", 0.9990889488055994, lambda: 0.5)
    assert failed.value._render_traceback_() == [
        "\x1b[0;31mCheckFailed\x1b[0m: ex1.q1: expected 0.9990889488055994, got 0.5"]


def test_a_check_fails_on_a_warning(notebook):
    check = notebook("ex01")["check"]
    naive = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731 - overflows for z = -1e4
    inputs = np.array([0.0, -1e4])
    with pytest.raises(AssertionError, match=r"^sigmoid: your code gave a warning \(RuntimeWarning: overflow"):
        check("sigmoid", [0.5, 0.0], lambda: naive(inputs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.allclose(naive(inputs), [0.5, 0.0])  # the values alone would pass


@pytest.mark.parametrize("exercise, phrase", [("ex01", "same as one pair at a time"),
                                              ("ex04", "same as one student at a time")])
def test_same_as_one_at_a_time_is_false_for_a_broadcast(exercise, phrase):
    """One value per student of shape (1,) against a column of shape (4,) broadcasts to 4x4."""
    source = next(source for source in code_cells(ROOT / NOTEBOOKS[exercise]) if phrase in source)

    class Constant:
        weights_1 = weights_2 = bias = 0

        def feedforward(self, x1, x2):
            return np.full(np.shape(x1), 0.5) if np.ndim(x1) else np.array([0.5])

    names = np.array(["Bob", "Eli", "Tom", "Ryan"])
    namespace = {"np": np, "network": Constant(), "neuron": Constant(), "names": names,
                 "math_grades": np.arange(4.0), "chemistry_grades": np.arange(4.0),
                 "per_student": {name: np.array([0.5]) for name in names}}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(source, namespace)
    assert f"{phrase}: False" in printed.getvalue()


# --- no given cell prints a graded number it did not get from the student's code ---------

GRADED_NETWORK_NUMBERS = [S.EX1, S.EX2, *S.EX4_Q1.values(), S.EX4_Q2, *S.EX5_Q2.values(), S.EX5_Q3]
WRONG_SOLUTIONS = {  # a wrong solution: its edits, and the graded numbers it must change
    "MSE as a sum": ([("np.mean((y_true - y_pred) ** 2)", "np.sum((y_true - y_pred) ** 2)")], [S.EX5_Q3]),
    "log loss as a sum": ([("float(-np.mean(y_true * np.log(p)", "float(-np.sum(y_true * np.log(p)")],
                          [S.EX3, S.EX4_Q2]),
    "a wrong weighted sum": ([("z = self.weights_1 * x1 + self.weights_2 * x2 + self.bias",
                               "z = self.weights_1 * x1 + self.weights_2 * x2 + self.bias + 0.25")],
                             GRADED_NETWORK_NUMBERS),
}
NUMBER = re.compile(r"[-+]?\d+\.\d+(?:[eE][-+]?\d+)?")


def wrong_edition(folder, edits):
    """The edition completed with the solution code, then with `edits` applied everywhere."""
    folder.mkdir()
    applied = 0
    for name in NOTEBOOKS.values():
        edition = complete(nbformat.read(EXERCISES / name, as_version=4), nbformat.read(ROOT / name, as_version=4))
        for cell in edition.cells:
            for find, replace in edits:
                applied += cell.source.count(find)
                cell.source = cell.source.replace(find, replace)
        nbformat.write(edition, folder / name)
    assert applied, f"none of {edits} applies"
    return folder


def graded_numbers_printed_by_given_cells(folder, numbers):
    """[(notebook, printed line)] of the non-check cells whose output holds one of `numbers`."""
    found = []
    for name in NOTEBOOKS.values():
        for source, printed, _ in run_continuing(folder / name):
            if source.startswith("check("):
                continue  # the checks' own messages name the expected value; the grader never reads them
            for line in printed.splitlines():
                if any(math.isclose(float(token), number, rel_tol=S.REL)
                       for token in NUMBER.findall(line) for number in numbers):
                    found.append((name, line))
    return found


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("wrong", WRONG_SOLUTIONS)
def test_no_cell_prints_a_right_graded_number_for_a_wrong_solution(tmp_path, monkeypatch, wrong):
    monkeypatch.setenv("COURSE_DATA_DIR", str(ROOT / "data"))
    edits, changed = WRONG_SOLUTIONS[wrong]
    folder = wrong_edition(tmp_path / "wrong", edits)
    assert graded_numbers_printed_by_given_cells(folder, changed) == []


def test_a_clipped_sigmoid_passes_the_sigmoid_check(notebook, capsys):
    """Correct code that clips z before np.exp gives 7.1e-218 for z = -1e4, where 0 is expected:
    the check uses the grader's tolerance (relative 1e-9, absolute 1e-12), so it passes."""
    check = notebook("ex01")["check"]
    inputs = np.array([0.0, 7.0, -3.0, -1e4, 1e4])
    expected = [1 / (1 + math.exp(-z)) if z > -700 else 0.0 for z in inputs]
    clipped = lambda z: 1 / (1 + np.exp(-np.clip(z, -500, 500)))  # noqa: E731 - a student's sigmoid
    assert 0 < clipped(inputs)[3] < 1e-200
    check("sigmoid", expected, lambda: clipped(inputs))
    assert capsys.readouterr().out == "sigmoid: check passed.\n"
    with pytest.raises(AssertionError, match="^sigmoid: expected"):
        check("sigmoid", expected, lambda: clipped(inputs) + 1e-11)  # but not more than 1e-12 off


def test_the_check_helpers_are_the_same_in_all_six_notebooks():
    """Exercise 6 reports like exercises 1-5: the same CheckFailed, check and helpers."""
    helpers = {}
    for name in ALL_NOTEBOOKS:
        sources = [source for source in code_cells(ROOT / name)
                   if "class CheckFailed" in source or source.startswith("def check(")]
        helpers[name] = sources
    first, *others = helpers.values()
    assert len(first) == 2 and all(other == first for other in others)
