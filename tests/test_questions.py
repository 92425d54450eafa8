"""One item per (student, question). Without --submissions: the project's own notebooks, 8/8."""
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
    if result.points < 1:
        pytest.fail(f"{student.name} {question}: 0 points: {result.reason}", pytrace=False)
