"""Fixtures that load the graded functions from the notebooks themselves."""
import os
import warnings
from pathlib import Path

import pytest

# nbformat (its jsonschema builds a URI grammar on import, about 3 s of CPU) and matplotlib are
# imported where they are used: every `python -m grader` loads this file too, and needs neither.
from grader.questions import NOTEBOOKS as ALL_NOTEBOOKS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {name[:4]: name for name in ALL_NOTEBOOKS}  # "ex01" -> "ex01_neuron.ipynb"


def pytest_addoption(parser):
    parser.addoption(
        "--solutions", metavar="DIR", default=str(ROOT),
        help="folder whose five notebooks tests/ checks (default: the project's own); "
             "point it at a broken copy to see the tests fail",
    )


def as_at_a_terminal():
    """preexec_fn of a process a test stops with SIGINT, as Ctrl-C would: Python leaves SIGINT
    ignored if it started so (a suite run in the background of a shell), and the test would wait
    for a run that never hears it."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def processes_with(text):
    """The ids of the processes whose command line holds `text`, read whole from /proc (ps cuts
    its lines at 80 characters when its output is not a terminal, as in a test)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:  # ended meanwhile
            pass
    return found


class WarmGrader:
    """tests/warm_grader.py, started on first use, one per pytest process (each xdist worker)."""
    process = None

    @classmethod
    def grade(cls, argv, cwd=ROOT, timeout=400, text=True, env=None):
        import json
        import locale
        import select
        import subprocess
        import sys
        import tempfile
        import time
        if cls.process is None or cls.process.poll() is not None:
            cls.process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "warm_grader.py")], cwd=ROOT,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        argv = [str(arg) for arg in argv]
        command = [sys.executable, "-m", "grader", *argv]
        with tempfile.TemporaryDirectory(prefix="warm-grader-") as folder:
            out, err = Path(folder) / "stdout", Path(folder) / "stderr"
            cls.process.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd), "env": env or {},
                                                "stdout": str(out), "stderr": str(err)}) + "\n")
            cls.process.stdin.flush()
            deadline = time.monotonic() + timeout
            while not select.select([cls.process.stdout], [], [], max(0, deadline - time.monotonic()))[0]:
                if time.monotonic() >= deadline:
                    cls.stop(kill=True)
                    raise subprocess.TimeoutExpired(command, timeout)
            reply = cls.process.stdout.readline()
            if not reply:
                raise RuntimeError(f"the warm grader ended during a run: {err.read_text()[-3000:]}")
            reply = json.loads(reply)
            outputs = [path.read_bytes() for path in (out, err)]
            if text:  # as subprocess.run(text=True) decodes them: strictly, with universal newlines
                encoding = locale.getpreferredencoding(False)
                outputs = [output.decode(encoding).replace("\r\n", "\n").replace("\r", "\n") for output in outputs]
            assert not reply["threads"], f"the grader left threads running after its run: {reply['threads']}"
            return subprocess.CompletedProcess(command, reply["returncode"], *outputs)

    @classmethod
    def stop(cls, kill=False):
        if cls.process is None:
            return
        if kill:
            cls.process.kill()
        else:
            cls.process.stdin.close()
        cls.process.wait(timeout=60)
        cls.process = None


def grade_warm(*argv, cwd=ROOT, timeout=400, text=True, env=None):
    """What `python -m grader ARGV` run in `cwd` (with `env` added to its environment) gives
    (returncode, stdout, stderr), from a grader process kept warm between the runs of this pytest
    process (tests/warm_grader.py says when)."""
    return WarmGrader.grade(argv, cwd, timeout, text, env)


def pytest_sessionfinish(session):
    WarmGrader.stop()


# scikit-learn's log_loss and mean_squared_error, the tests' independent references, imported at
# their first call: importing scikit-learn costs 1.4 s of CPU in each process that collects the
# test files (the pytest-xdist workers, pytest --collect-only), and every grading run loads this file.
def log_loss(*args, **kwargs):
    from sklearn.metrics import log_loss as sklearn_log_loss
    return sklearn_log_loss(*args, **kwargs)


def mean_squared_error(*args, **kwargs):
    from sklearn.metrics import mean_squared_error as sklearn_mean_squared_error
    return sklearn_mean_squared_error(*args, **kwargs)


def code_cells(path):
    """The source of each code cell of a notebook, in order."""
    import nbformat
    notebook = nbformat.read(path, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def off_screen():
    """pyplot, drawing off-screen (Agg), for a notebook's cells run in this process: never a window,
    even where a display is set. Asked for here, at first use: not every pytest process draws (the
    one that hands tests to the xdist workers, a collect-only run), and matplotlib costs 0.7 s of CPU."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def run_notebook(path):
    """Run every code cell of a notebook in a fresh namespace (cwd = its folder); return it."""
    plt = off_screen()
    namespace = {"__name__": "__main__"}
    previous = os.getcwd()
    os.chdir(path.parent)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. plt.show() on the off-screen backend
            for index, source in enumerate(code_cells(path)):
                exec(compile(source, f"{path.name}, code cell {index + 1}", "exec"), namespace)
    finally:
        os.chdir(previous)
        plt.close("all")
    return namespace


def without_outputs(path):
    """A notebook as a student saves it before running it: no outputs, no execution counts."""
    import nbformat
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


@pytest.fixture(scope="session")
def solutions_dir(request):
    return Path(request.config.getoption("--solutions")).resolve()


@pytest.fixture(scope="session")
def notebook(solutions_dir):
    """notebook("ex01") -> the namespace left by running ex01_neuron.ipynb top to bottom."""
    cache = {}

    def load(exercise):
        if exercise not in cache:
            cache[exercise] = run_notebook(solutions_dir / NOTEBOOKS[exercise])
        return cache[exercise]

    return load
