"""Runs inside one student file's process: the file's code under limits, then the grader's probes.

The grader's fork server imports this module once, with the libraries students use, so a file's
process starts warm (see sandbox.py). Everything here runs in that child process. It decides no
grade and knows no expected value: it runs the student's code, calls the student's functions on
the inputs the grader chose, turns what they return into plain numbers, and writes one JSON line
per event to a pipe. The grader validates those lines and decides (questions.py).
"""
import builtins
import contextlib
import errno
import inspect
import json
import os
import re
import resource
import signal
import socket
import struct
import sys
import types
import warnings

import matplotlib

matplotlib.use("Agg")  # plots are drawn off-screen, as with a non-interactive backend

import matplotlib.pyplot as plt
import numpy as np
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

MAX_VERSIONS = 4       # definitions of one name kept (the first three and the last)
MAX_CANDIDATES = 24    # callables tried as "the network" of exercises 4 and 5
MAX_VALUES = 64        # numbers kept of one returned array
TOP_LEVEL_CHECK = re.compile(r"^check\(", re.MULTILINE)


class CellTimeout(BaseException):
    """Raised inside a cell that runs longer than its limit (BaseException: `except Exception` won't hide it)."""


class OutputLimit(BaseException):
    """Raised inside a cell that prints more than its limit."""


class OutStream:
    """sys.stdout while a cell runs: keeps what the cell prints, up to a size limit."""

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

    def writable(self):
        return True

    def text(self):
        return "".join(self.parts)


def no_input(*_args, **_kwargs):
    raise RuntimeError("input() was called, but a graded notebook gets no keyboard input: "
                       "remove the call or give the value in the code")


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
    shell.ask_exit = lambda: setattr(shell, "exit_now", True)  # exit() in a cell, as a kernel has it
    # IPython 9 wraps each write to stdout and stderr during a cell to keep a copy for its history
    # (even with the history off): a cell printing 70,000 short lines paid it 280,000 times. The
    # cell's output goes to OutStream alone.
    shell._tee = lambda channel: contextlib.nullcontext()
    return shell


# --- turning the student's values into plain data ----------------------------------------

def one_line(text, limit=200):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe_error(error):
    if isinstance(error, NotImplementedError):
        return "raised NotImplementedError: not implemented yet"
    try:
        message = one_line(error)
    except BaseException:  # a student's exception whose str() fails
        message = ""
    return f"raised {type(error).__name__}: {message}" if message else f"raised {type(error).__name__}"


def plain(value):
    """{"v": number} or {"a": [numbers], "shape": [...]} or {"e": why it is not a number}."""
    if value is None:
        return {"e": "returned None"}
    if isinstance(value, (str, bytes)):
        return {"e": f"returned the text {one_line(repr(value), 60)}, not a number"}
    if isinstance(value, (bool, np.bool_)):
        return {"e": f"returned {value!r}, not a number"}
    try:
        array = np.asarray(value)
    except BaseException as error:
        return {"e": f"returned a {type(value).__name__} that is not a number ({describe_error(error)})"}
    if array.dtype.kind == "O":
        try:
            return plain(float(value)) if array.ndim == 0 else plain(np.asarray(array.tolist(), dtype=float))
        except BaseException:
            return {"e": f"returned {type(value).__name__} {one_line(repr(value), 60)}, not a number"}
    if array.dtype.kind == "c":
        return {"e": "returned a complex number, not a real one"}
    if array.dtype.kind in "bUSV":
        return {"e": f"returned {type(value).__name__} {one_line(repr(value), 60)}, not a number"}
    array = array.astype(float)
    if array.size == 1 and array.ndim <= 1:
        return {"v": float(array.reshape(-1)[0])}
    return {"a": [float(x) for x in array.reshape(-1)[:MAX_VALUES]], "shape": list(array.shape)}


