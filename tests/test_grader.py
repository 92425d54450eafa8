"""The grader on a class of fixture students (tests/fixtures), and its parts one by one."""
import csv
import math
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
import zipfile

import numpy as np
import pytest

import statement as S
from conftest import ROOT, as_at_a_terminal, grade_warm, log_loss, mean_squared_error, processes_with
from grader import gradebook, intake, questions, reference, shown
from grader.sandbox import Limits, Report, Sandbox, read_cells

FIXTURES = ROOT / "tests" / "fixtures"
# 20 s: one budget for all the re-runs of a file. 512 MiB: the memory hog reaches its limit at a
# quarter of the default's cost (each of its 100 MB blocks is written), the others need far less.
FAST_LIMITS = ["--grade-timeout", "20", "--grade-cell-timeout", "2", "--grade-memory", "512"]
# What each fixture student's lost points must be explained by (regular expressions).
REASONS = {
    "hard-coded answers": "hidden check|code behind them fails|typed into the code",
    "exception and output flood": "ZeroDivisionError|not shown",
    "syntax error": "SyntaxError|not shown|not defined",
    "infinite loops": r"not shown|did not finish|stopped",
    "hard exit": "exited with code 3|not shown|not defined",
    "memory hog": "memory|MemoryError",
    "invalid JSON": r"not valid JSON \(.+ at line \d+, column \d+\)",
    "missing notebooks": r"no file (named )?for exercise [345]",
    "calls input()": r"not shown.*input\(\) was called|input\(\) was called",
    "wrong weights": r"expected \S+, shown \S+",  # q2: Bob's output, q3: the MSE
}


def read_gradebook(path, columns=None):
    """{student: row}; with `columns`, only those (an expected file names the ones it fixes)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return {name: {c: row[c] for c in columns or row} for name, row in rows.items()}


def same_grades(gradebook, expected_file):
    expected = read_gradebook(expected_file)
    columns = next(iter(expected.values())).keys()
    return read_gradebook(gradebook, columns) == expected


def grade(*options, timeout=400):
    """What `python -m grader CLASS ...` gives, from the warm grader (conftest.grade_warm). The
    tests of the command itself (from another folder, interrupted, refused) start it afresh."""
    return grade_warm(*options, timeout=timeout)


CLASS_SEED = 11  # the fixture class's run; the seeds test grades part of the class again with it


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    started = time.monotonic()
    run = grade(str(FIXTURES / "submissions"), "--gradebook", str(folder / "grades.csv"),
                "--junitxml", str(folder / "junit.xml"), "--grade-seed", str(CLASS_SEED), *FAST_LIMITS)
    return run, folder, time.monotonic() - started


def reasons_in(junit, student_filter=lambda name: True):
    """{(item name, failure message or "")} of a grading run's JUnit XML, for the students kept."""
    return {(case.get("name"), (case.find("failure").get("message") if case.find("failure") is not None else ""))
            for case in ElementTree.parse(junit).iter("testcase")
            if student_filter(case.get("name").partition("[")[2].rpartition("-")[0])}


def test_every_fixture_student_gets_the_expected_points(class_run):
    run, folder, _ = class_run
    assert run.returncode == 1, run.stdout[-3000:]  # some points are lost: pytest reports failures
    assert same_grades(folder / "grades.csv", FIXTURES / "expected_grades.csv")


def test_the_class_run_finishes_in_reasonable_time(class_run):
    _, _, seconds = class_run
    assert seconds < 150


def test_every_lost_point_has_its_reason(class_run):
    _, folder, _ = class_run
    expected = read_gradebook(FIXTURES / "expected_grades.csv")
    failures = {}
    for case in ElementTree.parse(folder / "junit.xml").iter("testcase"):
        failure = case.find("failure")
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        if case.find("skipped") is not None:  # a bonus question not attempted: 0, and no lost point
            assert properties["points"] == "0" and properties["question"] in questions.BONUS_IDS
            continue
        assert properties["points"] == ("0" if failure is not None else "1")
        if failure is not None:
            failures[(properties["student"], properties["question"])] = failure.get("message")
    lost = {(s, q) for s, row in expected.items() for q in questions.QUESTION_IDS if row[q] == "0"}
    assert set(failures) == lost
    for (student, question), message in failures.items():
        assert re.search(REASONS[student], message), (student, question, message)
        reason = message.split(" 0 points: ", 1)[1]
        assert "\n" not in reason and len(reason) <= 300


def test_the_summary_table_and_the_seed_are_printed(class_run):
    run, _, _ = class_run
    assert "= grades =" in run.stdout
    assert re.search(r"correct, scalar \(Émile\)( +1){8}  8/8", run.stdout)
    assert re.search(r"seed (\d+): --grade-seed \1 draws the same hidden inputs again", run.stdout)
    assert "preloaded for the notebooks: NumPy, matplotlib, IPython, scikit-learn\n" in run.stdout  # its code names it


@pytest.fixture(scope="module")
def statement_class_run(tmp_path_factory):
    """tests/fixtures/class, plus a student whose name is markup (an exact copy of Emma's work),
    graded with feedback pages and the class report: one run for the layout and the pages."""
    import shutil
    place = tmp_path_factory.mktemp("statement-class")
    classroom = place / "class"
    shutil.copytree(FIXTURES / "class", classroom)
    shutil.copytree(FIXTURES / "class" / "Emma Johnson", classroom / MARKUP_NAME)
    run = grade(str(classroom), "--gradebook", str(place / "g.csv"), "--feedback", str(place / "feedback"),
                "--report", str(place / "report.html"))
    return run, place, classroom


