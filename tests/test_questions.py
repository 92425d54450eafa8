"""One item per (student, question). Without --submissions: the project's own notebooks, 8/8."""
import pytest


def test_question(graded, record_property):
    student, question = graded.student, graded.question
    points, reason = graded.outcome()
    record_property("student", student.name)
    record_property("question", question)
    record_property("points", points)
    record_property("reason", reason)
    if points < 1:
        pytest.fail(f"{student.name} {question}: 0 points: {reason}", pytrace=False)
