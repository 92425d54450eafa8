"""What runs inside one notebook's process: its cells, under limits, then the question checks.

The grader's fork server imports this module once, with the libraries notebooks use, so a
notebook's process starts warm (see sandbox.py). Everything here runs in that child process:
it reports to the grader through `events`, a one-way pipe, one message at a time.
"""
import builtins
import os
import resource
import signal
import sys
import warnings

import matplotlib

matplotlib.use("Agg")  # plots are drawn off-screen, as with a non-interactive backend

import matplotlib.pyplot as plt
import numpy  # noqa: F401  (preloaded for the notebooks)
import sklearn.metrics  # noqa: F401  (preloaded for the notebooks)
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from grader.questions import QUESTIONS, Lost, one_line


class CellTimeout(BaseException):
    """Raised inside a cell that runs longer than its limit (BaseException: `except Exception` won't hide it)."""


class OutputLimit(BaseException):
    """Raised inside a cell that prints more than its limit."""


class CappedOutput:
    """A stand-in for sys.stdout that keeps what a cell prints, up to a size limit."""

    def __init__(self, limit):
        self.limit, self.parts, self.size, self.overflowed = limit, [], 0, False

    def write(self, text):
        if self.overflowed:
            return len(text)
        text = str(text)
        self.size += len(text)
        if self.size > self.limit:
            self.overflowed = True
            raise OutputLimit()
        self.parts.append(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def text(self):
        return "".join(self.parts)


def no_input(*_args, **_kwargs):
    raise RuntimeError("input() was called, but a graded notebook gets no keyboard input: "
                       "remove the call or give the value in the code")


def isolate(folder, memory_bytes, data_dir):
    """Own process group, the notebook's folder as cwd, no stdin, a memory ceiling."""
    os.setsid()
    os.chdir(folder)
    sys.path.insert(0, folder)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # what C code or a subprocess writes goes nowhere
        os.dup2(devnull, fd)
    sys.stdin = open(os.devnull, encoding="utf-8")
    builtins.input = no_input
    os.environ["COURSE_DATA_DIR"] = data_dir
    with open("/proc/self/status", encoding="ascii") as status:
        used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (used + memory_bytes, used + memory_bytes))


def make_shell():
    """An IPython shell without a kernel: magics work; tracebacks are reported, not printed.

    The fork server makes it once (see the end of this module); children get it ready-made."""
    if InteractiveShell.initialized():
        return InteractiveShell.instance()
    config = Config()
    config.HistoryManager.enabled = False  # no shared history database between processes
    shell = InteractiveShell.instance(config=config)
    shell.showtraceback = lambda *args, **kwargs: None
    shell.showsyntaxerror = lambda *args, **kwargs: None
    shell.register_magic_function(lambda line: None, "line", "matplotlib")  # Agg stays
    return shell


def interrupt(_signum, _frame):
    raise CellTimeout()


def describe(error, limits):
    if isinstance(error, CellTimeout):
        return f"timed out after {limits['cell_timeout']:g} s"
    if isinstance(error, OutputLimit):
        return f"printed more than {limits['output_bytes'] // 1024} KiB"
    if isinstance(error, MemoryError):
        return f"ran out of memory (limit {limits['memory_bytes'] // 2**20} MiB)"
    return f"raised {type(error).__name__}: {one_line(error)}"


def run_cell(shell, source, limits):
    """Run one cell; return (printed text, what went wrong or None)."""
    output = CappedOutput(limits["output_bytes"])
    sys.stdout = sys.stderr = output
    signal.setitimer(signal.ITIMER_REAL, limits["cell_timeout"])
    try:
        result = shell.run_cell(source, store_history=False)  # history would format every traceback
        error = result.error_before_exec or result.error_in_exec
    except (CellTimeout, OutputLimit) as raised:  # landed outside the cell's own code
        error = raised
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        plt.close("all")
    if output.overflowed:
        error = OutputLimit()
    problem = describe(error, limits) if error is not None else None
    # Forget the failed cell's traceback: its frames may hold a memory hog's data.
    sys.last_type = sys.last_value = sys.last_traceback = shell.last_execution_result = None
    return output.text(), problem


def check(question, namespace, printed, limits):
    """(points, reason) for one question, the check itself under the cell time limit."""
    _, check_function = QUESTIONS[question]
    signal.setitimer(signal.ITIMER_REAL, limits["cell_timeout"])
    try:
        check_function(namespace, printed)
        return 1, ""
    except Lost as lost:
        return 0, str(lost)
    except CellTimeout:
        return 0, f"the check timed out after {limits['cell_timeout']:g} s (an endless loop in the notebook's code?)"
    except MemoryError:
        return 0, f"the check ran out of memory (limit {limits['memory_bytes'] // 2**20} MiB)"
    except BaseException as error:  # SystemExit from the student's code, or anything else odd
        return 0, f"the check failed: {type(error).__name__}: {one_line(error)}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main(job, events):
    """Run the job's cells (minus those to skip), then check its questions; report everything."""
    limits = job["limits"]
    isolate(job["folder"], limits["memory_bytes"], job["data_dir"])
    signal.signal(signal.SIGALRM, interrupt)
    warnings.simplefilter("ignore")  # warnings are not failures, and nobody reads them here
    shell = make_shell()
    printed = []
    for index, source in enumerate(job["cells"]):
        if index in job["skip_cells"]:
            continue
        events.send(("cell", index))
        text, problem = run_cell(shell, source, limits)
        printed.append(text)
        if problem:
            events.send(("problem", index, problem))
    printed = "\n".join(printed)  # each cell's output starts on a line of its own, as in Jupyter
    for question in job["questions"]:
        events.send(("checking", question))
        events.send(("graded", question, *check(question, shell.user_ns, printed, limits)))
    events.send(("done",))
    events.close()
    os._exit(0)  # skip interpreter teardown: nothing of the student's runs after this


if os.environ.get("GRADER_FORK_SERVER") == "1":  # set by sandbox.start_fork_server
    make_shell()
