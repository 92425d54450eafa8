"""Issue 16: a security pass's attacks on the sandbox, graded in one run beside an honest student.

Each attacker is the blank student edition plus one cell, written as a student who has this
repository and its README would write it (they know every path but the seed of the run). Each
must earn what the blank edition earns (nothing), learn nothing of the machine, and leave the
honest student's 8/8 alone. The same run writes feedback pages, which must carry no secret.
"""
import csv
import os
import socket
import stat
import subprocess
import sys
import threading
import zipfile

import nbformat
import pytest

from conftest import ROOT, without_outputs
from grader.questions import NOTEBOOKS, QUESTION_IDS
from test_hostile import add_cell

SECRET = "instructor-secret-4b1d"  # in the grading shell's environment, a gradebook and a zip

STEAL_THE_SOLUTIONS = '''\
import glob, json, os, importlib.util
found = []
for project in {{os.path.dirname(os.environ.get("COURSE_DATA_DIR", "/x")), {root!r}}}:
    for path in sorted(glob.glob(os.path.join(project, "ex0*.ipynb"))):
        for cell in json.load(open(path))["cells"]:
            if cell["cell_type"] == "code":
                try:
                    exec("".join(cell["source"]), globals())
                except Exception:
                    pass
        found.append(path)
    try:
        spec = importlib.util.spec_from_file_location("ref", os.path.join(project, "grader", "reference.py"))
        reference = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(reference)
        found.append("reference")
    except Exception as error:
        pass
print("stolen:", found)
'''
TYPE_INTO_THE_TMUX_SOCKET = '''\
import socket
import stat
for path in ({socket!r},):
    try:
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        client.sendall(b"touch /tmp/owned\\n")
        print("connected to", path)
    except OSError as error:
        print("socket:", error)
'''
COPY_A_CLASSMATE = '''\
import glob, json, os, zipfile
sources = []
for pattern in ({classmate!r}, {downloads!r}, "/tmp/grader-class-*/**/*.ipynb", "/tmp/grader-runs-*/**/*.ipynb",
                "../*/*.ipynb", "../../*/*.ipynb"):
    for path in glob.glob(pattern, recursive=True):
        if os.path.realpath(path).startswith(os.path.realpath(".") + os.sep):
            continue  # its own notebooks are no classmate's (and would run this cell again and again)
        try:
            if path.endswith(".zip"):
                with zipfile.ZipFile(path) as archive:
                    cells = [c for name in archive.namelist() if name.endswith(".ipynb")
                             for c in json.loads(archive.read(name))["cells"]]
            else:
                cells = json.load(open(path))["cells"]
        except Exception:
            continue
        sources.append(path)
        for cell in cells:
            if cell["cell_type"] == "code":
                try:
                    exec("".join(cell["source"]), globals())
                except Exception:
                    pass
print("copied from:", sources)
'''
READ_THE_MACHINE = '''\
import os
print("environment:", dict(os.environ))
for path in ({gradebook!r}, "/root/.bash_history", "/etc/shadow", "/proc/1/environ", "/proc/self/environ"):
    try:
        print(path, open(path, errors="replace").read()[:2000])
    except OSError as error:
        print(path, error)
import posix
print("posix.environ:", posix.environ)
environ = open("/proc/self/environ", "rb").read().replace(b"\\0", b" ").decode(errors="replace")
secret = environ[environ.find("GRADING_TOKEN"):][:150]
raise RuntimeError("leak: " + secret + " " + " ".join(f"{{k}}={{v}}" for k, v in os.environ.items()))
'''
FILL_THE_DISK = '''\
import os, tempfile
for folder in (tempfile.gettempdir(), ".", os.environ.get("HOME", ".")):
    try:
        with open(os.path.join(folder, "filler"), "wb") as handle:
            for _ in range(4096):
                handle.write(b"x" * 2**20)
    except OSError as error:
        print(folder, error)
'''
FORGE_THE_REPORT = '''\
# a red-team pass: write the grader's report lines itself, one value per check (the statement's
# example, known from the check cells), so that a pairwise comparison would skip the hidden cases
import gc, json, os, stat
job = next(o for o in gc.get_objects() if isinstance(o, dict) and "probes" in o and "cells" in o and "limits" in o)
fd = next(n for n in range(3, 64) if os.path.exists(f"/proc/self/fd/{n}") and stat.S_ISFIFO(os.fstat(n).st_mode))
known = {"neuron": 0.9990889488055994, "network": 0.9524917424084265,
          "log_loss_custom": 0.5472899351247816, "regression": 7.0}
def send(message):
    os.write(fd, ("\\n" + json.dumps(message) + "\\n").encode())
send({"event": "cells", "compiled": [], "cells": [{"index": 0, "text": "", "problem": None, "check": False}]})
for probe in job["probes"]:
    send({"event": "probe", "id": probe})
    results = [{"label": "Neuron", "values": [{"v": known[probe]}]}] if probe in known else []
    send({"event": "probed", "id": probe, "results": results})
send({"event": "done"})
os._exit(0)
'''
PRINT_A_MILLION_NUMBERS = '''\
print("1 " * 500000)  # 1 MiB on one line, the most a cell may print
print(" ".join(str(n / 7) for n in range(40000)))
'''
FORGE_A_HUGE_NUMBER = '''\
import os
line = ('\\n{"event": "probed", "id": "neuron", "results": [{"label": "Neuron", "values": [{"v": 1'
        + "0" * 400 + '}]}]}\\n').encode()
for fd in range(3, 256):
    try:
        os.write(fd, line)
    except OSError:
        pass
'''


@pytest.fixture(scope="module")
def attacked_run(tmp_path_factory):
    place = tmp_path_factory.mktemp("attacked")
    classroom, downloads, pages = place / "class", place / "home" / "Downloads", place / "feedback"
    classroom.mkdir()
    downloads.mkdir(parents=True)
    honest = classroom / "zz honest"  # graded after the attackers
    honest.mkdir()
    for name in NOTEBOOKS:
        nbformat.write(without_outputs(ROOT / name), honest / name)
    with zipfile.ZipFile(downloads / "submissions.zip", "w") as archive:  # the LMS download, still there
        for name in NOTEBOOKS:
            archive.write(honest / name, f"Honest Student_1234_assignsubmission_file_/{name}")
        archive.writestr("secret.txt", SECRET)
    earlier = place / "home" / "grades-last-year.csv"
    earlier.write_text(f"student,total\n{SECRET},8\n", encoding="utf-8")
    tmux = f"/tmp/tmux-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(tmux)
    os.chmod(tmux, 0o777)
    listener.listen()
    listener.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept()[0].recv(100))
            except OSError:
                pass

    watcher = threading.Thread(target=accept, daemon=True)
    watcher.start()
    attacks = {"steals the solutions": STEAL_THE_SOLUTIONS.format(root=str(ROOT)),
               "types into the tmux socket": TYPE_INTO_THE_TMUX_SOCKET.format(socket=tmux),
               "copies a classmate": COPY_A_CLASSMATE.format(classmate=str(honest / "*.ipynb"),
                                                             downloads=str(downloads / "*.zip")),
               "reads the machine": READ_THE_MACHINE.format(gradebook=str(earlier)),
               "fills the disk": FILL_THE_DISK, "forges a huge number": FORGE_A_HUGE_NUMBER,
               "prints a million numbers": PRINT_A_MILLION_NUMBERS, "forges the report": FORGE_THE_REPORT}
    for attacker, source in list(attacks.items()):
        folder = classroom / attacker
        folder.mkdir()
        for name in NOTEBOOKS:
            notebook = without_outputs(ROOT / "exercises" / name)
            add_cell(notebook, source, index=1)
            nbformat.write(notebook, folder / name)
    odd = classroom / "hands in odd files"  # a FIFO and a device named like scripts, a link, a deep folder
    odd.mkdir()
    for name in NOTEBOOKS:
        nbformat.write(without_outputs(ROOT / "exercises" / name), odd / name)
    os.mkfifo(odd / "ex02.py")
    if os.geteuid() == 0:
        os.mknod(odd / "ex07.py", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero: endless
    (odd / "solutions.ipynb").symlink_to(ROOT / "ex01_neuron.ipynb")
    deep = odd / "deep"
    deep.mkdir()
    for _ in range(300):
        deep = deep / "d"
        deep.mkdir()
    attacks["hands in odd files"] = ""
    gradebook = place / "grades.csv"
    temp = place / "tmp"  # the grader's own temp folder: empty again after the run
    temp.mkdir()
    environment = {**os.environ, "GRADING_TOKEN": SECRET, "TMPDIR": str(temp)}
    try:
        run = subprocess.run([sys.executable, "-m", "grader", str(classroom), "--gradebook", str(gradebook),
                              "--feedback", str(pages), "--grade-timeout", "30", "--grade-cell-timeout", "8"],
                             cwd=classroom, env=environment, capture_output=True, text=True, timeout=600)
    finally:
        stop.set()
        watcher.join()
        listener.close()
        os.unlink(tmux)
    with open(gradebook, newline="", encoding="utf-8") as handle:
        book = {row["student"]: row for row in csv.DictReader(handle)}
    return run, book, attacks, pages, connections


def test_each_attacker_earns_what_the_blank_edition_earns(attacked_run):
    run, book, attacks, _, _ = attacked_run
    for attacker in attacks:
        assert [book[attacker][q] for q in QUESTION_IDS] == ["0"] * 8, (attacker, run.stdout[-4000:])
        assert book[attacker].get("ex6.q1", "0") in ("0", "") and book[attacker].get("ex6.q2", "0") in ("0", "")


def test_the_honest_student_keeps_every_point(attacked_run):
    run, book, _, _, _ = attacked_run
    assert book["zz honest"]["total"] == "8", run.stdout[-4000:]


def test_nothing_of_the_machine_reaches_a_page_or_the_host(attacked_run):
    run, _, _, pages, connections = attacked_run
    assert connections == [], "a notebook reached a Unix socket of the host"
    assert not os.path.exists("/tmp/owned")
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in pages.glob("*.html")]
    assert len(texts) == len(attacked_run[2]) + 1
    assert not any(SECRET in text for text in texts), "a secret of the grading machine reached a feedback page"
    assert SECRET not in run.stdout + run.stderr
    assert "grader error" not in run.stdout, run.stdout[-4000:]


def test_no_copy_or_run_is_left_in_the_temp_folder(attacked_run):
    pages = attacked_run[3]
    assert os.listdir(pages.parent / "tmp") == []
