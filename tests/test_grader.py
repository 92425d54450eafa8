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

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_squared_error

import statement as S
from conftest import ROOT
from grader import questions, reference
from grader.plugin import find_students, write_gradebook

FIXTURES = ROOT / "tests" / "fixtures"
FAST_LIMITS = ["--grade-timeout", "10", "--grade-cell-timeout", "2"]
# What each fixture student's lost points must be explained by (regular expressions).
REASONS = {
    "hard-coded answers": "hidden check",
    "exception and output flood": "ZeroDivisionError",
    "syntax error": "SyntaxError",
    "infinite loops": r"timed out after 2 s",
    "hard exit": "exited with code 3",
    "memory hog": "memory",
    "invalid JSON": r"not valid JSON \(.+ at line \d+, column \d+\)",
    "missing notebooks": "is missing",
    "calls input()": r"input\(\) was called",
    "wrong weights": r"(Bob: \.\.\.'|MSE): expected \S+, got \S+",  # q2: Bob's output, q3: the MSE
}


def read_gradebook(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def grade(*options, timeout=300):
    """Run the grader as an instructor does: pytest --submissions ..., in a subprocess."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *options]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    started = time.monotonic()
    run = grade("--submissions", str(FIXTURES / "submissions"), "--gradebook", str(folder / "grades.csv"),
                "--junitxml", str(folder / "junit.xml"), *FAST_LIMITS)
    return run, folder, time.monotonic() - started


def test_every_fixture_student_gets_the_expected_points(class_run):
    run, folder, _ = class_run
    assert run.returncode == 1, run.stdout[-3000:]  # some points are lost: pytest reports failures
    assert read_gradebook(folder / "grades.csv") == read_gradebook(FIXTURES / "expected_grades.csv")


def test_the_class_run_finishes_in_reasonable_time(class_run):
    _, _, seconds = class_run
    assert seconds < 120


def test_every_lost_point_has_its_reason(class_run):
    _, folder, _ = class_run
    expected = read_gradebook(FIXTURES / "expected_grades.csv")
    failures = {}
    for case in ElementTree.parse(folder / "junit.xml").iter("testcase"):
        failure = case.find("failure")
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert properties["points"] == ("0" if failure is not None else "1")
        if failure is not None:
            failures[(properties["student"], properties["question"])] = failure.get("message")
    lost = {(s, q) for s, row in expected.items() for q in questions.QUESTIONS if row[q] == "0"}
    assert set(failures) == lost
    for (student, question), message in failures.items():
        assert re.search(REASONS[student], message), (student, question, message)
        assert "\n" not in message.split(" 0 points: ", 1)[1]


def test_the_summary_table_is_printed(class_run):
    run, _, _ = class_run
    assert "= grades =" in run.stdout
    assert "correct, scalar (Émile)          1      1      1      1      1      1      1      1  8/8" in run.stdout
    assert "missing notebooks ex3.q1: ex03_log_loss.ipynb is missing" in run.stdout


def test_k_selects_questions_and_leaves_the_rest_blank(tmp_path):
    run = grade("--submissions", str(FIXTURES / "submissions"), "--gradebook", str(tmp_path / "g.csv"),
                "-k", "correct and ex3", *FAST_LIMITS)
    assert run.returncode == 0, run.stdout[-3000:]
    book = read_gradebook(tmp_path / "g.csv")
    assert set(book) == {"correct, vectorised", "correct, scalar (Émile)"}
    assert [book["correct, vectorised"][q] for q in questions.QUESTIONS] == ["", "", "1", "", "", "", "", ""]
    assert book["correct, vectorised"]["total"] == "1"


def test_one_folder_of_notebooks_is_one_student(tmp_path):
    run = grade("--submissions", str(FIXTURES / "submissions" / "wrong weights"),
                "--gradebook", str(tmp_path / "g.csv"), *FAST_LIMITS)
    assert read_gradebook(tmp_path / "g.csv")["wrong weights"]["total"] == "6", run.stdout[-2000:]


def test_an_interrupted_run_leaves_the_old_gradebook_alone(tmp_path):
    gradebook = tmp_path / "grades.csv"
    gradebook.write_text("the previous gradebook\n", encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--submissions",
               str(FIXTURES / "submissions"), "--gradebook", str(gradebook), *FAST_LIMITS]
    process = subprocess.Popen([*command, "-v"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    seen = []
    for line in process.stdout:  # interrupt once grading is under way (the infinite loops take 10 s)
        seen.append(line)
        if "test_question[" in line:
            break
    assert process.poll() is None, "".join(seen)[-2000:]
    process.send_signal(signal.SIGINT)
    output = "".join(seen) + process.communicate(timeout=60)[0]
    assert "KeyboardInterrupt" in output and "not written: the run was interrupted" in output, output[-2000:]
    assert gradebook.read_text(encoding="utf-8") == "the previous gradebook\n"
    assert os.listdir(tmp_path) == ["grades.csv"]


def test_gradebook_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    gradebook = tmp_path / "grades.csv"
    write_gradebook(gradebook, [["ann", 1, 1, 1, 1, 1, 1, 1, 1, 8]])
    before = gradebook.read_text(encoding="utf-8")

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_gradebook(gradebook, [["bob", 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    assert gradebook.read_text(encoding="utf-8") == before
    assert os.listdir(tmp_path) == ["grades.csv"]


def test_find_students(tmp_path):
    (tmp_path / "Zoé Ngata").mkdir()
    (tmp_path / "ann").mkdir()
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "notes.txt").write_text("not a student", encoding="utf-8")
    assert [s.name for s in find_students(tmp_path)] == ["Zoé Ngata", "ann"]
    (tmp_path / "ann" / "ex01_neuron.ipynb").write_text("{}", encoding="utf-8")
    assert [s.name for s in find_students(tmp_path / "ann")] == ["ann"]
    with pytest.raises(pytest.UsageError, match="no student folders"):
        find_students(tmp_path / "Zoé Ngata")
    with pytest.raises(pytest.UsageError, match="not a folder"):
        find_students(tmp_path / "nobody")


# --- the reference and the checks --------------------------------------------------------

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


@pytest.mark.parametrize("line", [
    "Bob: 0.7855253278357536", "Bob: np.float64(0.7855253278357536)", "bob = 0.785525327835753",
    "  Bob : [0.7855253278357536]", "'Bob: 0.7855253278357536'", "Bob: 7.855253278357536e-01",
])
def test_printed_answers_are_read_in_any_common_form(line):
    value = questions.printed(f"some other line\n{line}\n", "Bob", "Bob: ...")
    assert math.isclose(value, S.EX4_Q1["Bob"], rel_tol=S.REL)


def test_the_last_printed_answer_counts():
    assert questions.printed("Bob: 0.1\nBob: 0.2\n", "Bob", "Bob: ...") == 0.2


def test_a_table_row_is_not_taken_for_an_answer():
    with pytest.raises(questions.Lost, match="no printed line like 'Bob: ...'"):
        questions.printed("Bob   math   12  chemistry   15\n", "Bob", "Bob: ...")


@pytest.mark.parametrize("got", [7, 7.0, np.float64(7.0), np.array(7.0), np.array([7.0]), 7 * (1 + 5e-10)])
def test_numbers_match_within_the_tolerance(got):
    questions.expect("x", got, 7)


@pytest.mark.parametrize("got, message", [
    (7.01, "expected 7, got 7.01"), ("7", "not a number"), (np.array([7.0, 7.0]), r"shape \(2,\)"), (None, "expected 7, got nan"),
])
def test_wrong_numbers_lose_the_point(got, message):
    with pytest.raises(questions.Lost, match=message):
        questions.expect("x", got, 7)
