"""Start, watch and, if need be, kill the process that runs one student's notebook.

Processes come from a multiprocessing fork server that has imported `grader.worker` (and with
it NumPy, matplotlib, scikit-learn and IPython) once: a notebook's process is a fork of that
warm server, so it starts in milliseconds instead of the seconds a Jupyter kernel needs.

This isolates accidents (a crash, os._exit, an endless loop, a memory hog, a flood of
output), not attacks: a notebook runs with the grader's user rights. Grade untrusted code
inside a container.
"""
import json
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing import forkserver
from pathlib import Path

from grader.questions import DATA_DIR, one_line, questions_of

# The fork server's environment: one thread each for the math libraries (parallelism is the
# grader's business), and a flag that makes grader.worker prepare its IPython shell in advance.
SERVER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                      "GRADER_FORK_SERVER": "1"}
MAX_RUNS = 3  # a notebook whose process dies is run again without the culprit, this often at most


@dataclass
class Limits:
    timeout: float = 60.0        # seconds for one run of a notebook (a notebook gets MAX_RUNS at most)
    cell_timeout: float = 10.0   # seconds for one cell, or one question's checks
    memory_mib: int = 2048       # address space a notebook may add to the preloaded libraries
    output_kib: int = 1024       # what one cell may print

    def for_worker(self):
        return {"cell_timeout": self.cell_timeout, "memory_bytes": self.memory_mib * 2**20,
                "output_bytes": self.output_kib * 1024}


@dataclass
class NotebookResult:
    """Points and reasons for the questions of one notebook, and what happened while it ran."""
    grades: dict = field(default_factory=dict)     # question -> (points, reason)
    problems: list = field(default_factory=list)   # one line each: "code cell 7 raised NameError: ..."

    def note(self, problem):
        if problem not in self.problems:  # a run after a crash meets the same problems again
            self.problems.append(problem)


def start_fork_server():
    """Start the warm fork server (once per grading process)."""
    context = multiprocessing.get_context("forkserver")
    # "__main__" too: otherwise every child would import the parent's main script again.
    context.set_forkserver_preload(["__main__", "grader.sandbox", "grader.worker"])
    saved = {name: os.environ.get(name) for name in SERVER_ENVIRONMENT}
    os.environ.update(SERVER_ENVIRONMENT)
    try:
        forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return context


def read_code_cells(path):
    """The notebook's code cells, or a ValueError that says what is wrong with the file."""
    try:
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{path.name} is not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path.name} is not valid JSON ({error.msg} at line {error.lineno}, "
                         f"column {error.colno}): re-save it from JupyterLab") from None
    if isinstance(notebook, dict) and notebook.get("nbformat", 4) < 4:
        import nbformat  # an older notebook format: let nbformat convert it
        try:
            notebook = nbformat.reads(json.dumps(notebook), as_version=4)
        except Exception as error:
            raise ValueError(f"{path.name} is not a Jupyter notebook ({one_line(error)})") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ValueError(f"{path.name} is not a Jupyter notebook (it has no list of cells)")
    return ["".join(cell.get("source", "")) for cell in cells
            if isinstance(cell, dict) and cell.get("cell_type") == "code"]


def death(exitcode):
    if exitcode is None:
        return "did not stop"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {exitcode} (os._exit or a crash)"


class Sandbox:
    """Runs notebooks, each in its own process; `kill_all` stops whatever still runs."""

    def __init__(self, limits=None):
        self.limits = limits or Limits()
        self.context = start_fork_server()
        self.running = set()
        self.closed = False

    def grade(self, path):
        """Run a student's notebook and check its questions. Never raises for the student's faults."""
        path = Path(path)
        questions = questions_of(path.name)
        result = NotebookResult()
        if not path.is_file():
            result.grades = {q: (0, f"{path.name} is missing") for q in questions}
            return result
        try:
            cells = read_code_cells(path)
        except ValueError as error:
            result.grades = {q: (0, str(error)) for q in questions}
            return result
        skip_cells = set()
        for _ in range(MAX_RUNS):
            pending = [q for q in questions if q not in result.grades]
            if not pending or self.closed:
                break
            job = {"folder": str(path.parent.resolve()), "cells": cells, "skip_cells": skip_cells,
                   "questions": pending, "limits": self.limits.for_worker(), "data_dir": str(DATA_DIR)}
            last, ending = self.run_once(job, result)
            if ending is None:
                break
            if last[0] == "checking":  # the process died in a question's check: that point is lost
                result.grades[last[1]] = (0, f"the notebook's process {ending} while checking {last[1]}")
            elif last[0] == "cell":  # died in a cell: run again without it
                skip_cells.add(last[1])
                result.note(f"code cell {last[1] + 1}: the process {ending}; graded again without that cell")
            else:
                result.note(f"the process {ending} before running any cell")
                break
        reason = f"not graded: {result.problems[-1]}" if result.problems else "not graded"
        for question in questions:
            result.grades.setdefault(question, (0, reason))
        return result

    def run_once(self, job, result):
        """One process over the job. Returns (last event, None) when it finished, else
        (last event, how it ended): the caller decides what to run again."""
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_run_worker, args=(job, writer), daemon=True)
        process.start()
        writer.close()
        self.running.add(process)
        deadline = time.monotonic() + self.limits.timeout
        last, ending = ("start", None), None
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    ending = f"was stopped after {self.limits.timeout:g} s (--grade-timeout)"
                    break
                if not reader.poll(min(remaining, 1.0)):
                    continue
                try:
                    event = reader.recv()
                except (EOFError, OSError):
                    process.join(5)
                    ending = death(process.exitcode)
                    break
                if event[0] == "problem":
                    result.note(f"code cell {event[1] + 1} {event[2]}")
                elif event[0] == "graded":
                    result.grades[event[1]] = (event[2], event[3])
                elif event[0] == "done":
                    return last, None
                else:
                    last = event
        finally:
            self.kill(process)
            reader.close()
            self.running.discard(process)
        return last, ending

    def kill(self, process):
        """Kill the process and everything it started (its own process group)."""
        if process.pid is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # not yet in its own group
                process.kill()
        process.join(5)

    def kill_all(self):
        self.closed = True
        for process in list(self.running):
            self.kill(process)


def _run_worker(job, events):
    from grader import worker
    worker.main(job, events)
