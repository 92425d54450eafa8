"""Running one student file: a private copy, a forked warm process, a deadline, plain data back.

Processes come from a multiprocessing fork server that has imported `grader.worker` (and with
it NumPy, matplotlib and IPython, and scikit-learn when the class's code names it) once: a file's
process is a fork of that warm server, so it starts in milliseconds instead of the seconds a
Jupyter kernel needs. The process works in a private copy of the student's folder and reports
JSON lines on a pipe; this side reads them with deadlines, validates them, and never unpickles
anything the student's process sends.
"""
import json
import math
import multiprocessing
import os
import select
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import connection, forkserver
from pathlib import Path

from grader import contain
from grader.intake import code_mentions, ignored_folder, remove_tree

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
# The fork server's environment: one thread each for the math libraries (parallelism is the
# grader's business), and a flag that makes grader.worker prepare its IPython shell in advance.
SERVER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                      "GRADER_FORK_SERVER": "1"}
# What the fork server keeps of the grading shell's environment (PATH and HOME find programs and
# matplotlib's font cache; OPENBLAS_* keep NumPy correct on some processors).
SERVER_KEEPS = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "MPLCONFIGDIR", "XDG_CONFIG_HOME",
                "XDG_CACHE_HOME", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
MAX_RUNS = 5               # runs of one file at the most, each without the cells that ended the earlier ones
MAX_PROCESSES = 64         # processes and threads a file's process may have at once
MAX_STALLS = 1             # of which re-runs after a cell that ignored its time limit
GRACE = 3.0                # seconds past a cell's limit before its process is killed
STALLED = "ignored the"
# Imported by the fork server (before grader.worker) for a class whose code names them: module ->
# (the word looked for, the name shown). scikit-learn costs each start 1.4 s of CPU: our edition's
# notebooks name it, scripts written from the statement often do not. A student who reaches it
# under another name imports it in their own process, in their own time.
STUDENT_LIBRARIES = {"sklearn.metrics": (b"sklearn", "scikit-learn")}
MAX_REPORT_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 200


@dataclass
class Limits:
    timeout: float = 60.0        # seconds for one run of a file
    cell_timeout: float = 10.0   # seconds for one cell, or one call of the student's code by a probe
    memory_mib: int = 2048       # address space a file may add to the preloaded libraries
    output_kib: int = 1024       # what one cell may print
    contain: bool = True         # namespaces (contain.py); False: own session and rlimits only
    preload: tuple = tuple(STUDENT_LIBRARIES)  # what the fork server imports for the students' code

    def for_worker(self):
        return {"cell_timeout": self.cell_timeout, "memory_bytes": self.memory_mib * 2**20,
                "output_bytes": self.output_kib * 1024}


@dataclass
class FileRun:
    """What one file of a student gave: its report (or None) and what went wrong while it ran."""
    name: str                                      # relative path in the student's folder
    report: dict | None = None                     # {"cells": [...], "probes": {...}}, validated
    problems: list = field(default_factory=list)   # one line each: "code cell 7 timed out after 10 s"
    failure: str = ""                              # why there is no report, if there is none
    evidence: object = None                        # the report as questions read it (made once)

    def note(self, problem):
        if problem not in self.problems:  # a run after a crash meets the same problems again
            self.problems.append(problem)


def one_line(text, limit=200):
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def preload_for(students):
    """The modules of STUDENT_LIBRARIES that the students' code names."""
    return tuple(module for module, (word, _) in STUDENT_LIBRARIES.items() if code_mentions(students, word))


def preload_line(preload):
    """What the run's header says of the libraries its notebooks find imported."""
    names = {module: name for module, (_, name) in STUDENT_LIBRARIES.items()}
    missing = [name for module, name in names.items() if module not in preload]
    return ("preloaded for the notebooks: NumPy, matplotlib, IPython" + "".join(f", {names[m]}" for m in preload)
            + (f" (not {', '.join(missing)}: no file of the class names it)" if missing else ""))


