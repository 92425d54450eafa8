"""One item per (student, question). Without --submissions: the project's own notebooks, 8/8."""
import json

import pytest


def test_question(graded, record_property):
    student, question = graded.student, graded.question
    result = graded.outcome()
    record_property("student", student.name)
    record_property("question", question)
    record_property("points", result.points)
    record_property("reason", result.reason)
    record_property("file", result.file or "")
    record_property("seed", graded.grading.seed)
    record_property("kind", result.kind)
    record_property("expected", "" if result.expected is None else repr(result.expected))
    record_property("got", "" if result.got is None else repr(result.got))
    record_property("problems", json.dumps(graded.grading.problems(student)))
    if result.kind == "not attempted":  # a bonus question: 0 in its column, but no failure
        pytest.skip(f"{student.name} {question}: {result.reason}")
    if result.points < 1:
        pytest.fail(f"{student.name} {question}: 0 points: {result.reason}", pytrace=False)
