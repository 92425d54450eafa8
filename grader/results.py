"""What grading hands to reporting: one StudentResult per student, one QuestionResult per graded question.

The reporting modules (feedback.py, report.py, similarity.py) read only these attributes, so any
objects with the same fields will do.
"""
from dataclasses import dataclass, field

KINDS = ("ok", "missing", "not implemented", "error", "wrong value", "not shown", "hidden check",
         "timeout", "crash", "grader error")


@dataclass
class QuestionResult:
    question: str                  # "ex1.q1" ... "ex5.q3", or a bonus id such as "ex6.q1"
    points: int                    # 0 or 1
    reason: str = ""               # one line; "" when the point is earned
    file: str | None = None        # the student's file (relative path) the question was judged on
    kind: str = "ok"               # one of KINDS
    expected: float | None = None  # on the statement's input, when a value was compared
    got: float | None = None       # what the student's code returned or showed there, if a number


@dataclass
class StudentResult:
    name: str
    questions: dict = field(default_factory=dict)  # question id -> QuestionResult (only the graded ones)
    problems: list = field(default_factory=list)   # one line each: timeouts, crashes, unreadable files
    files: dict = field(default_factory=dict)      # relative path -> the code (cells joined)
