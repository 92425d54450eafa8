"""The hand-written fixture class (tests/fixtures/class, lms/) agrees with its expected points and WHY.md.

These tests do not grade anything: they keep the fixtures, their gradebooks and their reasons
consistent, so that the grader's tests can trust them.
"""
import csv
import filecmp
import importlib.util
import unicodedata

import pytest

from conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
QUESTIONS = ["ex1.q1", "ex2.q1", "ex3.q1", "ex4.q1", "ex4.q2", "ex5.q1", "ex5.q2", "ex5.q3"]  # SPEC.md
HEADER = ["student", *QUESTIONS, "total"]
LMS_HEADER = ["student", "lms id", *QUESTIONS, "total"]  # an LMS's class: who each row is, as the LMS knows them


def make_class():
    spec = importlib.util.spec_from_file_location("make_class", FIXTURES / "make_class.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected(file_name):
    header = LMS_HEADER if file_name in ("expected_moodle.csv", "expected_canvas.csv") else HEADER
    with open(FIXTURES / file_name, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        assert next(reader) == header, f"{file_name}: header must be {','.join(header)}"
        first = len(header) - len(QUESTIONS) - 1
        return {row[0]: [int(value) for value in row[first:]] for row in reader}


def students_on_disk(layout):
    if layout == "canvas":  # flat files: the student is the part before the first "_"
        return {path.name.split("_")[0] for path in (FIXTURES / "lms" / "canvas").iterdir()}
    folder = FIXTURES / "class" if layout == "class" else FIXTURES / "lms" / "moodle"
    names = {unicodedata.normalize("NFC", path.name) for path in folder.iterdir() if path.is_dir()}
    if layout == "moodle":  # "Ada Lovelace_123456_assignsubmission_file_" -> "Ada Lovelace"
        names = {name.split("_")[0] for name in names}
    return names


@pytest.mark.parametrize("layout", ["class", "moodle", "canvas"])
def test_every_student_has_one_row_with_a_right_total(layout):
    rows = expected(f"expected_{layout}.csv")
    assert set(rows) == students_on_disk(layout)
    for student, points in rows.items():
        *per_question, total = points
        assert set(per_question) <= {0, 1}, student
        assert sum(per_question) == total, f"{student}: total {total}, points add up to {sum(per_question)}"


@pytest.mark.parametrize("layout", ["class", "moodle", "canvas"])
def test_why_md_gives_each_student_and_each_lost_point(layout):
    why = (FIXTURES / "WHY.md").read_text(encoding="utf-8")
    for student, points in expected(f"expected_{layout}.csv").items():
        *per_question, total = points
        line = f"- **{student}** {total}/8"
        assert line in why, f"WHY.md has no line starting {line!r}"
        block = why.split(line, 1)[1].split("\n- **", 1)[0]
        for question, point in zip(QUESTIONS, per_question):
            if not point:
                assert f"  - {question}:" in block, f"WHY.md: {student} loses {question} without a reason"


def test_the_class_is_varied_and_mostly_correct():
    rows = expected("expected_class.csv")
    totals = [points[-1] for points in rows.values()]
    assert 14 <= len(rows) <= 24
    assert totals.count(8) > len(rows) / 2
    assert 0 in totals  # the typed-in answers
    assert any(not name.isascii() for name in rows)


def test_rebuilding_the_fixtures_changes_nothing(tmp_path):
    make_class().build(tmp_path)
    for part in ("class", "lms"):
        built, committed = tmp_path / part, FIXTURES / part
        built_files = sorted(p.relative_to(built) for p in built.rglob("*") if p.is_file())
        committed_files = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
        assert built_files == committed_files, "run: .venv/bin/python tests/fixtures/make_class.py"
        for relative in built_files:
            assert filecmp.cmp(built / relative, committed / relative, shallow=False), (
                f"{part}/{relative} differs from make_class.py: run .venv/bin/python tests/fixtures/make_class.py")