MARKUP_NAME = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize("layout, expected", [
    ("class", "expected_class.csv"), ("lms/moodle", "expected_moodle.csv"), ("lms/canvas", "expected_canvas.csv"),
    ("moodle.zip", "expected_moodle.csv"),
])
def test_students_written_from_the_statement_get_what_a_fair_instructor_gives(tmp_path, layout, expected, request):
    """tests/fixtures/WHY.md says why each of these students gets these points."""
    if layout == "class":  # graded once with the feedback test's run, which adds a copy of Emma
        run, place, _ = request.getfixturevalue("statement_class_run")
        book = read_gradebook(place / "g.csv")
        assert book.pop(MARKUP_NAME) == {**book["Emma Johnson"], "student": MARKUP_NAME}, run.stdout[-4000:]
        wanted = read_gradebook(FIXTURES / expected)
        assert {name: {column: row[column] for column in next(iter(wanted.values()))} for name, row in book.items()} \
            == wanted, run.stdout[-4000:]
    else:
        classroom = FIXTURES / layout
        if layout.endswith(".zip"):  # the LMS's "download all" zip, made here (no binary in the repository)
            classroom = tmp_path / layout
            with zipfile.ZipFile(classroom, "w") as zipped:
                for path in sorted((FIXTURES / "lms" / "moodle").rglob("*")):
                    zipped.write(path, path.relative_to(FIXTURES / "lms"))
        run = grade(str(classroom), "--gradebook", str(tmp_path / "g.csv"))
        assert same_grades(tmp_path / "g.csv", FIXTURES / expected), run.stdout[-4000:]
    for line in run.stdout.split("lost points:")[-1].splitlines():
        assert len(line) < 400
    if layout == "class":
        # Isabella (Exo1..Exo4) has no exercise 5: her reasons say so, and quote no value her
        # exercise 1-4 notebooks show (Bob's 0.7855... of exercise 4 is no answer to exercise 5)
        isabella = [line for line in run.stdout.splitlines() if line.startswith("  Isabella Moreau ex5.")]
        assert len(isabella) == 3, run.stdout[-4000:]
        assert all(line.endswith(": no file for exercise 5 (regression) was found among the student's 4 file(s)")
                   for line in isabella), isabella


def test_feedback_and_class_report_for_the_class(statement_class_run):
    """One feedback page per student naming every question; the report finds the planted pair only;
    a student's name is text, never markup."""
    run, place, classroom = statement_class_run
    students = len([folder for folder in classroom.iterdir() if folder.is_dir()])
    assert f"feedback written to {place / 'feedback'} ({students} pages, one per student)" in run.stdout, \
        run.stdout[-3000:]
    assert f"class report written to {place / 'report.html'}" in run.stdout
    pages = sorted((place / "feedback").glob("*.html"))
    assert len(pages) == students
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert all(question in text for question in questions.QUESTION_IDS + questions.BONUS_IDS), page
        assert "<img src=x" not in text and "<script" not in text
    report = (place / "report.html").read_text(encoding="utf-8")
    pairs = re.findall(r'<h3><span>([^<]*)</span> <span class="points">score', report)
    # the planted near-copy, and the <img> student, who is an exact copy of Emma made above
    assert sorted(pairs) == ["&lt;img src=x onerror=alert(1)&gt; &amp; Emma Johnson", "Ada Okafor &amp; Tom Weller"], pairs
    assert "to look at" in report and "&lt;img src=x onerror=alert(1)&gt;" in report and "<img src=x" not in report
    assert "sum instead of mean" in report  # Emma's MSE, grouped by the kind of mistake


def test_seeds_change_the_hidden_inputs_not_the_grades_and_a_seed_reproduces_a_run(class_run, tmp_path):
    """Run a is the fixture class's (seed 11), read for the students -k "hard or correct" selects;
    b grades them with another seed, a2 with the same seed again, in a python -m grader of its
    own (a process with its own hash seed, as an instructor's next run is)."""
    def selected(student):
        return "hard" in student.lower() or "correct" in student.lower()

    def run_with(seed, name, how=grade):
        how(str(FIXTURES / "submissions"), "--gradebook", str(tmp_path / f"{name}.csv"), "--grade-seed", str(seed),
            "--junitxml", str(tmp_path / f"{name}.xml"), "-k", "hard or correct", *FAST_LIMITS)
        return read_gradebook(tmp_path / f"{name}.csv"), reasons_in(tmp_path / f"{name}.xml")

    def afresh(*options):
        return subprocess.run([sys.executable, "-m", "grader", *options], cwd=ROOT, capture_output=True, timeout=400)

    _, folder, _ = class_run
    book_a = {name: row for name, row in read_gradebook(folder / "grades.csv").items() if selected(name)}
    reasons_a = reasons_in(folder / "junit.xml", selected)
    book_b, reasons_b = run_with(22, "b")
    book_a2, reasons_a2 = run_with(CLASS_SEED, "a2", afresh)
    assert len(book_a) == 4
    assert book_a == book_b == book_a2
    assert {row["total"] for name, row in book_a.items() if name.startswith("correct")} == {"8"}
    assert reasons_a == reasons_a2 and reasons_a != reasons_b  # the hard-coded student's hidden checks differ


