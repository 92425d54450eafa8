"""pytest side of the grader: options, one item per (student, question), table and gradebook."""
import csv
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.questions import QUESTIONS

ROOT = Path(__file__).resolve().parent.parent
ITEMS_FILE = ROOT / "tests" / "test_questions.py"
OWN_NOTEBOOKS = "solutions"  # the student name of the project's own notebooks


def pytest_addoption(parser):
    group = parser.getgroup("grader", "grading students' notebooks (README: Grading a class)")
    group.addoption("--submissions", metavar="DIR",
                    help="grade the notebooks in DIR: one subfolder per student, or DIR itself for one student")
    group.addoption("--gradebook", metavar="FILE", help="write the points to this CSV file")
    group.addoption("--grade-timeout", type=float, default=60.0, metavar="SECONDS",
                    help="wall-clock limit for one run of a notebook; a notebook gets 3 runs at most (default 60)")
    group.addoption("--grade-cell-timeout", type=float, default=10.0, metavar="SECONDS",
                    help="limit for one cell, or for one question's checks (default 10)")
    group.addoption("--grade-memory", type=int, default=2048, metavar="MIB",
                    help="memory a notebook may use on top of the preloaded libraries (default 2048)")
    group.addoption("--grade-output", type=int, default=1024, metavar="KIB",
                    help="what one cell may print (default 1024)")
    group.addoption("--grade-jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                    help="notebooks run at the same time (default: the number of CPUs)")


@dataclass(frozen=True)
class Student:
    name: str
    folder: Path


@dataclass(frozen=True)
class Graded:
    """The parameter of one item: a student's question, graded on demand."""
    student: Student
    question: str
    grading: "Grading"

    def outcome(self):
        return self.grading.outcome(self.student, self.question)


def find_students(folder):
    """DIR with ex0*.ipynb files is one student; otherwise each subfolder is one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise pytest.UsageError(f"--submissions {folder}: not a folder")
    if any(folder.glob("ex0*.ipynb")):
        return [Student(folder.resolve().name, folder)]
    students = [Student(sub.name, sub) for sub in sorted(folder.iterdir(), key=lambda p: p.name)
                if sub.is_dir() and not sub.name.startswith((".", "_"))]
    if not students:
        raise pytest.UsageError(f"--submissions {folder}: no student folders and no ex0*.ipynb files in it")
    return students


class Grading:
    """Runs each needed notebook once (several at a time) and hands out the points."""

    def __init__(self, config):
        from grader.sandbox import Limits
        option = config.getoption
        self.limits = Limits(timeout=option("grade_timeout"), cell_timeout=option("grade_cell_timeout"),
                             memory_mib=option("grade_memory"), output_kib=option("grade_output"))
        for name in ("grade_timeout", "grade_cell_timeout", "grade_memory", "grade_output", "grade_jobs"):
            if option(name) <= 0:
                raise pytest.UsageError(f"--{name.replace('_', '-')} must be positive, got {option(name)}")
        self.jobs = option("grade_jobs")
        submissions = option("submissions")
        self.students = find_students(submissions) if submissions else [Student(OWN_NOTEBOOKS, ROOT)]
        self.sandbox = None
        self.pool = None
        self.futures = {}
        self.lock = threading.Lock()

    def start(self, pairs):
        """Queue the notebooks that the selected (student, question) pairs need, in order."""
        for student, question in pairs:
            self.future(student, QUESTIONS[question][0])

    def future(self, student, notebook):
        with self.lock:
            if self.pool is None:
                from grader.sandbox import Sandbox
                self.sandbox = Sandbox(self.limits)
                self.pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="grade")
            key = (student, notebook)
            if key not in self.futures:
                self.futures[key] = self.pool.submit(self.sandbox.grade, student.folder / notebook)
            return self.futures[key]

    def outcome(self, student, question):
        result = self.future(student, QUESTIONS[question][0]).result()
        points, reason = result.grades[question]
        if points < 1 and result.problems:
            reason = f"{reason} [the notebook: {'; '.join(result.problems[:3])}]"
        return points, reason

    def close(self):
        if self.pool is not None:
            self.sandbox.kill_all()
            self.pool.shutdown(wait=True, cancel_futures=True)


def pytest_configure(config):
    config.grading = Grading(config)
    config.pluginmanager.register(GradeReport(config), "grade-report")


def pytest_ignore_collect(collection_path, config):
    """With --submissions, the run is a grading run: only the question items are collected."""
    if config.getoption("submissions") and collection_path != ITEMS_FILE \
            and collection_path not in ITEMS_FILE.parents:
        return True
    return None


def pytest_generate_tests(metafunc):
    if "graded" in metafunc.fixturenames:
        grading = metafunc.config.grading
        params = [Graded(student, question, grading) for student in grading.students for question in QUESTIONS]
        metafunc.parametrize("graded", params, ids=[f"{p.student.name}-{p.question}" for p in params])


def pytest_collection_finish(session):
    if hasattr(session.config, "workerinput"):
        return  # under pytest-xdist each worker grades what it is given, on demand
    params = [item.callspec.params["graded"] for item in session.items
              if hasattr(item, "callspec") and "graded" in item.callspec.params]
    session.config.grading.start((graded.student, graded.question) for graded in params)


class GradeReport:
    """Collects the points from the items' reports (also under xdist); prints and writes them."""

    def __init__(self, config):
        self.config = config
        self.grades = {}  # (student name, question) -> (points, reason)
        self.note = None

    def pytest_runtest_logreport(self, report):
        properties = dict(report.user_properties)
        if report.when == "call" and "question" in properties:
            key = (properties["student"], properties["question"])
            self.grades[key] = (properties["points"], properties["reason"])

    def pytest_sessionfinish(self, session, exitstatus):
        self.config.grading.close()
        gradebook = self.config.getoption("gradebook")
        if not gradebook or hasattr(self.config, "workerinput"):
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.note = f"gradebook {gradebook} not written: the run was interrupted"
        else:
            write_gradebook(gradebook, self.rows())
            self.note = f"gradebook written to {gradebook}"

    def rows(self):
        """One row per student with a graded question: points per question ('' if not graded), total."""
        rows = []
        for name in dict.fromkeys(student for student, _ in self.grades):
            points = [self.grades.get((name, question), ("", ""))[0] for question in QUESTIONS]
            rows.append([name, *points, sum(p for p in points if p != "")])
        return rows

    def pytest_terminal_summary(self, terminalreporter):
        write = terminalreporter.write_line
        rows = self.rows()
        if rows:
            width = max(len("student"), *(len(row[0]) for row in rows))
            terminalreporter.section("grades")
            write(f"{'student':<{width}}  " + " ".join(f"{q:>6}" for q in QUESTIONS) + "  total")
            for name, *points, total in rows:
                graded = sum(p != "" for p in points)
                write(f"{name:<{width}}  " + " ".join(f"{str(p):>6}" for p in points) + f"  {total}/{graded}")
        lost = [(s, q, reason) for (s, q), (points, reason) in self.grades.items() if points == 0]
        if lost:
            write("")
            write("lost points:")
            for student, question, reason in lost:
                write(f"  {student} {question}: {reason}")
        if self.note:
            write("")
            write(self.note)


def write_gradebook(path, rows):
    """Write the CSV next to its final place, then rename: never half a gradebook."""
    path = Path(path)
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False, newline="", encoding="utf-8")
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow(["student", *QUESTIONS, "total"])
            writer.writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise
