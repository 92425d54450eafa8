"""Grading a class: every file of every student runs once, then each question takes the file that answers it.

Files run several at a time (sandbox.py). For a question, the files are tried in this order:
those whose name says the exercise (`ex04.ipynb`, `ex4/…`, `forward_propagation.py`), then those
whose name says no exercise, then the others; the first file that earns the point gives it. When
none does, the reason comes from the most relevant file, and says which file that was.
"""
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader import contain, questions
from grader.intake import exercises_named
from grader.results import QuestionResult
from grader.sandbox import Sandbox, one_line, read_cells

MAX_REASON = 300
WEAK_KINDS = ("missing", "not shown")  # a file that does not even try the question


def new_seed():
    return secrets.randbelow(2**31)


def bounded(reason):
    return one_line(reason, MAX_REASON)


def ranked(runs, exercise):
    """The runs in the order they are tried for an exercise."""
    def rank(run):
        named = exercises_named(run.name)
        return 0 if exercise in named else 1 if not named else 2
    return sorted(runs, key=rank)


def decide(question, runs, probes_sent, student):
    """The QuestionResult of one question, from all the runs of a student's files."""
    exercise = questions.EXERCISE_OF[question]
    if not runs:
        found = "; ".join(student.problems[:3])
        return QuestionResult(question, 0, bounded(
            "no notebook (.ipynb) or script (.py) was found in the student's folder"
            + (f" ({found})" if found else "")), None, "missing")
    failures = []
    for order, run in enumerate(ranked(runs, exercise)):
        if run.report is None:
            weight = 0 if exercise in exercises_named(run.name) else 2
            failures.append((weight, order, run, questions.Verdict(0, f"{run.name}: {run.failure}", "crash")))
            continue
        verdict = questions.judge(question, evidence(run, probes_sent, student.folder))
        if verdict.points:
            return QuestionResult(question, 1, bounded(verdict.reason), run.name, "ok")
        named = exercise in exercises_named(run.name)
        weight = 0 if named else (1 if verdict.kind not in WEAK_KINDS else 3)
        failures.append((weight, order, run, verdict))
    attempted = [(run, v) for _, _, run, v in failures
                 if exercise in exercises_named(run.name) or v.kind not in (*WEAK_KINDS, "crash")]
    if question in questions.BONUS_IDS and not attempted:
        return QuestionResult(question, 0, "bonus not attempted (no file defines or shows it)", None, "not attempted")
    if not any(exercise in exercises_named(r.name) or answers_another(r, question, probes_sent, student.folder)
               for r in runs) \
            and all(v.kind in WEAK_KINDS or exercises_named(r.name) for _, _, r, v in failures):
        # The exercise is nowhere: what files of other exercises show is no answer to it
        where = (f"no file for exercise {exercise} ({questions.TOPICS[exercise]}) was found among the "
                 f"student's {len(runs)} file(s)")
        unnamed = [failure for failure in failures if failure[3].kind in WEAK_KINDS and not exercises_named(failure[2].name)]
        if not unnamed:
            return QuestionResult(question, 0, bounded(where), None, "missing")
        _, _, run, verdict = min(unnamed, key=lambda failure: failure[:2])
        return QuestionResult(question, 0, bounded(f"{verdict.reason} (in {run.name}); {where}"), run.name, "missing")
    _, _, run, verdict = min(failures, key=lambda failure: failure[:2])
    reason = verdict.reason if verdict.kind == "crash" else f"{verdict.reason} (in {run.name})"
    problems = [p for p in run.problems if p not in reason]
    if problems:
        reason += f" [{run.name}: {'; '.join(problems[:2])}]"
    if len(runs) > 1 and not any(exercise in exercises_named(r.name) for r in runs):
        reason += f" [no file named for exercise {exercise} among {len(runs)} files]"
    return QuestionResult(question, 0, bounded(reason), run.name, verdict.kind, verdict.expected, verdict.got)


def evidence(run, probes_sent, folder):
    """What a file showed, as questions read it (parsed once, not once per question), with its code."""
    if run.evidence is None:
        try:
            _, sources, _ = read_cells(Path(folder) / run.name)
        except ValueError:  # it ran, so this is rare: the questions then read what it showed only
            sources = None
        run.evidence = questions.Evidence(probes_sent, run.report, run.name, sources)
    return run.evidence


def answers_another(run, question, probes_sent, folder):
    """True when the file earns another question of the same exercise: it holds that exercise's work."""
    exercise = questions.EXERCISE_OF[question]
    return run.report is not None and any(
        questions.judge(other, evidence(run, probes_sent, folder)).points
        for other in questions.QUESTIONS if other != question and questions.EXERCISE_OF[other] == exercise)


class Grading:
    """Runs each student's files once (several at a time) and hands out the points."""

    def __init__(self, students, limits, jobs, seed=None):
        self.students = students
        self.limits = limits
        self.jobs = jobs
        self.seed = new_seed() if seed is None else seed
        self.containment = contain.probe() if limits.contain else None  # before any thread or fork
        self.sandbox = None
        self.pool = None
        self.futures = {}   # (student name, file) -> Future of FileRun
        self.drawn = {}     # student name -> the probes drawn for them
        self.lock = threading.RLock()

    def probes(self, student):
        with self.lock:
            if student.name not in self.drawn:
                self.drawn[student.name] = questions.probes(self.seed, student.name)
            return self.drawn[student.name]

    def start(self, students):
        """Queue every file of these students, in order."""
        for student in students:
            self.runs(student)

    def runs(self, student):
        with self.lock:
            if self.pool is None:
                self.sandbox = Sandbox(self.limits)
                self.pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="grade")
            futures = []
            for relative in student.files:
                key = (student.name, str(relative))
                if key not in self.futures:
                    self.futures[key] = self.pool.submit(self.sandbox.run, student.folder, relative,
                                                         self.probes(student))
                futures.append(self.futures[key])
            return futures

    def outcome(self, student, question):
        """The QuestionResult of one student's question (waits for the student's files to run)."""
        try:
            runs = [future.result() for future in self.runs(student)]
            return decide(question, runs, self.probes(student), student)
        except Exception as error:  # a fault on the grader's side: this question, not the run
            return QuestionResult(question, 0, bounded(f"grader error: {type(error).__name__}: {error}"),
                                  None, "grader error")

    def problems(self, student):
        """Every problem met while running the student's files, one line each."""
        lines = list(student.problems)
        for relative in student.files:
            future = self.futures.get((student.name, str(relative)))
            if future is not None and future.done() and future.exception() is None:
                lines.extend(f"{relative}: {problem}" for problem in future.result().problems)
        return lines

    def close(self):
        if self.pool is not None:
            self.sandbox.kill_all()
            self.pool.shutdown(wait=True, cancel_futures=True)