def start_fork_server(contained=True, preload=tuple(STUDENT_LIBRARIES)):
    """Start the warm fork server (once per grading process, again if it died, if `contained`
    changed or if it lacks a library of `preload`). Contained, its children are forked as
    contain.fork does (as root: each PID 1 of a PID namespace of its own)."""
    global _server_contained, _server_served, _server_preload
    context = multiprocessing.get_context("forkserver")
    server = forkserver._forkserver
    other_kind = _server_contained not in (None, contained)
    if server._forkserver_pid is not None and (other_kind or not set(preload) <= _server_preload):
        server._stop()
        _server_served = False
    if server._forkserver_pid is None:
        _server_preload = frozenset(preload)
    # "__main__" is meant to spare each child from running the parent's main script again, but
    # Python 3.11 never preloads it (worker.hide_the_grader copes with a child that did run it).
    # The students' libraries come before grader.worker, which ends by freezing what is loaded.
    context.set_forkserver_preload(["__main__", *sorted(_server_preload), "grader.sandbox", "grader.worker"])
    # The server, and so every student's process, starts with only what Python and the libraries
    # need of the grading shell's environment: its secrets are never in their memory.
    environment = {name: value for name, value in os.environ.items() if name in SERVER_KEEPS}
    environment.update(SERVER_ENVIRONMENT, GRADER_CONTAINED_FORKS="1" if contained else "0")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    try:
        short_socket_folder()
        forkserver.ensure_running()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    _server_contained = contained
    return context