def attempt(function, seconds):
    """plain(function()) under a time limit; the student's code may fail in any way."""
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return plain(function())
    except CellTimeout:
        return {"e": f"did not finish within {seconds:g} s (an endless loop?)"}
    except MemoryError:
        return {"e": "ran out of memory (MemoryError)"}
    except BaseException as error:  # SystemExit, KeyboardInterrupt from the student's code too
        return {"e": describe_error(error)}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def attempt_all(calls, seconds, function=None, guess=False):
    """attempt() each call; after one that runs out of time, the rest are not tried.

    `function`: the student's callable behind the calls, remembered if it runs out of time. A
    guess (a probe that tries whatever in the notebook might be the answer) does not call one
    again: an endless loop would otherwise cost the full limit in every probe that finds it."""
    key = callable_key(function) if function is not None else None
    if guess and key in ENDLESS:
        return [{"e": f"not tried: it did not finish within {seconds:g} s in an earlier call"}] * len(calls)
    values, endless = [], False
    for call in calls:
        if endless:
            values.append({"e": "not tried: an earlier call did not finish"})
        else:
            values.append(attempt(call, seconds))
            endless = values[-1].get("e", "").startswith("did not finish")
    if endless and key is not None:
        ENDLESS[key] = function  # kept alive, so that its id is not given to another object
    return values


ENDLESS = {}  # the student's callables that ran out of time in a probe of this file: key -> callable


def callable_key(function):
    """The same function, or the same method of the same object (which may not be hashable).
    type(), not isinstance(): that would read a __class__ the student's code may define."""
    if type(function) is types.MethodType:
        return id(function.__self__), id(function.__func__)
    return id(function)


# --- the probes: the student's functions on the grader's inputs ---------------------------

def make_neuron(Neuron, args):
    """Neuron(*args), built the way the student's class accepts it: the regression flag (a 4th
    argument) may also go by keyword, and a class whose flag is required (the statement's
    skeleton) gets regression=False for three arguments."""
    flag = args[3] if len(args) == 4 else False
    forms = [lambda: Neuron(*args), lambda: Neuron(*args[:3], regression=flag)]
    if len(args) == 3:
        forms.insert(1, lambda: Neuron(*args, False))
    errors = []
    for form in forms:
        try:
            return form()
        except TypeError as error:
            errors.append(error)
    raise errors[0]


def probe_construct(spec, versions, seconds):
    results = []
    for label, Class in versions.get(spec["name"], []):
        values = attempt_all([lambda case=case: getattr(make_neuron(Class, case["args"]), spec["method"])(*case["call"])
                              for case in spec["cases"]], seconds)
        results.append({"label": label, "values": values})
    return results


def probe_network(spec, versions, seconds):
    results = []
    for net_label, Network in versions.get(spec["name"], []):
        for neuron_label, Neuron in versions.get(spec["neuron"], []):
            def run(case, Network=Network, Neuron=Neuron):
                neurons = [make_neuron(Neuron, args) for args in case["neurons"]]
                return Network(*neurons).feedforward(*case["call"])
            values = attempt_all([lambda case=case: run(case) for case in spec["cases"]], seconds)
            results.append({"label": f"{net_label} with {neuron_label}", "values": values})
    return results


def arrays(args):
    return [np.array(arg, dtype=float) if isinstance(arg, list) else arg for arg in args]


def probe_function(spec, versions, seconds):
    results = []
    for label, function in versions.get(spec["name"], []):
        values = attempt_all([lambda case=case: function(*arrays(case["args"])) for case in spec["cases"]], seconds,
                             function)
        results.append({"label": label, "values": values})
    return results


def probe_matching(spec, namespace, seconds):
    """Every callable whose name matches the pattern (say, an MSE function of any name)."""
    pattern = re.compile(spec["pattern"], re.IGNORECASE)
    results = []
    for name, value in list(namespace.items()):
        if name.startswith("_") or not pattern.search(name) or not callable(value) or isinstance(value, type):
            continue
        values = attempt_all([lambda case=case: value(*arrays(case["args"])) for case in spec["cases"]], seconds,
                             value, guess=True)
        results.append({"label": name, "values": values, "own": own_function(value)})
        if len(results) >= MAX_CANDIDATES:
            break
    return results