def test_k_selects_questions_and_leaves_the_rest_blank(tmp_path):
    run = grade(str(FIXTURES / "submissions"), "--gradebook", str(tmp_path / "g.csv"),
                "-k", "correct and ex3", *FAST_LIMITS)
    assert run.returncode == 0, run.stdout[-3000:]
    book = read_gradebook(tmp_path / "g.csv")
    assert set(book) == {"correct, vectorised", "correct, scalar (Émile)"}
    assert [book["correct, vectorised"][q] for q in questions.QUESTION_IDS] == ["", "", "1", "", "", "", "", ""]
    assert book["correct, vectorised"]["total"] == "1"


def test_one_folder_of_notebooks_is_one_student(tmp_path):
    run = grade(str(FIXTURES / "submissions" / "wrong weights"), "--gradebook", str(tmp_path / "g.csv"), *FAST_LIMITS)
    assert read_gradebook(tmp_path / "g.csv")["wrong weights"]["total"] == "6", run.stdout[-2000:]


def test_the_documented_command_writes_nothing_into_the_class(tmp_path):
    """python -m grader from another folder, a class folder with a space in its name and a
    student's conftest.py: nothing of the student runs in pytest, nothing is written there."""
    classroom = tmp_path / "my class"
    (classroom / "ann").mkdir(parents=True)
    for name in questions.NOTEBOOKS[:2]:
        (classroom / "ann" / name).write_bytes((FIXTURES / "submissions" / "correct, vectorised" / name).read_bytes())
    (classroom / "ann" / "conftest.py").write_text("open('/tmp/conftest-ran', 'w')\nraise SystemExit(9)\n")
    before = sorted(str(p.relative_to(classroom)) for p in classroom.rglob("*"))
    run = subprocess.run([sys.executable, "-m", "grader", str(classroom), "--gradebook", str(tmp_path / "g.csv")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert read_gradebook(tmp_path / "g.csv")["ann"]["total"] == "2", run.stdout[-2000:]
    assert sorted(str(p.relative_to(classroom)) for p in classroom.rglob("*")) == before
    assert f"rootdir: {ROOT}" in run.stdout


def test_pytest_with_a_separate_class_folder_outside_the_project_is_refused(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pytest", "--submissions", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 4 and "python -m grader" in run.stderr, run.stderr[-2000:]
    assert os.listdir(tmp_path) == []


def test_an_interrupted_run_leaves_the_old_gradebook_alone(tmp_path):
    gradebook_path = tmp_path / "grades.csv"
    gradebook_path.write_text("the previous gradebook\n", encoding="utf-8")
    command = [sys.executable, "-m", "grader", str(FIXTURES / "submissions"), "--gradebook", str(gradebook_path),
               *FAST_LIMITS, "-v"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=as_at_a_terminal)
    seen = []
    for line in process.stdout:  # interrupt once grading is under way
        seen.append(line)
        if "test_question[" in line:
            break
    assert process.poll() is None, "".join(seen)[-2000:]
    process.send_signal(signal.SIGINT)
    output = "".join(seen) + process.communicate(timeout=60)[0]
    assert "KeyboardInterrupt" in output and "not written: the run was interrupted" in output, output[-2000:]
    assert gradebook_path.read_text(encoding="utf-8") == "the previous gradebook\n"
    assert os.listdir(tmp_path) == ["grades.csv"]


# --- the gradebook --------------------------------------------------------------------------

def test_gradebook_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "grades.csv"
    gradebook.write(path, ["student", "total"], [["ann", 8]])
    before = path.read_text(encoding="utf-8")

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        gradebook.write(path, ["student", "total"], [["bob", 0]])
    assert path.read_text(encoding="utf-8") == before
    assert os.listdir(tmp_path) == ["grades.csv"]


def test_gradebook_names_cannot_start_a_formula_and_the_file_has_usual_permissions(tmp_path):
    path = tmp_path / "grades.csv"
    names = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "Ann"]
    gradebook.write(path, ["student", "total"], [[name, 1] for name in names])
    assert list(read_gradebook(path)) == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "Ann"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_unwritable_gradebook_folder_stops_before_grading(tmp_path):
    """... and stops the fork server it started (early, to import while pytest starts up) at
    once: it went on importing the students' libraries for 2 s after the grader had exited."""
    marker = tmp_path / "grader-run-7d1c"  # on the server's command line (sys_path=[...]): finds it
    marker.mkdir()
    command = [sys.executable, "-m", "grader", str(FIXTURES / "submissions"),
               "--gradebook", str(tmp_path / "nowhere" / "grades.csv")]
    with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:  # not pipes: a server
        run = subprocess.run(command, cwd=ROOT, stdout=out, stderr=err, timeout=400,  # left would hold them
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(marker), os.environ.get("PYTHONPATH")]))})
    stdout, stderr = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert run.returncode == 4 and "does not exist" in stderr, stderr[-1000:]
    assert "test_question" not in stdout
    assert processes_with(str(marker)) == [], "the fork server outlived a refused run"


# --- finding students and files --------------------------------------------------------------

def notebook_text(cells):
    import nbformat
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    return nbformat.writes(notebook)