def stop_fork_server():
    """Stop the fork server at the end of a run, once it has served (it is then idle, waiting
    for requests). One that never served may still be importing its libraries, and a kill could
    leave a half-written cache behind (matplotlib's font list, and its lock): it ends by itself
    when it finds the grader gone."""
    global _server_served
    server = forkserver._forkserver
    if server._forkserver_pid is None or not _server_served:
        return
    try:
        os.kill(server._forkserver_pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server._stop()
    _server_served = False


_server_contained = None  # how the running fork server forks
_server_served = False    # whether it has started a process (it has imported everything then)
_server_preload = frozenset()  # the students' libraries it imports (or has imported)
SOCKET_PATH_MOST = 107      # bytes in a Unix socket's path (sun_path, with its final NUL: 108)


def short_socket_folder():
    """multiprocessing binds the fork server's socket in a pymp-* folder of the temp folder; in a
    deep TMPDIR its path is too long for a socket ("AF_UNIX path too long", and no gradebook).
    There, that folder is made in /tmp instead (removed at exit, as it would have been)."""
    from multiprocessing import util
    longest = len(os.fsencode(os.path.join(tempfile.gettempdir(), "pymp-12345678", "listener-12345678")))
    if longest <= SOCKET_PATH_MOST or not os.access("/tmp", os.W_OK | os.X_OK):
        return
    saved = tempfile.tempdir
    tempfile.tempdir = "/tmp"
    try:
        util.get_temp_dir()  # made once, kept for the process's life (as without this)
    finally:
        tempfile.tempdir = saved


def depth(value, limit):
    """How deeply nested a parsed JSON value is, stopping at limit (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def text_of(source):
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return None


def read_cells(path):
    """("notebook" or "script", [code of each cell], problems), or a ValueError that says what is wrong."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"{name} cannot be read ({error.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{name} is not UTF-8 text ({error.reason})") from None
    if path.suffix.lower() == ".py":
        return "script", [text], []
    if text.count("[") + text.count("{") > 2_000_000:
        raise ValueError(f"{name} is not a notebook this grader can read (too deeply nested)")
    try:
        notebook = json.loads(text)
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply to be a Jupyter notebook") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{name} is not valid JSON ({error.msg} at line {error.lineno}, "
                         f"column {error.colno}): re-save it from JupyterLab") from None
    if not isinstance(notebook, dict) or depth(notebook, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ValueError(f"{name} is not a Jupyter notebook (no notebook object at its top)")
    version = notebook.get("nbformat", 4)
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if isinstance(version, int) and version < 4:
        import nbformat  # an older notebook format: let nbformat convert it
        try:
            notebook = nbformat.reads(json.dumps(notebook), as_version=4)
        except Exception as error:
            raise ValueError(f"{name} is not a Jupyter notebook ({one_line(error)})") from None
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise ValueError(f"{name} is not a Jupyter notebook (it has no list of cells)")
    code, problems = [], []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = text_of(cell.get("source", ""))
            if source is None:
                problems.append(f"code cell {len(code) + 1} has no readable source; it is left out")
                source = ""
            code.append(source)
    return "notebook", code, problems


class Report:
    """Reads the JSON lines of one process, validating each against the job it was given."""

    def __init__(self, job):
        self.job, self.buffer, self.size, self.garbled = job, b"", 0, 0
        self.last = ("start", None)
        self.cells = None      # what the cells showed, once they have all run
        self.compiled = []     # code the cells compiled at run time (worker.CompiledCode), for the class report
        self.probes = {}       # probe id -> results, as each probe finishes
        self.done = False
        self.refused = None    # why the process could not be contained

    def feed(self, data):
        self.size += len(data)
        if self.size > MAX_REPORT_BYTES:
            raise ValueError(f"it sent more than {MAX_REPORT_BYTES // 2**20} MiB to the grader")
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.strip() and not self.done:
                self.take(line)

    def take(self, line):
        try:
            message = json.loads(line.decode("utf-8"))
            event = message["event"]
            if event == "cell" and isinstance(message["index"], int) and self.cells is None:
                self.last = ("cell", message["index"])
            elif event == "cells" and self.cells is None:
                self.cells = self.validated_cells(message["cells"])
                compiled = message.get("compiled")  # only texts, and never at the cost of the cells
                self.compiled = [t for t in compiled[:64] if isinstance(t, str)] if isinstance(compiled, list) else []
                self.last = ("cells", None)
            elif event == "probe" and self.cells is not None and message["id"] in self.job["probes"]:
                self.last = ("probe", message["id"])
            elif event == "probed" and self.last == ("probe", message["id"]):
                self.probes[message["id"]] = self.validated_probe(message["id"], message["results"])
                self.last = ("probed", message["id"])
            elif event == "refused" and self.last == ("start", None):
                self.refused = one_line(message["why"])
            elif event == "done" and self.cells is not None and set(self.probes) == set(self.job["probes"]):
                self.done = True
            else:
                raise ValueError(event)
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, RecursionError,
                ArithmeticError):  # a 400-digit number, say
            self.garbled += 1  # not from the grader's worker: ignored

    def validated_cells(self, cells_in):
        if not isinstance(cells_in, list) or depth(cells_in, 4) > 4:
            raise ValueError("cells")
        cells = []
        for cell in cells_in:
            index, text, problem, check = cell["index"], cell["text"], cell["problem"], cell["check"]
            if not (isinstance(index, int) and 0 <= index < len(self.job["cells"]) and isinstance(text, str)
                    and (problem is None or isinstance(problem, str)) and isinstance(check, bool)):
                raise ValueError("cell")
            where = f"code cell {index + 1}" if self.job["kind"] == "notebook" else "the script"
            cells.append({"index": index, "text": text, "check": check, "where": where,
                          "problem": one_line(problem) if problem else None})
        return cells

    def validated_probe(self, probe_id, results):
        if depth(results, 6) > 6:
            raise ValueError("depth")
        if isinstance(results, dict):
            return {"error": one_line(results["error"])}
        cases = len(self.job["probes"][probe_id]["cases"])
        kind = self.job["probes"][probe_id].get("kind")
        checked = []
        for result in results[:64]:
            values = [self.value(value) for value in result["values"]]
            # one value per case (a forged shorter list once skipped the hidden cases); only a
            # predictor may answer with one value: a function of the whole table, called once
            if len(values) != cases and not (len(values) == 1 and kind == "predictors"):
                raise ValueError("values")
            own = result.get("own", True)
            if not isinstance(own, bool):
                raise ValueError("own")
            checked.append({"label": one_line(result["label"], 80), "values": values, "own": own})
        return checked

    @staticmethod
    def value(value):
        if set(value) == {"v"} and isinstance(value["v"], (int, float)) and not isinstance(value["v"], bool):
            return {"v": float(value["v"])}  # OverflowError for a huge int: the line is ignored
        if set(value) == {"e"} and isinstance(value["e"], str):
            return {"e": one_line(value["e"])}
        if set(value) == {"a", "shape"} and isinstance(value["a"], list) and len(value["a"]) <= 64 \
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value["a"]) \
                and all(isinstance(n, int) for n in value["shape"]):
            return {"a": [float(x) for x in value["a"]], "shape": value["shape"][:8]}
        raise ValueError("value")


def death(exitcode):
    if exitcode is None:
        return "did not stop"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        return f"was killed by {name}"
    if exitcode == 0:
        return "ended before reporting (exit(0) or os._exit(0) in the student's code)"
    return f"exited with code {exitcode} (os._exit() or a crash)"


class Sandbox:
    """Runs student files, each in its own process; `kill_all` stops whatever still runs."""

    def __init__(self, limits=None):
        self.limits = limits or Limits()
        self.context = start_fork_server(self.limits.contain, self.limits.preload)
        self.running = set()
        self.closed = False
        self.scratch = Path(tempfile.mkdtemp(prefix="grader-runs-"))  # used only without namespaces
        self.reaper = ThreadPoolExecutor(1, thread_name_prefix="reaper")
        # A forkserver process's exit code is 8 bytes on its sentinel, which only one reader may
        # take: Process.start() polls every child of the grader (multiprocessing's _cleanup), from
        # whichever thread starts a file, and a second reader of the same bytes meets EOF and
        # reports exit code 255. So starts and every read of an exit code take turns.
        self.polling = threading.Lock()

    def run(self, folder, relative, probes):
        """Run one file of a student's folder with these probes. Never raises for the student's faults."""
        run = FileRun(str(relative))
        try:
            kind, cells_code, problems = read_cells(Path(folder) / relative)
        except ValueError as error:
            run.failure = str(error)
            return run
        for problem in problems:
            run.note(problem)
        skip_cells, probes_left, cells = set(), dict(probes), None
        found, stalls = {}, 0
        deadline = time.monotonic() + self.limits.timeout  # one budget for all the runs of the file
        for attempt in range(MAX_RUNS):
            if self.closed:
                run.failure = "grading was stopped"
                return run
            if attempt and time.monotonic() >= deadline - 1:
                run.failure = f"not run again: the file used up its {self.limits.timeout:g} s (--grade-timeout)"
                run.note(run.failure)
                break
            job = {"kind": kind, "cells": cells_code, "skip_cells": skip_cells, "probes": probes_left,
                   "limits": self.limits.for_worker(),
                   "argv0": "ipykernel_launcher.py"}
            report, ending = self.run_once(folder, relative, job, run, deadline)
            stalled = ending is not None and ending.startswith(STALLED)
            found.update(report.probes)
            if report.cells is not None and cells is None:
                cells, compiled = report.cells, report.compiled
            if report.done:
                break
            last = report.last
            if last[0] == "cell" and cells is None and attempt + 1 < MAX_RUNS and stalls + stalled <= MAX_STALLS:
                stalls += stalled
                where = f"code cell {last[1] + 1}" if kind == "notebook" else "the script"
                skip_cells.add(last[1])
                run.note(f"{where}: the process {ending}; run again without that cell")
                continue
            if last[0] == "probe":  # it died in a check: that check fails, the others run again
                found[last[1]] = {"error": f"the process {ending} while the grader called the student's code"}
                run.note(f"while the grader called the student's code ({last[1]}): the process {ending}")
                probes_left = {key: spec for key, spec in probes.items() if key not in found}
                if probes_left and cells is not None:
                    continue
                break
            where = f"code cell {last[1] + 1}" if last[0] == "cell" and kind == "notebook" else \
                "the script" if last[0] == "cell" else "before running any cell" if last[0] == "start" else \
                "after its cells ran"
            run.failure = f"{where}: the process {ending}"
            run.note(run.failure)
            break
        if cells is not None:
            for cell in cells:  # what went wrong in the student's cells (a failing check cell is no news)
                if cell["problem"] and not cell["check"]:
                    run.note(f"{cell['where']} {cell['problem']}")
            for key in probes:
                found.setdefault(key, {"error": "not run: the file's process ended before it"})
            run.report = {"cells": cells, "probes": found, "compiled": compiled}
        return run

    def run_once(self, folder, relative, job, run, deadline):
        """One process over the job: (report or None, last event, how it ended)."""
        scratch = Path(tempfile.mkdtemp(dir=self.scratch))  # the copy goes here only without namespaces
        try:
            job["home"] = str(folder)
            job["folder"] = str(Path(relative).parent)  # relative to the home the process gets
            job["scratch"] = str(scratch)
            job["cpu_seconds"] = int(self.limits.timeout) + 5
            job["memory_bytes"] = self.limits.memory_mib * 2**20
            job["contain"] = self.limits.contain
            return self.watch(job, run, deadline)
        except OSError as error:
            return Report(job), f"could not be started ({one_line(error)})"
        finally:
            remove_tree(scratch)

    def watch(self, job, run, deadline):
        global _server_served
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_run_worker, args=(job, writer), daemon=True)
        try:
            with self.polling:
                process.start()
        except (OSError, EOFError, BrokenPipeError):  # the fork server died: start it again, once
            forkserver._forkserver._forkserver_pid = None
            self.context = start_fork_server(self.limits.contain, self.limits.preload)
            process = self.context.Process(target=_run_worker, args=(job, writer), daemon=True)
            with self.polling:
                process.start()
        _server_served = True
        writer.close()
        self.running.add(process)
        report = Report(job)
        step_deadline = math.inf
        last = None
        ending = None
        fd = reader.fileno()
        try:
            while not report.done:
                now = time.monotonic()
                if now >= deadline:
                    ending = f"was stopped: the file used up its {self.limits.timeout:g} s (--grade-timeout)"
                    break
                if now >= step_deadline:
                    ending = f"{STALLED} {self.limits.cell_timeout:g} s limit (--grade-cell-timeout) and was stopped"
                    break
                ready, _, _ = select.select([fd], [], [], min(deadline, step_deadline, now + 1.0) - now)
                if not ready:
                    continue
                data = os.read(fd, 1 << 16)
                if not data:
                    ending = death(self.ended(process, 5))
                    if report.refused:
                        ending = f"could not be contained ({report.refused}); it was not run"
                    break
                try:
                    report.feed(data)
                except ValueError as error:
                    ending = f"was stopped: {error}"
                    break
                if report.last != last:
                    last = report.last
                    # a cell gets its limit plus a grace; a probe, its limit for each call it makes
                    calls = 1 if last[0] != "probe" else max(1, len(job["probes"][last[1]]["cases"])) * 4
                    step_deadline = time.monotonic() + self.limits.cell_timeout * calls + GRACE
        finally:
            self.kill(process, wait=not report.done)  # a finished run is reaped in the background
            reader.close()
            self.running.discard(process)
        if report.garbled:
            run.note(f"{report.garbled} line(s) on the grader's channel were not from the grader and were ignored")
        return report, ending

    def kill(self, process, wait=True):
        """Kill the process and everything it started (its own process group); then wait for it,
        or let the reaper wait, so that the next file can start at once."""
        if process.pid is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # not yet in its own group
                process.kill()
        if wait:
            self.ended(process, 5)
        else:
            self.reaper.submit(self.ended, process, 5)

    def ended(self, process, timeout):
        """The process's exit code once it has ended (None if it still runs after `timeout` s)."""
        connection.wait([process.sentinel], timeout)
        with self.polling:
            return process.exitcode  # reads the sentinel's 8 bytes, once: the returncode is kept

    def kill_all(self):
        self.closed = True
        for process in list(self.running):
            self.kill(process)
        self.reaper.shutdown(wait=True)
        remove_tree(self.scratch)
        if self.limits.contain:
            try:
                contain.sweep()
            except OSError:  # best effort: the next grading run sweeps them too
                pass