def own_function(value):
    """A function the student wrote (not one imported from a library)."""
    if not isinstance(value, types.FunctionType):
        return False
    module = sys.modules.get(value.__module__ or "")
    source = getattr(module, "__file__", None) or ""
    return value.__module__ == "__main__" or not ("site-packages" in source or "/lib/python" in source)


def required_positional(function):
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(1 for p in parameters if p.default is p.empty
               and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def probe_predictors(spec, namespace, seconds, seen=()):
    """Whatever in the notebook could be 'the network': objects with feedforward, functions of
    (math, chemistry), or of a table of rows, at the end or after any cell (`seen`: a notebook
    for every exercise reuses its names). Each is called on the grader's grades."""
    rows = spec["cases"]
    results = []
    for name, value in [*seen, *[item for item in namespace.items()
                                  if not any(item[1] is kept for _, kept in seen)]]:
        if name.startswith("_") or isinstance(value, (type, types.ModuleType)):
            continue
        calls = None
        feedforward = getattr(value, "feedforward", None) if not isinstance(value, types.FunctionType) else None
        if callable(feedforward):
            calls, called = [lambda row=row: feedforward(*row) for row in rows], feedforward
        elif own_function(value) and required_positional(value) == 2:
            calls, called = [lambda row=row: value(*row) for row in rows], value
        elif own_function(value) and required_positional(value) == 1:
            calls, called = [lambda: value(np.array(rows, dtype=float))], value
        if calls is None:
            continue
        values = attempt_all(calls, seconds, called, guess=True)
        results.append({"label": name, "values": values})
        if len(results) >= MAX_CANDIDATES:
            break
    return results


def run_probe(spec, namespace, versions, seconds):
    kind = spec["kind"]
    if kind == "construct":
        return probe_construct(spec, versions, seconds)
    if kind == "network":
        return probe_network(spec, versions, seconds)
    if kind == "function":
        return probe_function(spec, versions, seconds)
    if kind == "matching":
        return probe_matching(spec, namespace, seconds)
    if kind == "predictors":
        return probe_predictors(spec, namespace, seconds, versions.get(SEEN_PREDICTORS, []))
    raise ValueError(f"unknown probe kind {kind!r}")


# --- running the file ------------------------------------------------------------------------

def interrupt(_signum, _frame):
    raise CellTimeout()


def run_cell(shell, source, limits):
    """Run one cell; return (what it printed or displayed, what went wrong or None)."""
    output = OutStream(limits["output_bytes"])
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
    problem = None
    if isinstance(error, CellTimeout):
        problem = f"timed out after {limits['cell_timeout']:g} s"
    elif isinstance(error, OutputLimit):
        problem = f"printed more than {limits['output_bytes'] // 1024} KiB"
    elif isinstance(error, MemoryError):
        problem = f"ran out of memory (limit {limits['memory_bytes'] // 2**20} MiB)"
    elif isinstance(error, SystemExit) or shell.exit_now:
        problem = "called exit(); the grader went on with the next cell"
        shell.exit_now = False
    elif error is not None:
        problem = describe_error(error)
    # Forget the failed cell's traceback: its frames may hold a memory hog's data.
    sys.last_type = sys.last_value = sys.last_traceback = shell.last_execution_result = None
    return output.text(), problem


def remember_versions(namespace, names, versions, where):
    """Keep each new definition of a tracked name (one notebook may define Neuron twice)."""
    for name in names:
        value = namespace.get(name)
        if value is None:
            continue
        kept = versions.setdefault(name, [])
        if kept and kept[-1][1] is value:
            continue
        if len(kept) >= MAX_VERSIONS:
            kept.pop()  # keep the first ones and the latest
        kept.append((f"{name} of {where}", value))


SEEN_PREDICTORS = " predictors"  # in `versions`: objects that could be the network, met after any cell


def remember_predictors(namespace, versions, where):
    """Keep what could be the network when a later cell rebinds its name (ex4's `net`, then ex5's)."""
    kept = versions.setdefault(SEEN_PREDICTORS, [])
    for name, value in list(namespace.items()):
        if len(kept) >= MAX_CANDIDATES:
            return
        if name.startswith("_") or isinstance(value, (type, types.ModuleType, types.FunctionType)):
            continue
        try:
            if not callable(getattr(value, "feedforward", None)) or any(value is old for _, old in kept):
                continue
        except BaseException:  # a student's object whose attributes fail
            continue
        kept.append((f"{name} of {where}", value))


class CompiledCode:
    """The code the student's own code hands to exec(), eval() or compile() while the cells run, kept for
    the class report (similarity.py): a classmate's code run from exec(base64.b64decode(...)) is compared
    too. Calls from libraries (IPython compiling each cell, dataclasses, importlib) are not kept."""

    MAX_SIZE = 256 * 1024  # characters kept in all
    MAX_TEXTS = 64

    def __init__(self):
        self.texts, self.size, self.seen, self.originals = [], 0, set(), {}
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        self.libraries = tuple(os.path.join(os.path.realpath(prefix), "") for prefix in prefixes) + \
            tuple(os.path.join(prefix, "") for prefix in prefixes) + ("<frozen ",)

    def install(self):
        for name in ("exec", "eval", "compile"):
            self.originals[name] = getattr(builtins, name)
            setattr(builtins, name, self.wrapped(self.originals[name], scoped=name != "compile"))

    def uninstall(self):
        for name, original in self.originals.items():
            setattr(builtins, name, original)

    def wrapped(self, original, scoped):
        def call(source, *args, **kwargs):
            caller = sys._getframe(1)
            if not caller.f_code.co_filename.startswith(self.libraries):
                self.record(source)
            if scoped and not args:  # exec(code) and eval(code) run in their caller's scope, not in call's
                args = (caller.f_globals, caller.f_locals)
            return original(source, *args, **kwargs)
        call.__name__ = call.__qualname__ = original.__name__
        call.__doc__ = original.__doc__
        return call

    def record(self, source):
        room = self.MAX_SIZE - self.size
        if room <= 0 or len(self.texts) >= self.MAX_TEXTS:
            return
        if isinstance(source, str):
            text = str.__getitem__(source, slice(0, room))  # a plain str, whatever subclass it was
        elif isinstance(source, (bytes, bytearray)):
            text = bytes(source[:room]).decode("utf-8", "replace")
        else:
            return  # a code object or a syntax tree: compiled from a text already kept, if any
        if text.strip() and text not in self.seen:  # a loop that runs one text a thousand times keeps it once
            self.seen.add(text)
            self.texts.append(text)
            self.size += len(text)


class Reporter:
    """One JSON line per event on the pipe the grader reads; never a Python object."""

    def __init__(self, fd):
        self.fd = fd

    def send(self, message):
        data = ("\n" + json.dumps(message) + "\n").encode("utf-8")
        while data:
            written = os.write(self.fd, data)
            data = data[written:]


GRADING_MODULES = ("grader", "pytest", "_pytest", "pluggy", "iniconfig", "xdist", "execnet", "nbval", "__mp_main__")


def grading_modules():
    """The names in sys.modules of the grader's and pytest's modules."""
    return [name for name in sys.modules if name.split(".")[0] in GRADING_MODULES]


# Set by the fork server at its first fork, when it has imported everything: a child that has
# imported nothing since looks up these names instead of walking all of sys.modules, which would
# copy many of the server's memory pages into every child (each name touched is a page written).
SERVER_GRADING_MODULES = None
SERVER_MODULE_COUNT = None


def remember_grading_modules():
    global SERVER_GRADING_MODULES, SERVER_MODULE_COUNT
    if SERVER_GRADING_MODULES is None:
        SERVER_GRADING_MODULES, SERVER_MODULE_COUNT = grading_modules(), len(sys.modules)


PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_grader_path(entry):
    """The project or a folder of it (tests/, which pytest puts on sys.path), but not the Python
    installation, which may be the project's .venv."""
    path = os.path.abspath(entry or ".")
    inside = (path + os.sep).startswith(PROJECT + os.sep) and not (path + os.sep).startswith(sys.prefix + os.sep)
    return inside or "__editable__" in entry


def hide_the_grader(argv0):
    """Leave no trace of the grader that a notebook in JupyterLab would not also see."""
    if SERVER_GRADING_MODULES is not None and len(sys.modules) == SERVER_MODULE_COUNT:
        names = [*SERVER_GRADING_MODULES, *GRADING_MODULES]
    else:  # imported since (multiprocessing runs the parent's main script again, if it is one): all
        names = grading_modules()
    for name in names:
        sys.modules.pop(name, None)
    sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in type(finder).__name__.lower()
                        and "editable" not in getattr(finder, "__name__", "").lower()]
    hidden = [entry for entry in sys.path if is_grader_path(entry)]
    sys.path[:] = [entry for entry in sys.path if entry not in hidden]
    for entry in (*hidden, PROJECT):  # only these: clearing the whole cache would free (touch) hundreds of finders
        sys.path_importer_cache.pop(entry, None)
    sys.argv = [argv0]