def test_find_class_lists_students_files_and_what_it_passes_over(tmp_path):
    (tmp_path / "Zoe\u0301 Ngata" / "ex1").mkdir(parents=True)  # a decomposed é: normalised to one letter
    (tmp_path / "Zoe\u0301 Ngata" / "ex1" / "Notebook_ex1.ipynb").write_text(notebook_text(["x = 1"]))
    (tmp_path / "Zoe\u0301 Ngata" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "Zoe\u0301 Ngata" / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    (tmp_path / "Zoe\u0301 Ngata" / "helpers.py").write_text("X = 1\n")
    (tmp_path / "ann").mkdir()
    (tmp_path / "_private").mkdir()
    (tmp_path / "notes.txt").write_text("not a student", encoding="utf-8")
    students, passed_over = intake.find_class(tmp_path)
    assert [s.name for s in students] == ["Zoé Ngata", "ann"]
    assert [str(f) for f in students[0].files] == ["ex1/Notebook_ex1.ipynb", "helpers.py"]
    assert students[1].files == []
    assert dict(passed_over) == {"_private": "a hidden or system folder (starts with '.' or '_')",
                                 "notes.txt": "a file at the top of the class folder, not in a student's folder"}


def test_a_stray_notebook_next_to_student_folders_is_an_error(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "ex01.ipynb").write_text(notebook_text(["x = 1"]))
    (tmp_path / "ex02.ipynb").write_text(notebook_text(["x = 1"]))
    with pytest.raises(intake.ClassError, match="Move the stray files into a student's folder"):
        intake.find_class(tmp_path)


def test_moodle_canvas_and_zip_layouts(tmp_path):
    moodle = tmp_path / "moodle"
    (moodle / "Ada Lovelace_123456_assignsubmission_file_").mkdir(parents=True)
    (moodle / "Ada Lovelace_123456_assignsubmission_file_" / "ex01.ipynb").write_text(notebook_text(["x = 1"]))
    assert [s.name for s in intake.find_class(moodle)[0]] == ["Ada Lovelace"]
    canvas = tmp_path / "canvas"
    canvas.mkdir()
    for name in ["lovelaceada_12345_67890_ex01_neuron.ipynb", "lovelaceada_LATE_12345_67891_ex02.ipynb",
                 "turingalan_23456_78901_ex01_neuron.ipynb", "turingalan_23456_78902_ex01_neuron-1.ipynb"]:
        (canvas / name).write_text(notebook_text([f"print({name!r})"]))
    students, _ = intake.find_class(canvas, tmp_path / "work")
    assert [(s.name, sorted(map(str, s.files))) for s in students] == [
        ("lovelaceada", ["ex01_neuron.ipynb", "ex02.ipynb"]), ("turingalan", ["ex01_neuron.ipynb"])]
    assert "neuron-1" in (students[1].folder / "ex01_neuron.ipynb").read_text()  # the later copy counts
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(moodle / "Ada Lovelace_123456_assignsubmission_file_" / "ex01.ipynb",
                     "class/Ada Lovelace_123456_assignsubmission_file_/ex01.ipynb")
        zipped.writestr("../escape.py", "print('outside')")
    students, _ = intake.find_class(archive, tmp_path / "unzip")
    assert [s.name for s in students] == ["Ada Lovelace"]
    assert not (tmp_path / "escape.py").exists()


@pytest.mark.parametrize("path, exercises", [
    ("ex04_forward_propagation.ipynb", {4}), ("ex4/Notebook_ex4.ipynb", {4}), ("Notebook_ex113.ipynb", {3}),
    ("the-neuron.ipynb", {1}), ("log_loss.ipynb", {3}), ("regression.py", {5}), ("all_in_one.ipynb", set()),
    ("ex01.py", {1}), ("Exo4.ipynb", {4}), ("exercice_3.py", {3}), ("next5.ipynb", set()),
])
def test_which_exercise_a_file_name_says(path, exercises):
    assert intake.exercises_named(path) == exercises


@pytest.mark.parametrize("content, message", [
    (b"{\"cells\": [", "not valid JSON"), (b"\xff\xfe", "not UTF-8"), (b"[1, 2]", "no notebook object"),
    (b"{\"nbformat\": \"4\", \"cells\": 3}", "no list of cells"), (b"[" * 100000 + b"]" * 100000, "nested"),
])
def test_unreadable_notebooks_get_a_reason(tmp_path, content, message):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_cells(path)


def test_a_cell_whose_source_is_not_text_is_left_out_with_a_note(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_text('{"nbformat": 4, "cells": [{"cell_type": "code", "source": 42}, '
                    '{"cell_type": "code", "source": ["x = ", "1"]}]}')
    kind, cells, problems = read_cells(path)
    assert (kind, cells) == ("notebook", ["", "x = 1"]) and "no readable source" in problems[0]


# --- reading shown values -------------------------------------------------------------------

def cells_showing(*texts):
    return [{"text": text, "check": False, "where": f"code cell {i + 1}"} for i, text in enumerate(texts)]


@pytest.mark.parametrize("text, how", [
    ("Bob: 0.7855253278357536", "exact"), ("bob :  0.785525327835753", "exact"),
    ("Bob: np.float64(0.7855253278357536)", "exact"), ("0.7855253278357536", "exact"),
    ("array([0.78552533, 0.77715166, 0.80678737, 0.7892344 ])", "rounded"),
    ("Bob: Math=12, Chem=15 -> Pred=0.7855", "rounded"), ("Bob: 7.855253278357536e-01", "exact"),
])
def test_shown_values_are_found_in_any_common_form(text, how):
    found, seen = shown.find(shown.numbers(cells_showing("ex4.q1 and x2 hold no number", text)), S.EX4_Q1["Bob"], "Bob")
    assert found == how, seen


@pytest.mark.parametrize("text, how", [("Bob: 0.79", "too rounded"), ("Bob: 0.7856", None), ("Bob: 0.78552", None)])
def test_a_value_rounded_too_far_or_wrongly_does_not_count(text, how):
    found, seen = shown.find(shown.numbers(cells_showing(text)), S.EX4_Q1["Bob"], "Bob")
    assert found == how and seen.text == text.split()[-1]


def test_a_check_cells_messages_are_never_an_answer():
    cells = [{"text": "expected 0.7855253278357536", "check": True, "where": "code cell 1"}]
    assert shown.find(shown.numbers(cells), S.EX4_Q1["Bob"], "Bob") == (None, None)


def test_two_values_for_one_answer_the_right_one_counts_and_a_wrong_one_is_named():
    numbers = shown.numbers(cells_showing("MSE: 40.950434799636554", "MSE: 10.237608699909138"))
    assert shown.find(numbers, S.EX5_Q3, questions.MSE_LABEL)[0] == "exact"
    numbers = shown.numbers(cells_showing("MSE (sum): 40.950434799636554"))
    assert shown.find(numbers, S.EX5_Q3, questions.MSE_LABEL)[1].text == "40.950434799636554"


# --- the reference, the hidden inputs and the judging ---------------------------------------------

def test_reference_reproduces_the_statement():
    assert math.isclose(reference.neuron((0, 1, 4), 2, 3), S.EX1, rel_tol=S.REL)
    assert math.isclose(reference.network((1, 2, -1), (0.5, 1, 0), (2, 0, 1), 2, 3), S.EX2, rel_tol=S.REL)
    assert math.isclose(reference.log_loss(S.EX3_Y_TRUE, S.EX3_Y_PRED), S.EX3, rel_tol=S.REL)
    ex4 = [reference.network(*questions.EX4_NETWORK, m, c) for m, c in zip(S.MATH, S.CHEMISTRY)]
    assert np.allclose(ex4, list(S.EX4_Q1.values()), rtol=S.REL, atol=0)
    assert math.isclose(reference.log_loss(S.EXAM_SUCCESS, ex4), S.EX4_Q2, rel_tol=S.REL)
    assert reference.neuron((0, 1, 4, True), 2, 3) == S.EX5_Q1
    ex5 = [reference.network(*questions.EX5_NETWORK, m, c) for m, c in zip(S.MATH, S.CHEMISTRY)]
    assert np.allclose(ex5, list(S.EX5_Q2.values()), rtol=S.REL, atol=0)
    assert math.isclose(reference.mean_squared_error(S.PHYSICS, ex5), S.EX5_Q3, rel_tol=S.REL)


def test_reference_matches_sklearn_on_random_inputs():
    rng = np.random.default_rng(8)
    for n in (2, 10, 300):
        y_true = np.r_[0, 1, rng.integers(0, 2, n - 2)]
        y_pred = np.r_[0.0, 1.0, rng.uniform(0, 1, n - 2)]  # includes clipped values
        assert math.isclose(reference.log_loss(y_true, y_pred), log_loss(y_true, y_pred), rel_tol=S.REL)
        targets, predictions = rng.uniform(0, 20, (2, n))
        assert math.isclose(reference.mean_squared_error(targets, predictions),
                            mean_squared_error(targets, predictions), rel_tol=S.REL)


def test_grader_reads_the_statement_tables():
    assert [row[0] for row in questions.EX4_TABLE] == S.STUDENTS
    assert [row[3] for row in questions.EX4_TABLE] == S.EXAM_SUCCESS
    assert [row[3] for row in questions.EX5_TABLE] == S.PHYSICS


def test_hidden_inputs_differ_by_seed_and_student_and_repeat_with_the_same_seed():
    assert questions.probes(1, "ann") == questions.probes(1, "ann")
    assert questions.probes(1, "ann")["neuron"]["cases"][1:] != questions.probes(2, "ann")["neuron"]["cases"][1:]
    assert questions.probes(1, "ann")["neuron"]["cases"][1:] != questions.probes(1, "bob")["neuron"]["cases"][1:]
    assert questions.probes(1, "ann")["neuron"]["cases"][0] == questions.probes(2, "bob")["neuron"]["cases"][0]


def test_no_file_of_the_repository_holds_the_hidden_inputs_of_a_run():
    """The hidden inputs come from the run's seed, not from a table anyone can read."""
    seed = 123456789
    hidden = questions.probes(seed, "ann")["neuron"]["cases"][1]["args"]
    text = "\n".join(p.read_text(errors="ignore") for p in ROOT.rglob("*.py") if ".venv" not in p.parts)
    assert ", ".join(map(str, hidden)) not in text


@pytest.mark.parametrize("value, message", [
    ({"v": 7.01}, "expected 7, got 7.01"), ({"e": "returned the text '7', not a number"}, "not a number"),
    ({"a": [7.0, 7.0], "shape": [2]}, r"shape \(2\)"), ({"e": "returned None"}, "returned None"),
    ({"e": "returned a complex number, not a real one"}, "complex"),
])
def test_wrong_values_lose_the_point_with_what_was_wrong(value, message):
    with pytest.raises(questions.Lost, match=message):
        questions.value_error("x", value, 7, statement=True)


def test_a_cell_reads_an_expected_value_only_by_its_whole_name():
    """questions.reads_any, one pass over the source (red team: a search per name took two minutes
    for one notebook), finds what a whole-word search per name finds."""
    names = {"expected_q1", "é_attendu", "x"}
    cases = {"print(expected_q1)": True, "print(expected_q10)": False, "print(my_expected_q1)": False,
             "obj.expected_q1 + 1": True, "print(é_attendu)": True, "xs = 1": False, "f(x)": True,
             "# expected_q1 in a comment": True, "": False}
    for source, found in cases.items():
        assert questions.reads_any(source, names) is found, source
        assert any(re.search(rf"\b{re.escape(name)}\b", source) for name in names) is found, source
    assert questions.reads_any("print(x)", set()) is False


def test_reports_from_the_process_are_validated_never_trusted():
    job = {"kind": "notebook", "cells": ["x = 1"], "probes": {"neuron": {"cases": [{}]}}}
    report = Report(job)
    report.feed(b'{"event": "cel')                                     # half a message
    report.feed(b'\n{"event": "done"}\n')                              # out of order
    report.feed(b'{"event": "cells", "cells": [{"index": 5, "text": "", "problem": null, "check": false}]}\n')
    report.feed(b'\x80\x81\n' + b'[' * 50 + b'\n')                    # not JSON
    assert (report.cells, report.done, report.garbled) == (None, False, 5)
    report.feed(b'{"event": "cells", "cells": [{"index": 0, "text": "hi", "problem": null, "check": false}]}\n')
    report.feed(b'{"event": "probe", "id": "neuron"}\n{"event": "probed", "id": "neuron", "results": '
                b'[{"label": "Neuron", "values": [{"v": 1, "extra": "__import__"}]}]}\n')
    assert report.cells[0]["text"] == "hi" and report.probes == {} and report.garbled == 6
    with pytest.raises(ValueError, match="MiB"):
        report.feed(b" " * (64 * 2**20 + 1))


# --- running files ---------------------------------------------------------------------------

def sandbox_limits(**values):
    """The tests' Limits: these cells need no scikit-learn, so this process's fork server starts
    without it (1.2 s of CPU, not 3.3 s), as a grading run's does for a class that never names it."""
    return Limits(**{"timeout": 20, "cell_timeout": 2, "preload": (), **values})


def run_one(tmp_path, cells, limits=None):
    (tmp_path / "student").mkdir(exist_ok=True)
    (tmp_path / "student" / "x.ipynb").write_text(notebook_text(cells))
    sandbox = Sandbox(limits or sandbox_limits())
    try:
        return sandbox.run(tmp_path / "student", "x.ipynb", questions.probes(1, "ann"))
    finally:
        sandbox.kill_all()


def test_a_graded_process_looks_like_a_notebook_not_like_a_grader(tmp_path):
    run = run_one(tmp_path, ["import sys, os\n"
                             "print('modules', sorted(m for m in sys.modules if m.split('.')[0] in ('grader', 'pytest', '_pytest')))\n"
                             "print('env', sorted(k for k in os.environ if 'GRADER' in k or 'PYTEST' in k))\n"
                             "print('stdout', type(sys.stdout).__name__, 'argv', sys.argv)\n"
                             f"print('project paths', [p for p in sys.path if p.startswith({str(ROOT)!r})\n"
                             "       and not p.startswith(sys.prefix)])\n"
                             "try:\n    import grader\n    print('import grader: worked')\n"
                             "except ImportError as e:\n    print('import grader:', type(e).__name__)"])
    text = run.report["cells"][0]["text"]
    assert "modules []" in text and "env []" in text and "import grader: ModuleNotFoundError" in text, text
    assert "project paths []" in text, text  # tests/, which pytest puts on sys.path, was one
    assert "argv ['ipykernel_launcher.py']" in text and "Capped" not in text, text


def test_what_a_cell_prints_is_kept_once_by_the_grader_not_also_by_ipython(tmp_path):
    """IPython 9 wraps every write of a cell to keep a copy for its history, even with the history
    off: a cell printing 70,000 short lines paid it 280,000 times, and kept them all twice."""
    run = run_one(tmp_path, ["for i in range(3000):\n    print('line', i)",
                             "outputs = getattr(get_ipython().history_manager, 'outputs', {})\n"
                             "print('copies kept by IPython:', sum(len(o.bundle['stream']) for v in outputs.values() for o in v))"])
    first, second = (cell["text"] for cell in run.report["cells"])
    assert first.count("\n") == 3000 and first.endswith("line 2999\n"), first[-200:]
    assert second == "copies kept by IPython: 0\n", second


def test_a_cell_that_ignores_its_time_limit_is_killed_and_the_file_runs_again_without_it(tmp_path, monkeypatch):
    monkeypatch.setattr("grader.sandbox.GRACE", 0.5)  # killed 0.5 s after its 2 s limit, not 3 s: the same path, sooner
    started = time.monotonic()
    run = run_one(tmp_path, ["print('before')", "import time\nwhile True:\n    try:\n        time.sleep(1)\n"
                             "    except BaseException:\n        pass", "print('after')"])
    assert time.monotonic() - started < 20
    assert [cell["text"] for cell in run.report["cells"]] == ["before\n", "after\n"]
    assert "code cell 2: the process ignored the 2 s limit" in run.problems[0]


def test_an_endless_function_is_called_once_by_the_probes(tmp_path):
    """A log loss that never returns: its own probe stops at the first case that runs out of time
    (it went on with every other case: 3 limits), and the probes that try whatever might be a log
    loss or a predictor do not call it again. A function that returns is still tried by all."""
    run = run_one(tmp_path, ["def log_loss_custom(y_true, y_pred):\n    while True:\n        pass",
                             "def my_mse(y, p):\n    return 0.5"])
    probes = run.report["probes"]
    [own] = probes["log_loss_custom"]
    assert own["values"][0]["e"].startswith("did not finish within 2 s"), own
    assert all(value["e"] == "not tried: an earlier call did not finish" for value in own["values"][1:]), own
    for probe in ("log_loss_named", "predictors"):
        [guess] = [result for result in probes[probe] if result["label"] == "log_loss_custom"]
        assert all(value["e"] == "not tried: it did not finish within 2 s in an earlier call"
                   for value in guess["values"]), (probe, guess)
    [mse] = [result for result in probes["mse_named"] if result["label"] == "my_mse"]
    assert mse["values"] == [{"v": 0.5}] * len(mse["values"])
    assert [result["values"] for result in probes["predictors"] if result["label"] == "my_mse"] == \
        [[{"v": 0.5}] * 4]


def test_one_wall_clock_budget_for_all_the_runs_of_a_file(tmp_path):
    """Issue 16: each re-run restarted the clock ("3 files took 73 s under --grade-timeout 6").
    Five cells that each die after 2 s would take five runs, 10 s, with a clock per run."""
    dies = "import os, time\ntime.sleep(2)\nos._exit(3)"
    started = time.monotonic()
    run = run_one(tmp_path, [dies] * 5 + ["print('never')"], sandbox_limits(timeout=5, cell_timeout=4))
    assert time.monotonic() - started < 8, "the budget of one file was restarted by its re-runs"
    assert "used up its 5 s (--grade-timeout)" in " ".join(run.problems), run.problems


def test_a_huge_number_on_the_pipe_is_ignored_not_a_grader_error():
    report = Report({"kind": "notebook", "cells": ["x"], "probes": {"neuron": {"cases": [1]}}})
    report.feed(b'{"event": "cells", "cells": [{"index": 0, "text": "hi", "problem": null, "check": false}]}\n')
    report.feed(b'{"event": "probe", "id": "neuron"}\n{"event": "probed", "id": "neuron", "results": '
                b'[{"label": "Neuron", "values": [{"v": 1' + b"0" * 400 + b'}]}]}\n')
    assert report.probes == {} and report.garbled == 1
    report.feed(b'{"event": "probed", "id": "neuron", "results": [{"label": "Neuron", "values": [{"v": 0.5}]}]}\n')
    assert report.probes["neuron"][0]["values"] == [{"v": 0.5}]


@pytest.mark.parametrize("source, problem", [
    ("exit()", "called exit()"), ("raise SystemExit(3)", "called exit()"),
    ("import os\nos._exit(0)", "ended before reporting"),
    # The kernel's SIGKILL at the hard CPU limit (a signal the process sends itself would not do:
    # as root the process is PID 1 of its namespace, which ignores those)
    ("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1, 1))\nwhile True:\n    try:\n"
     "        while True:\n            pass\n    except BaseException:\n        pass", "killed by SIGKILL"),
])
def test_messages_say_what_really_happened(tmp_path, source, problem):
    run = run_one(tmp_path, [source, "print('next')"])
    assert any(problem in line for line in run.problems + [c["problem"] or "" for c in run.report["cells"]]), \
        (run.problems, run.report)
    assert run.report["cells"][-1]["text"] == "next\n"


def test_a_notebook_cannot_reach_the_fork_server(tmp_path):
    """Red team: multiprocessing's fork server un-pickles whatever reaches its socket, in a child
    that is not contained yet. The socket's folder is hidden from the notebook (on a machine
    where /tmp stays visible, as when the project lies under /tmp, only the hiding stops it)."""
    from multiprocessing import forkserver
    from grader.sandbox import start_fork_server
    start_fork_server()
    address = forkserver._forkserver._forkserver_address
    run = run_one(tmp_path, ["import os, socket\n"
                             f"print(sorted(os.listdir({os.path.dirname(address)!r})) "
                             f"if os.path.isdir({os.path.dirname(address)!r}) else 'no folder')\n"
                             "try:\n"
                             f"    socket.socket(socket.AF_UNIX).connect({address!r})\n"
                             "    print('connected')\n"
                             "except OSError as error:\n"
                             "    print('refused', error.errno)"])
    text = run.report["cells"][0]["text"]
    assert "connected" not in text and "listener" not in text, text


def test_a_notebook_cannot_read_its_classmates_work(tmp_path):
    """Reading is allowed almost everywhere, but not the class folder: a blank notebook that ran a
    classmate's code at grading time would earn that classmate's points."""
    classmate = tmp_path / "classmate"
    classmate.mkdir()
    (classmate / "ex01_neuron.ipynb").write_text(notebook_text(["print('the answers')"]))
    run = run_one(tmp_path, ["import os\n"
                             f"print('seen' if os.path.exists({str(classmate / 'ex01_neuron.ipynb')!r}) else 'hidden')"])
    assert run.report["cells"][0]["text"] == "hidden\n", run.report


def test_the_fork_server_takes_requests_from_the_grader_only(tmp_path):
    """Red team: whoever reaches the fork server's socket (another grading run's notebook, where
    /tmp stays visible) could send it a pickle, which its child un-pickles before any
    containment. The server takes a request only from its parent, the grader's process."""
    import pickle
    from multiprocessing import forkserver, reduction
    from grader.sandbox import start_fork_server
    start_fork_server()
    address = forkserver._forkserver._forkserver_address
    marker = tmp_path / "escaped"
    attacker = os.fork()
    if attacker == 0:  # another process than the grader's, as a notebook's would be
        try:
            import socket
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(address)
                child_r, parent_w = os.pipe()
                parent_r, child_w = os.pipe()
                alive_r, _ = os.pipe()
                reduction.sendfds(client, [child_r, child_w, alive_r, alive_r])
                os.write(parent_w, pickle.dumps(Escape(str(marker))))
                client.settimeout(5)
                client.recv(16)  # the new process's PID, if the server took the request
                time.sleep(1)
        finally:
            os._exit(0)
    os.waitpid(attacker, 0)
    time.sleep(1)
    assert not marker.exists(), "the fork server ran a pickle from another process"
    run = run_one(tmp_path, ["print('still serving')"])  # and it goes on serving the grader
    assert run.report["cells"][0]["text"] == "still serving\n"


class Escape:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_exit_codes_are_read_once_even_when_files_start_and_end_at_once(tmp_path, monkeypatch):
    """A forkserver child's exit code is 8 bytes on its sentinel that only one reader may take:
    Process.start() in one grading thread polls every child (multiprocessing's _cleanup) while
    another thread waits for its own, and the loser met EOF and reported "exited with code 255"
    (seen once in 12 runs of the seeds test). Polls are slowed here so that overlaps would show."""
    from concurrent.futures import ThreadPoolExecutor
    from multiprocessing import popen_forkserver
    import threading
    inside, overlaps, lock = {}, [], threading.Lock()
    poll = popen_forkserver.Popen.poll

    def slow_poll(self, flag=os.WNOHANG):
        with lock:
            inside[id(self)] = inside.get(id(self), 0) + 1
            if inside[id(self)] > 1:
                overlaps.append(self.pid)
        try:
            time.sleep(0.01)
            return poll(self, flag)
        finally:
            with lock:
                inside[id(self)] -= 1

    monkeypatch.setattr(popen_forkserver.Popen, "poll", slow_poll)
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "x.ipynb").write_text(notebook_text(["import os\nos._exit(3)", "print('after')"]))
    sandbox = Sandbox(sandbox_limits())
    try:
        with ThreadPoolExecutor(4) as pool:
            runs = list(pool.map(lambda _: sandbox.run(tmp_path / "student", "x.ipynb", {}), range(24)))
    finally:
        sandbox.kill_all()
    assert overlaps == []
    assert {run.problems[0] for run in runs} == {
        "code cell 1: the process exited with code 3 (os._exit() or a crash); run again without that cell"}


SKLEARN_CELL = ("import sys, importlib\n"
                "print('preloaded', 'sklearn' in sys.modules)\n"
                "metrics = importlib.import_module('sk' + 'learn.metrics')  # no 'sklearn' in the code\n"
                "print('log loss', metrics.log_loss([0, 1, 1], [0.2, 0.7, 0.9]))\n"
                "print([line for line in open('/proc/self/status') if line.startswith('Threads:')])")


def test_the_fork_server_imports_scikit_learn_only_for_a_class_whose_code_names_it(tmp_path):
    """1.4 s of CPU less at each start for a class whose code never names it (scripts written from
    the statement; our edition's notebooks name it); a student who reaches it under another name
    imports it in their own (contained) process and gets the same value. The runs' headers say
    which: the fixture class's (named) here, the README's commands' (not named) in test_lms.py."""
    from grader import sandbox
    # one thread: SciPy's own OpenBLAS, loaded by the student's process, is told so (red team: it
    # started one per CPU, past the file's process budget on a machine with many CPUs)
    expected = f"log loss {log_loss([0, 1, 1], [0.2, 0.7, 0.9])}\n['Threads:\\t1\\n']\n"
    if "sklearn.metrics" in sandbox._server_preload:  # a server this process started for another test
        sandbox.stop_fork_server()
    without = run_one(tmp_path, [SKLEARN_CELL], sandbox_limits(cell_timeout=8))  # as the earlier tests' server
    assert without.report["cells"][0]["text"] == "preloaded False\n" + expected, without.report
    # started again with it, as for a class that names it; and so left for the grading of our own
    # notebooks (tests/test_questions.py) when it runs next in this process
    named = run_one(tmp_path, [SKLEARN_CELL], Limits(timeout=20, cell_timeout=8))
    assert named.report["cells"][0]["text"] == "preloaded True\n" + expected, named.report
    unnamed_class, named_class = tmp_path / "unnamed", tmp_path / "named"
    for folder, source in ((unnamed_class, "import numpy as np\n"), (named_class, "from sklearn.metrics import log_loss\n")):
        (folder / "ann").mkdir(parents=True)
        (folder / "ann" / "ex03.py").write_text("import math\n")
        (folder / "ann" / "ex05.py").write_text(source)
    assert [sandbox.preload_for(intake.find_class(folder)[0]) for folder in (unnamed_class, named_class)] \
        == [(), ("sklearn.metrics",)]