SECRET = (ROOT, Path(__file__).resolve().parent)  # never shown, even inside the Python installation


def _run_worker(job, writer):
    """In the forked child: shut it in (contain.py), then run the file (worker.py)."""
    fd = writer.fileno()
    devnull = os.open(os.devnull, os.O_RDWR)
    for standard in (0, 1, 2):  # stdin, stdout, stderr: nothing in, nothing out but the report
        os.dup2(devnull, standard)
    for low, high in ((3, fd), (fd + 1, 1 << 16)):  # no other descriptor of the grader's stays open
        os.closerange(low, high)
    try:
        notes = contain.enter(job["home"], job["scratch"], cpu_seconds=job["cpu_seconds"],
                              max_processes=MAX_PROCESSES, memory_bytes=job["memory_bytes"],
                              namespaces=job["contain"], data=str(DATA_DIR), secret=SECRET, skip=ignored_folder)
    except Exception as error:  # contain.Incomplete, or the kernel changed its mind: never run uncontained
        os.write(fd, ("\n" + json.dumps({"event": "refused", "why": one_line(error)}) + "\n").encode())
        os._exit(70)
    job["folder"] = os.path.join(notes.home, job["folder"])
    job["data_dir"] = notes.data
    job["home"] = notes.home
    from grader import worker
    worker.main(job, fd)
