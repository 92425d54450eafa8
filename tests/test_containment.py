"""A hostile student graded beside correct ones (issue: one notebook can't touch another's grade).

Each probe is a cell added to a correct student's notebook: it must not change that student's own
points (the probe costs nothing but its cell), nor anyone else's; the project's grader/ and data/
and the class folder are unchanged afterwards, nothing the notebooks started outlives the run,
and the gradebook is the one the grader wrote.
"""
import csv
import hashlib
import os
import time

import nbformat
import pytest

from conftest import ROOT, grade_warm, processes_with, without_outputs
from grader.questions import NOTEBOOKS, QUESTION_IDS

MARK = "grader-hostile-probe-7f3a"  # in the command line of every process a probe starts

KILL_THE_OTHERS = f'''\
import os, signal, time
# {MARK}: SIGKILL every process it can see, for a few seconds
end = time.time() + 4
while time.time() < end:
    for pid in range(2, 1 << 16):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
'''
REWRITE_LATER = '''\
import subprocess, sys
# waits for the grader to finish, then rewrites the gradebook: as a detached process of its own
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(6); "
                  "open({gradebook!r}, 'w').write('student,total\\\\nforged,8\\\\n')", "{mark}"],
                 start_new_session=True)
'''
VANDAL = '''\
import os, shutil
# {mark}: the course's files and the next student's folder
for path, text in [({questions!r}, "\\nQUESTIONS.clear()\\n"), ({data!r}, "Eve,20,20,1\\n")]:
    try:
        with open(path, "a") as handle:
            handle.write(text)
        print("wrote", path)
    except OSError as error:
        print("could not write", path, type(error).__name__)
shutil.rmtree({victim!r}, ignore_errors=True)
'''
SPINNERS = f'''\
import subprocess, sys, time
# {MARK}: busy children in sessions of their own, and a double-forked grandchild that lives on
code = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    while True: pass\\nwhile True: pass"
for _ in range(20):
    try:
        subprocess.Popen([sys.executable, "-c", code, "{MARK}"], start_new_session=True)
    except OSError:
        break
time.sleep(2)
'''


def digest(folder):
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def marked_processes():
    return processes_with(MARK)


def until_no_marked_process(seconds):
    """Wait until nothing a probe started is alive (at most `seconds`): a detached writer that
    outlived the run has then written or died. Contained, that is at once, not after a sleep."""
    deadline = time.monotonic() + seconds
    while marked_processes() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    classroom = tmp_path_factory.mktemp("class")
    gradebook = classroom.parent / "grades.csv"
    probes = {
        "kills the others": KILL_THE_OTHERS,
        "rewrites the gradebook later": REWRITE_LATER.format(gradebook=str(gradebook), mark=MARK),
        "vandal": VANDAL.format(mark=MARK, questions=str(ROOT / "grader" / "questions.py"),
                                data=str(ROOT / "data" / "exam_success.csv"),
                                victim=str(classroom / "correct 1")),
        "spins": SPINNERS,
    }
    for name in ["correct 1", "correct 2", *probes]:
        (classroom / name).mkdir()
        for notebook_name in NOTEBOOKS:
            notebook = without_outputs(ROOT / notebook_name)
            if name in probes and notebook_name == NOTEBOOKS[0]:
                cell = nbformat.v4.new_code_cell(probes[name])
                cell.id = "probe"
                notebook.cells.insert(1, cell)
            nbformat.write(notebook, classroom / name / notebook_name)
    before = {"grader": digest(ROOT / "grader"), "data": digest(ROOT / "data"), "class": digest(classroom)}
    run = grade_warm(classroom, "--gradebook", gradebook, "--grade-timeout", "30", "--grade-cell-timeout", "6",
                     "--grade-jobs", "3", timeout=900)
    until_no_marked_process(seconds=8)  # longer than the detached writer would wait
    after = {"grader": digest(ROOT / "grader"), "data": digest(ROOT / "data"), "class": digest(classroom)}
    with open(gradebook, newline="", encoding="utf-8") as handle:
        book = {row["student"]: row for row in csv.DictReader(handle)}
    return run, book, before, after


def test_the_hostile_students_are_contained(hostile_class):
    """All of the containment; as an ordinary user, who has no cgroup to write, all but the CPU and
    memory budgets (these probes meet the namespaces, the root and Landlock, not the budgets)."""
    run, _, _, _ = hostile_class
    header = next((line for line in run.stdout.splitlines() if line.startswith("containment: ")), "")
    partial = "containment: partial, it could not: "
    if header.startswith(partial) and os.geteuid() != 0:
        budgets = ["CPU share: no writable cpu cgroup; what the notebook starts can keep every CPU busy "
                   "(RLIMIT_CPU counts each process alone)", "memory budget: no writable memory cgroup; each "
                   "process has its own address-space limit instead (RLIMIT_AS)"]
        assert header[len(partial):] == "; ".join(budgets), header
        return
    assert ("containment: each file in its own user, mount, PID and network namespaces" in header
            or "containment: each file as PID 1 of its own PID namespace, in its own mount and network namespaces"
            in header), run.stdout[:2000]


def test_every_student_keeps_the_points_of_their_work(hostile_class):
    run, book, _, _ = hostile_class
    for student in ["correct 1", "correct 2", "kills the others", "rewrites the gradebook later", "vandal", "spins"]:
        assert [book[student][q] for q in QUESTION_IDS] == ["1"] * 8, (student, run.stdout[-5000:])


def test_the_course_and_the_class_are_unchanged_and_the_gradebook_is_the_graders(hostile_class):
    _, book, before, after = hostile_class
    assert after == before
    assert "forged" not in book and len(book) == 6


def test_nothing_the_notebooks_started_outlives_the_run(hostile_class):
    assert marked_processes() == []