def address_space():
    """Bytes of address space this process uses now (/proc/self/statm: its size in pages)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


# Kept from the fork server's environment (sandbox.SERVER_ENVIRONMENT and SERVER_KEEPS): a library
# the notebook loads itself (SciPy's own OpenBLAS, when the server did not import scikit-learn)
# reads them then, and with no limit starts a thread per CPU, past the file's process budget.
MATH_SETTINGS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def kernel_environment(home, data_dir):
    """The environment a JupyterLab kernel of the student's would have, and nothing of the grader's
    shell (its variables may hold the instructor's paths or secrets), but the math libraries'
    settings the server runs with."""
    environment = {"PATH": os.pathsep.join([os.path.join(sys.prefix, "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
                   "HOME": home, "USER": "student", "LOGNAME": "student", "SHELL": "/bin/sh",
                   "LANG": "C.UTF-8", "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
                   "TERM": "xterm-color", "CLICOLOR": "1", "PAGER": "cat", "GIT_PAGER": "cat",
                   "PYDEVD_USE_FRAME_EVAL": "NO", "MPLBACKEND": "Agg"}
    environment.update({name: os.environ[name] for name in MATH_SETTINGS if name in os.environ})
    if data_dir:
        environment["COURSE_DATA_DIR"] = data_dir
    return environment


def forget_the_initial_environment():
    """Wipe the environment the process started with: /proc/self/environ reads it from the
    process's memory, whatever os.environ says now (and posix.environ keeps a copy)."""
    import ctypes
    import posix
    posix.environ.clear()
    with open("/proc/self/stat", "rb") as stat_file:
        fields = stat_file.read().rsplit(b")", 1)[1].split()
    start, end = int(fields[47]), int(fields[48])  # env_start and env_end: fields 50 and 51 of proc(5)
    if 0 < start < end:
        ctypes.memset(start, 0, end - start)


def isolate(folder, limits, data_dir, argv0, home):
    """The file's folder as cwd and import path, no stdin, a memory ceiling, no trace of the grader."""
    os.chdir(folder)
    sys.path.insert(0, folder)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # what C code or a subprocess writes goes nowhere
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdin = open(os.devnull, encoding="utf-8")
    builtins.input = no_input
    environment = kernel_environment(home, data_dir)
    forget_the_initial_environment()
    os.environ.clear()
    os.environ.update(environment)
    hide_the_grader(argv0)
    ceiling = address_space() + limits["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))


def main(job, fd):
    """Run the job's cells (minus those to skip), then its probes; report everything as JSON lines."""
    reporter = Reporter(fd)
    limits = job["limits"]
    isolate(job["folder"], limits, job["data_dir"], job["argv0"], job["home"])
    signal.signal(signal.SIGALRM, interrupt)
    warnings.simplefilter("ignore")  # warnings are not failures, and nobody reads them here
    shell = make_shell()
    namespace = shell.user_ns
    tracked = sorted({name for spec in job["probes"].values() for key in ("name", "neuron")
                      if isinstance(name := spec.get(key), str)})
    versions = {}
    cells = []
    compiled = CompiledCode()
    compiled.install()
    for index, source in enumerate(job["cells"]):
        if index in job["skip_cells"]:
            continue
        reporter.send({"event": "cell", "index": index})
        text, problem = run_cell(shell, source, limits)
        where = f"code cell {index + 1}" if job["kind"] == "notebook" else "the script"
        remember_versions(namespace, tracked, versions, where)
        remember_predictors(namespace, versions, where)
        cells.append({"index": index, "text": text, "problem": problem,
                      "check": bool(TOP_LEVEL_CHECK.search(source))})
    compiled.uninstall()
    reporter.send({"event": "cells", "cells": cells, "compiled": compiled.texts})
    for probe_id, spec in job["probes"].items():
        reporter.send({"event": "probe", "id": probe_id})
        sys.stdout = sys.stderr = OutStream(limits["output_bytes"])  # what the student's code prints is dropped
        try:
            results = run_probe(spec, namespace, versions, limits["cell_timeout"])
        except BaseException as error:  # the probe itself met something odd: the question says so
            results = {"error": describe_error(error)}
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        reporter.send({"event": "probed", "id": probe_id, "results": results})
    reporter.send({"event": "done"})
    os._exit(0)  # skip interpreter teardown: nothing of the student's runs after this


def warm_up(shell):
    """Do once in the fork server what every child would otherwise do for itself: IPython's first
    cell, and matplotlib's first figure (fonts found and loaded, text laid out)."""
    run_cell(shell, "pass", {"output_bytes": 1024, "cell_timeout": 10, "memory_bytes": 0})
    figure, (left, right) = plt.subplots(1, 2, figsize=(6, 3))
    left.plot([0, 1], [0, 1], label=r"$\sigma(z)$")
    left.scatter([0], [1], color="tab:red", zorder=3, label="points")
    left.bar(["a", "b"], [1, 2], alpha=0.7, label="bars")
    left.axhline(0.5, color="gray", ls="--")
    left.set(xlabel="x", ylabel="y", title="title", ylim=(0, 1))
    left.legend(loc="upper left", fontsize=8)
    right.hist([1, 2, 2, 3])
    figure.canvas.draw()
    plt.close("all")


class GraderOnly:
    """multiprocessing's reduction module as the fork server uses it, except that a request is
    taken only from the grader's process (the server's parent). The server's child un-pickles
    what it is sent before anything is contained: a notebook that reached the socket (another
    grading run's, say) would run code outside. The peer's PID comes from the kernel."""

    def __init__(self, reduction, grader_pid):
        self.reduction, self.grader_pid = reduction, grader_pid

    def recvfds(self, sock, size):
        credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid = struct.unpack("3i", credentials)[0]
        if pid != self.grader_pid:  # the server's loop drops the connection and goes on
            raise ConnectionAbortedError(errno.ECONNABORTED, f"fork request from process {pid}, not the grader")
        return self.reduction.recvfds(sock, size)

    def __getattr__(self, name):
        return getattr(self.reduction, name)


class ContainedForks:
    """The os module as multiprocessing's fork server sees it, but its fork is contain.fork."""

    def __init__(self, fork):
        self.fork = fork

    def __getattr__(self, name):
        return getattr(os, name)


if os.environ.get("GRADER_FORK_SERVER") == "1":  # set by sandbox.start_fork_server
    warm_up(make_shell())
    from multiprocessing import forkserver
    forkserver.reduction = GraderOnly(forkserver.reduction, os.getppid())
    if os.environ.get("GRADER_CONTAINED_FORKS") == "1":
        from grader import contain
        forkserver.os = ContainedForks(contain.fork)
    import multiprocessing.popen_forkserver  # noqa: F401  (each child imports it, else: here once)
    os.register_at_fork(before=remember_grading_modules)
    import gc
    gc.collect()
    gc.freeze()  # the server's objects stay out of the children's collections: fewer copied pages
    try:  # give freed heap back to the system: a smaller process forks faster
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
