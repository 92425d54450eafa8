"""grader/contain.py: each promise checked in a real forked child, by a notebook that tries to break it.

Every test forks (as the grader's fork server does), calls `contain.enter` in the child, and runs a
hostile probe there; the probe reports over a pipe opened before `enter`. As root every test runs
twice for its own user: forked with os.fork (`enter` makes a waiter and PID 1), and forked with
contain.fork, as the grader's fork server does as root (the child is PID 1 of a new namespace). With CONTAIN_TEST_OFF=1
the child only calls os.setsid() (today's isolation) instead of `enter`: every test but the
fallback's must then fail, which shows that each one can (forked as PID 1, those whose promise the
new PID namespace keeps by itself still pass: a grandchild dies with PID 1, nothing outside is seen). With CONTAIN_TEST_CPU_OFF=1 `enter` runs
without the CPU share (cpus=None): the test of the busy neighbour must then fail.
The tests marked "nobody" do the same as an ordinary user (they need root to switch to it).
"""
import encodings.idna  # noqa: F401  (socket needs it; the "nobody" child cannot import from /root)
import errno
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import ROOT
from grader import contain

CONTAIN = os.environ.get("CONTAIN_TEST_OFF") != "1"
CPU_SHARE = os.environ.get("CONTAIN_TEST_CPU_OFF") != "1"
NOBODY = 65534
REFUSED = (errno.EROFS, errno.EACCES, errno.EPERM)


def _become(uid):
    if uid is not None and uid != os.geteuid():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        contain._libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: as a process started by that user


class Run:
    """A forked child that enters containment and runs `body(send)`; what it sent, how it ended."""

    fork = staticmethod(os.fork)  # or contain.fork: set by the `uid` fixture

    def __init__(self, body, workdir, uid=None, **options):
        options.setdefault("cpu_seconds", 20)
        options.setdefault("max_processes", 30)
        options.setdefault("data", str(ROOT / "data"))
        if not CPU_SHARE:
            options["cpus"] = None
        self.messages, self.status = [], None
        self.scratch = _made_for(uid, "/tmp")  # the copy goes here only without namespaces
        reader, writer = os.pipe()
        self.pid = Run.fork()
        if self.pid == 0:  # never returns into pytest
            try:
                os.close(reader)
                _become(uid)
                if CONTAIN:
                    notes = contain.enter(workdir, self.scratch, **options)
                else:
                    os.setsid()
                    os.chdir(workdir)  # what it writes lands there, not in the project
                    notes = contain.Notes(["switched off by CONTAIN_TEST_OFF=1"])
                send = lambda message: os.write(writer, (json.dumps(message) + "\n").encode())
                send({"notes": notes.missing, "applied": notes.applied, "home": notes.home})
                body(send)
            except BaseException as error:
                os.write(writer, (json.dumps({"error": repr(error)}) + "\n").encode())
            finally:
                os._exit(0)
        os.close(writer)
        self.reader = reader
        self.buffer = b""

    def receive(self, timeout=30):
        """The next message, or None at EOF. Fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.reader], [], [], left)[0]:
                self.kill()
                pytest.fail(f"no message from the contained child within {timeout} s")
            chunk = os.read(self.reader, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        message = json.loads(line)
        assert "error" not in message, message["error"]
        self.messages.append(message)
        return message

    def finish(self, timeout=30):
        """Every message until EOF, then the child's wait status."""
        while self.receive(timeout) is not None:
            pass
        os.close(self.reader)
        self.wait(timeout)
        return self.messages

    def wait(self, timeout=30):
        """Wait for the child (the waiter, when contained) to exit; keep its status."""
        deadline = time.monotonic() + timeout
        while self.status is None and time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                shutil.rmtree(self.scratch, ignore_errors=True)
                return
            time.sleep(0.02)
        if self.status is None:
            self.kill()
            pytest.fail("the contained child did not exit")

    def kill(self):
        for kill in (os.killpg, os.kill):
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def merged(self):
        result = {}
        for message in self.messages:
            result.update(message)
        return result


def _made_for(uid, parent):
    folder = tempfile.mkdtemp(prefix="contain-", dir=parent)
    os.chmod(folder, 0o755)
    if uid is not None and uid != os.geteuid():
        os.chown(folder, uid, uid)
    return folder


@pytest.fixture(params=["own user", "own user, as PID 1", "nobody"])
def uid(request, monkeypatch):
    if request.param == "nobody":
        if os.geteuid() != 0:
            pytest.skip("switching to nobody needs root")
        return NOBODY
    if request.param == "own user, as PID 1":
        if os.geteuid() != 0:
            pytest.skip("contain.fork makes PID namespaces as root only")
        monkeypatch.setattr(Run, "fork", staticmethod(contain.fork))
    return None


def as_pid_1(request):
    return "as PID 1" in request.node.callspec.params.get("uid", "")


@pytest.fixture
def workdir(uid):
    folder = _made_for(uid, "/tmp")  # under /tmp, as the grader's private copy will be
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def outside(uid):
    """Files a hostile notebook wants to change: a gradebook, the grader, the data, another student."""
    folder = _made_for(uid, "/var/tmp")  # not under /tmp: the contained /tmp is private anyway
    files = {"grades.csv": "student,total\nAda,8/8\n",
             "questions.py": (ROOT / "grader" / "questions.py").read_text(encoding="utf-8"),
             "data/exam_success.csv": (ROOT / "data" / "exam_success.csv").read_text(encoding="utf-8"),
             "next student/ex01_neuron.ipynb": "{}"}
    for name, text in files.items():
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    for base, folders, names in os.walk(folder):
        for name in folders + names:
            os.chmod(os.path.join(base, name), 0o755)
            os.chown(os.path.join(base, name), os.stat(folder).st_uid, os.stat(folder).st_gid)
    yield folder, files
    shutil.rmtree(folder, ignore_errors=True)


def attempt(action):
    """'done', or the errno name an OSError gave."""
    try:
        action()
        return "done"
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))


@pytest.fixture(scope="session")
def probe():
    return contain.probe()


@pytest.fixture(autouse=True)
def namespaces_here(request, probe):
    """Skip, saying why, where the kernel refuses namespaces (the fallback's tests still run).

    A missing CPU share alone (no writable cpu cgroup, e.g. as an ordinary user) skips nothing:
    the test of the CPU share says so itself."""
    missing = [line for line in probe.missing if not line.startswith(("CPU share", "memory budget"))]
    if "fallback" not in request.node.name and missing and CONTAIN:
        pytest.skip(f"containment is not fully available here: {probe}")


def test_full_containment_is_available_here(probe):
    """As root, everything; as an ordinary user, everything but the budgets that need a cgroup
    delegated to the user (CPU share, memory), which the header then names."""
    delegated = ("CPU share", "memory budget")
    missing = [line for line in probe.missing if os.geteuid() == 0 or not line.startswith(delegated)]
    assert missing == [], str(probe)


def test_writes_only_in_its_home_and_private_tmp(workdir, outside, uid):
    """What is outside the declared root is not there at all; what it writes lands in its own
    copies, and the student's folder it was copied from is never written."""
    folder, files = outside
    unique = os.path.basename(workdir)
    with open(os.path.join(workdir, "ex01.ipynb"), "w", encoding="utf-8") as handle:
        handle.write("{}")

    def hostile(send):
        def append(path, text):
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text)
        send({"questions": attempt(lambda: append(os.path.join(folder, "questions.py"), "\nQUESTIONS.clear()\n")),
              "data": attempt(lambda: append(os.path.join(folder, "data", "exam_success.csv"), "9,9,1\n")),
              "grades": attempt(lambda: append(os.path.join(folder, "grades.csv"), "Mallory,8/8\n")),
              "delete": attempt(lambda: os.remove(os.path.join(folder, "next student", "ex01_neuron.ipynb"))),
              "create": attempt(lambda: append(os.path.join(folder, "new.txt"), "x")),
              "course data": attempt(lambda: append("/course/data/exam_success.csv", "9,9,1\n")),
              "write home": attempt(lambda: append("answer.txt", "42")),
              "own file": attempt(lambda: append("ex01.ipynb", "vandalised")),
              "tmp": attempt(lambda: append(os.path.join(os.environ["TMPDIR"], f"{unique}-private.txt"), "x")),
              "tempfile": attempt(lambda: tempfile.NamedTemporaryFile(delete=False).close()),
              # opened for writing and closed, never written: as root, its own /proc/sys is the host's
              "core_pattern": attempt(lambda: os.close(os.open("/proc/sys/kernel/core_pattern", os.O_WRONLY))),
              "read": attempt(lambda: open(os.path.join(folder, "data", "exam_success.csv"), encoding="utf-8").read()),
              "read course data": len(open("/course/data/exam_success.csv", encoding="utf-8").read()),
              "home holds": sorted(os.listdir(".")), "cwd": os.getcwd()})

    run = Run(hostile, workdir, uid)
    result = run.finish() and run.merged()
    for probe in ("questions", "data", "grades", "delete", "create", "read"):
        assert result[probe] == "ENOENT", (probe, result[probe])  # not there at all
    for probe in ("course data", "core_pattern"):
        assert result[probe] in {errno.errorcode[code] for code in REFUSED}, (probe, result[probe])
    for name, text in files.items():  # nothing changed, nothing added
        assert open(os.path.join(folder, name), encoding="utf-8").read() == text
    assert not os.path.exists(os.path.join(folder, "new.txt"))
    assert result["cwd"] == result["home"] == "/home/student" and result["home holds"] == ["answer.txt", "ex01.ipynb"], result
    assert result["write home"] == "done" and result["own file"] == "done" and result["tmp"] == "done" and result["tempfile"] == "done"
    assert sorted(os.listdir(workdir)) == ["ex01.ipynb"], "the student's folder was written"
    assert open(os.path.join(workdir, "ex01.ipynb"), encoding="utf-8").read() == "{}"
    assert not os.path.exists(f"/tmp/{unique}-private.txt")  # that temp folder was the notebook's own
    assert result["read course data"] == len((ROOT / "data" / "exam_success.csv").read_text(encoding="utf-8"))


def test_outside_processes_are_invisible_and_cannot_be_signalled(workdir, uid):
    victim = subprocess.Popen(["sleep", "60"], user=uid, group=uid)  # another notebook's process, same user
    try:
        def hostile(send):
            pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
            send({"pids": pids, "kill": attempt(lambda: os.kill(victim.pid, signal.SIGKILL))})
            if os.getpid() <= 2 and uid == NOBODY:  # surely in a PID namespace of its own
                send({"kill all": attempt(lambda: os.kill(-1, signal.SIGKILL))})

        run = Run(hostile, workdir, uid)
        result = run.finish() and run.merged()
        time.sleep(0.1)
        assert victim.poll() is None, "the contained process killed a process outside"
        assert result["kill"] in ("ESRCH", "EPERM")
        assert victim.pid not in result["pids"] and os.getpid() not in result["pids"]
        assert len(result["pids"]) <= 3, result["pids"]  # the reaper, itself, `ls`-like helpers at most
    finally:
        victim.kill()
        victim.wait()


def test_no_ptrace_of_pid_1_or_anything_else(workdir, uid):
    victim = subprocess.Popen(["sleep", "60"], user=uid, group=uid)
    try:
        def hostile(send):
            target = 1 if os.getpid() == 2 else victim.pid  # PID 1 of its own namespace, else a neighbour
            result = contain._libc.syscall(101, 0x4206, target, 0, 0)  # ptrace(PTRACE_SEIZE): no stop
            send({"target": target, "seize": "done" if result == 0 else errno.errorcode[contain.ctypes.get_errno()]})

        run = Run(hostile, workdir, uid)
        result = run.finish() and run.merged()
        assert result["seize"] in ("EPERM", "ESRCH"), result
    finally:
        victim.kill()
        victim.wait()


def _detached_grandchild(lifeline_w, busy):
    """Double fork and setsid: the grandchild keeps `lifeline_w` open and a core busy (or sleeps)."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            deadline = time.monotonic() + 8  # short: without containment it lingers
            while time.monotonic() < deadline:
                if not busy:
                    time.sleep(0.1)
            os._exit(0)
        os._exit(0)
    os.wait()


def _lifeline_closes(lifeline_r, within):
    """True if every holder of the pipe's write end is gone within `within` seconds."""
    ready = select.select([lifeline_r], [], [], within)[0]
    return bool(ready) and os.read(lifeline_r, 1) == b""


def test_a_detached_grandchild_dies_with_the_notebook(workdir, uid):
    lifeline_r, lifeline_w = os.pipe()

    def hostile(send):
        os.close(lifeline_r)
        _detached_grandchild(lifeline_w, busy=True)
        send({"started": True})

    run = Run(hostile, workdir, uid)
    os.close(lifeline_w)
    run.receive()  # the notes
    assert run.receive() == {"started": True}
    run.wait()  # not finish(): the grandchild holds the report pipe too
    try:
        assert os.WIFEXITED(run.status) and os.WEXITSTATUS(run.status) == 0
        assert _lifeline_closes(lifeline_r, within=5), "a grandchild outlived the notebook's process"
    finally:
        os.close(lifeline_r)
        os.close(run.reader)


@pytest.mark.parametrize("how", ["waiter only", "process group"])
def test_one_sigkill_from_outside_ends_everything(workdir, uid, how):
    lifeline_r, lifeline_w = os.pipe()

    def hostile(send):
        os.close(lifeline_r)
        _detached_grandchild(lifeline_w, busy=False)
        contain._libc.prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG 0: no help from its parent's death
        # PID 1 reads a pipe that only the waiter writes to; holding it open would keep PID 1 alive
        send({"started": True, "hold PID 1's pipe": attempt(lambda: os.open("/proc/1/fd/0", os.O_WRONLY))
              if os.getpid() == 2 else "not contained"})
        time.sleep(60)

    run = Run(hostile, workdir, uid)
    os.close(lifeline_w)
    while "started" not in run.merged():
        run.receive()
    (os.kill if how == "waiter only" else os.killpg)(run.pid, signal.SIGKILL)
    try:
        assert _lifeline_closes(lifeline_r, within=5), "something the notebook started survived SIGKILL"
        run.finish()
        assert os.WIFSIGNALED(run.status) and os.WTERMSIG(run.status) == signal.SIGKILL
    finally:
        os.close(lifeline_r)


def test_no_network(workdir, uid):
    listener = socket.create_server(("127.0.0.1", 0))  # a port of the grader's
    port = listener.getsockname()[1]
    try:
        def hostile(send):
            def connect():
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            send({"tcp": attempt(connect), "interfaces": [name for _, name in socket.if_nameindex()]})

        run = Run(hostile, workdir, uid)
        result = run.finish() and run.merged()
        assert result["tcp"] != "done", "the contained process reached the grader's port"
        assert result["interfaces"] == ["lo"]
    finally:
        listener.close()


def test_abstract_socket_of_the_test_is_unreachable(workdir, uid):
    name = f"\0contain-test-abstract-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX)
    server.bind(name)
    server.listen()
    try:
        def hostile(send):
            def connect():
                socket.socket(socket.AF_UNIX).connect(name)
            send({"abstract": attempt(connect)})

        run = Run(hostile, workdir, uid)
        assert run.finish() and run.merged()["abstract"] != "done"
    finally:
        server.close()


def test_a_fork_loop_is_bounded(workdir, uid):
    budget = 8

    def hostile(send):
        started = 0
        for _ in range(40):
            try:
                child = os.fork()
            except OSError:
                break
            if child == 0:
                os.setsid()  # "50 children in their own sessions"
                time.sleep(3)
                os._exit(0)
            started += 1
        send({"started": started})

    run = Run(hostile, workdir, uid, max_processes=budget)
    result = run.finish() and run.merged()
    assert result["started"] == budget - 1, result  # the notebook's own process counts too


def test_cpu_time_is_bounded(workdir, uid):
    def hostile(send):  # 6 s of CPU, however busy the machine is (but 60 s of wall time at most)
        started = time.monotonic()
        while time.process_time() < 6 and time.monotonic() - started < 60:
            pass
        send({"finished": True})

    run = Run(hostile, workdir, uid, cpu_seconds=1)
    result = run.finish() and run.merged()
    assert "finished" not in result, "6 s of CPU with a budget of 1 s"
    assert os.WIFSIGNALED(run.status) and os.WTERMSIG(run.status) in (signal.SIGXCPU, signal.SIGKILL)


def _busy_for(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass


def _neighbour(send):
    """Another student's cell: a fixed amount of pure-Python work, about a quarter of a second alone."""
    started = time.perf_counter()
    total = 0
    for number in range(6_000_000):
        total += number * number
    send({"seconds": time.perf_counter() - started})


def test_busy_children_leave_the_other_notebooks_their_cpu(workdir, uid):
    """Issue 9: "50 children in their own sessions made another student's 1.5 s cell hit the 10 s
    limit". RLIMIT_CPU counts each process alone; the cpu cgroup caps all of them at one CPU.
    The neighbour's work is timed alone before and after, so that the load of whoever else uses
    the machine counts on both sides: with the cap it took 1.2-1.9x as long, without it 6-14x."""
    def hog(send):
        for _ in range(20):
            if os.fork() == 0:
                os.setsid()
                _busy_for(10)  # wall time: ends even uncontained; killed with the notebook when contained
                os._exit(0)
        send({"started": True})
        _busy_for(10)

    def neighbour_alone():
        alone = Run(_neighbour, workdir, uid)
        return alone.finish() and alone.merged()["seconds"]

    seconds_alone = neighbour_alone()
    busy = Run(hog, workdir, uid)
    try:
        notes = busy.receive()["notes"]
        if any(line.startswith("CPU share") for line in notes):  # as nobody here: not writable
            pytest.skip(f"no CPU share for this user here, as its note says: {notes}")
        assert busy.receive() == {"started": True}
        time.sleep(0.3)  # every child running
        beside = Run(_neighbour, workdir, uid)
        seconds_beside = beside.finish() and beside.merged()["seconds"]
    finally:  # EOF once every process of the hog is gone (at once when contained, else after 10 s)
        busy.kill()
        busy.finish(timeout=20)
    # The killed waiter could not remove its cgroup: the next `enter` sweeps it, once it is empty
    # (throttled, the children may need one more CFS period to run their exit).
    left = [os.path.join(base, contain.CGROUP_FOLDER, str(busy.pid))
            for _, base, controllers in contain._cgroup_hierarchies() if "cpu" in controllers]
    deadline = time.monotonic() + 5
    while any(_members(path) for path in left) and time.monotonic() < deadline:
        time.sleep(0.05)
    seconds_alone = max(seconds_alone, neighbour_alone())
    assert seconds_beside < 3 * seconds_alone, (
        f"the neighbour's work took {seconds_beside:.2f} s beside 20 busy children, {seconds_alone:.2f} s alone")
    assert not any(os.path.exists(path) for path in left), "the killed waiter's cpu cgroup was not swept"


def _members(cgroup):
    try:
        with open(os.path.join(cgroup, "cgroup.procs"), encoding="ascii") as procs:
            return procs.read().split()
    except OSError:  # never made, or removed
        return []


@pytest.mark.parametrize("ending, expected", [("exit 3", ("exit", 3)), ("SIGKILL itself", ("signal", 9)),
                                              ("SIGTERM itself", ("signal", 15))])
def test_the_waiter_ends_as_the_notebook_ended(workdir, uid, ending, expected, request):
    if as_pid_1(request) and "itself" in ending:
        expected = ("exit", 0)  # PID 1 ignores a signal it sends itself: it goes on, then exits 0

    def hostile(send):
        send({"ending": ending})
        if ending == "exit 3":
            os._exit(3)
        os.kill(os.getpid(), signal.SIGKILL if "KILL" in ending else signal.SIGTERM)
        time.sleep(0.5)  # a signal sent to itself arrives before kill() returns: this is a margin only

    run = Run(hostile, workdir, uid)
    run.finish()
    got = ("exit", os.WEXITSTATUS(run.status)) if os.WIFEXITED(run.status) else ("signal", os.WTERMSIG(run.status))
    assert got == expected


def test_the_report_pipe_opened_before_keeps_working(workdir, uid):
    payload = "x" * 2**20

    def hostile(send):
        send({"payload": payload, "capabilities": [line for line in open("/proc/self/status") if line.startswith(
            ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"))]})

    run = Run(hostile, workdir, uid)
    result = run.finish() and run.merged()
    assert result["payload"] == payload
    if CONTAIN:
        assert result["capabilities"] == [f"{name}:\t0000000000000000\n" for name in
                                          ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")] + ["NoNewPrivs:\t1\n"]


@pytest.mark.parametrize("switch", ["parameter", "environment"])
def test_the_fallback_says_what_is_missing_and_applies_the_rest(workdir, outside, uid, switch, monkeypatch,
                                                               request):
    if as_pid_1(request):
        pytest.skip("the grader forks with contain.fork only when it contains: never before the fallback")
    folder, files = outside
    victim = subprocess.Popen(["sleep", "60"], user=uid, group=uid)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if switch == "environment":
        monkeypatch.setenv("GRADER_CONTAIN", "fallback")
    options = {"namespaces": False} if switch == "parameter" else {}
    try:
        def probe(send):
            send({"pid": os.getpid(), "session leader": os.getsid(0) == os.getpid(),
                  "cpu": resource.getrlimit(resource.RLIMIT_CPU),
                  "grades": attempt(lambda: open(os.path.join(folder, "grades.csv"), "a").close()),
                  "home": attempt(lambda: open("answer.txt", "w").close()),
                  "read outside": attempt(lambda: open(os.path.join(folder, "grades.csv")).read()),
                  "read project": attempt(lambda: open(ROOT / "grader" / "reference.py").read()),
                  "read course data": attempt(lambda: open(os.path.join(os.environ["COURSE_DATA_DIR"] if False else
                                                                         str(ROOT / "data"), "exam_success.csv")).read()),
                  "tempfile": attempt(lambda: tempfile.NamedTemporaryFile().close()),
                  "tcp": attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close()),
                  "kill": attempt(lambda: os.kill(victim.pid, signal.SIGTERM))})

        run = Run(probe, workdir, uid, cpu_seconds=7, **options)
        result = run.finish() and run.merged()
        assert any("namespaces switched off" in line for line in result["notes"]), result["notes"]
        assert result["pid"] > 2 and result["session leader"]
        assert result["cpu"] == [7, 8]
        assert result["home"] == "done" and result["tempfile"] == "done"
        assert not os.path.exists(os.path.join(workdir, "answer.txt")), "the student's own folder was written"
        landlock = next((line for line in result["applied"] if line.startswith("Landlock ABI")), None)
        if landlock is None:
            pytest.skip("no Landlock on this kernel: only the session and the rlimits apply")
        assert result["grades"] in ("EACCES", "EPERM", "EROFS")
        assert result["read outside"] == result["read project"] == "EACCES", result  # reads: an allow-list too
        assert result["read course data"] == "done", result
        abi = int(landlock.split()[2].rstrip(":"))
        if abi >= 4:
            assert result["tcp"] != "done"
        if abi >= 6:
            assert result["kill"] != "done" and victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
        listener.close()


def test_budgets_are_set(workdir, uid):
    def probe(send):
        send({"cpu": resource.getrlimit(resource.RLIMIT_CPU)})

    run = Run(probe, workdir, uid, cpu_seconds=2.5, memory_bytes=3 * 2**30)
    result = run.finish() and run.merged()
    assert result["cpu"] == [3, 4]
    assert "memory cgroup, 3072 MiB for everything it starts" in result["applied"] or any(
        line.startswith("memory budget: no writable memory cgroup") for line in result["notes"]), result


def _hold_memory(megabytes, holding, release):
    """Take `megabytes` and touch every page (resident, not only reserved), say so on `holding`,
    and keep it until `release` is closed."""
    block = bytearray(megabytes * 2**20)
    for index in range(0, len(block), 4096):
        block[index] = 1
    os.write(holding, b"+")
    os.read(release, 1)
    return block


def test_memory_is_one_budget_for_all_the_processes_of_a_file(workdir, uid):
    """Issue 16: "three children held 4.8 GiB under a 2 GiB limit". Three processes of 120 MiB
    each under a budget of 256 MiB: not all three can hold theirs. They hold it until all three
    do (a budget that does not hold) or one of them is killed (one that does)."""
    def hostile(send):
        holding_r, holding_w = os.pipe()
        release_r, release_w = os.pipe()
        children = []
        for _ in range(3):
            child = os.fork()
            if child == 0:
                os.close(holding_r)
                os.close(release_w)
                _hold_memory(120, holding_w, release_r)
                os._exit(0)
            children.append(child)
        os.close(holding_w)
        os.close(release_r)
        holding, ended = 0, {}
        deadline = time.monotonic() + 30
        while holding < 3 and not ended and time.monotonic() < deadline:
            if select.select([holding_r], [], [], 0.02)[0]:
                holding += len(os.read(holding_r, 3))
            for child in children:
                pid, status = os.waitpid(child, os.WNOHANG)
                if pid:
                    ended[child] = status
        os.close(release_w)  # all let go
        endings = [ended[child] if child in ended else os.waitpid(child, 0)[1] for child in children]
        send({"killed": sum(os.WIFSIGNALED(status) for status in endings), "held at once": holding})

    run = Run(hostile, workdir, uid, memory_bytes=256 * 2**20)
    notes = run.receive()
    if any(line.startswith("memory budget") for line in notes["notes"]):
        run.kill()
        run.finish()
        pytest.skip(f"no memory cgroup for this user here, as its note says: {notes['notes']}")
    result = run.finish() and run.merged()
    # the out-of-memory killer may take the children or the notebook's process itself
    assert result.get("killed", 1) >= 1 or os.WIFSIGNALED(run.status), result


def test_disk_is_capped_per_file(workdir, uid):
    """Issue 16: a notebook filled TMPDIR and the next student's files "could not be started".
    Its home and its /tmp are memory of a fixed size: full, they fail its own writes only."""
    free_before = shutil.disk_usage("/tmp").free

    def hostile(send):
        def fill(path):
            with open(path, "wb") as handle:
                for _ in range(64):
                    handle.write(b"x" * 2**20)
                    handle.flush()
        send({"home": attempt(lambda: fill("big")), "tmp": attempt(lambda: fill("/tmp/big"))})

    run = Run(hostile, workdir, uid, home_bytes=16 * 2**20, tmp_bytes=16 * 2**20)
    result = run.finish() and run.merged()
    assert result["home"] == result["tmp"] == "ENOSPC", result
    assert shutil.disk_usage("/tmp").free > free_before - 8 * 2**20  # nothing of it reached the disk


def test_a_process_with_threads_falls_back_and_says_why(workdir, uid, request):
    import threading

    def probe(send):
        send({"pid": os.getpid()})

    started = threading.Event()
    original = contain.enter

    def enter_with_a_thread(*args, **kwargs):  # runs in the forked child: a thread, then enter
        threading.Thread(target=lambda: (started.set(), time.sleep(30)), daemon=True).start()
        started.wait()
        return original(*args, **kwargs)

    contain.enter = enter_with_a_thread
    try:
        run = Run(probe, workdir, uid)
    finally:
        contain.enter = original
    result = run.finish() and run.merged()
    assert any("threads; unshare needs exactly one" in line for line in result["notes"]), result["notes"]
    assert result["pid"] > 2 or as_pid_1(request)  # forked as PID 1, it stays PID 1 of that namespace


def test_a_refusal_after_unshare_raises_incomplete(workdir, uid):
    def refuse(*_args):
        raise contain.Refused("mount tmpfs on /tmp: EPERM (Operation not permitted)")

    original = contain.rootfs.build
    contain.rootfs.build = refuse
    try:
        run = Run(lambda send: None, workdir, uid)
    finally:
        contain.rootfs.build = original
    message = json.loads(os.read(run.reader, 65536).splitlines()[0])
    run.wait()
    assert "Incomplete" in message.get("error", "") and "half done" in message["error"], message


def test_a_missing_workdir_is_an_error_before_anything_changes(tmp_path):
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        contain.enter(tmp_path / "no such folder", tmp_path)


def test_only_harmless_devices_are_left(workdir, uid):
    """Issue 9, red team: a read-only mount does not stop writes to a device node, and root owns
    the disks and /dev/kmsg. The notebook's /dev has null, zero, full, random, urandom and tty."""
    def hostile(send):
        with open("/dev/null", "w") as null:
            null.write("fine")
        send({"dev": sorted(os.listdir("/dev")), "kmsg": attempt(lambda: os.open("/dev/kmsg", os.O_WRONLY)),
              "urandom": len(open("/dev/urandom", "rb").read(8)), "fd": os.path.isdir("/dev/fd"),
              "shm": attempt(lambda: open("/dev/shm/x", "w").close()),
              "new node": attempt(lambda: open("/dev/sda", "w").close())})

    run = Run(hostile, workdir, uid)
    result = run.finish() and run.merged()
    assert set(result["dev"]) <= {"null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout",
                                  "stderr", "shm"}, result["dev"]
    assert result["kmsg"] == "ENOENT" and result["urandom"] == 8 and result["fd"], result
    assert result["shm"] == "done" and result["new node"] in ("EROFS", "EACCES", "EPERM"), result


def test_the_root_holds_only_what_is_declared(uid, workdir):
    """Issue 16: the sandbox is an allow-list. Nothing of the project (solutions, grader, tests,
    .git), no class, no earlier run, no /home or /root, no host /tmp or /run, and no Unix socket of
    the host is there; a folder declared secret inside the Python installation is empty."""
    listening = _made_for(uid, "/var/tmp")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(os.path.join(listening, "tmux-0"))
    os.chmod(os.path.join(listening, "tmux-0"), 0o777)
    listener.listen()
    secret_inside_python = os.path.join(os.path.realpath(contain.rootfs.python_folders()[-1]), "lib")
    try:
        def hostile(send):
            def listing(path):
                try:
                    return sorted(os.listdir(path))
                except OSError as error:
                    return errno.errorcode[error.errno]
            send({"top": listing("/"), "project": listing(str(ROOT)), "home": listing("/home"),
                  "etc": listing("/etc"), "tmp": listing("/tmp"), "run": listing("/run"),
                  "var": listing("/var"), "secret": listing(secret_inside_python),
                  "socket": attempt(lambda: socket.socket(socket.AF_UNIX).connect(os.path.join(listening, "tmux-0"))),
                  "solution": attempt(lambda: open(ROOT / "ex01_neuron.ipynb").read()),
                  "reference": attempt(lambda: open(ROOT / "grader" / "reference.py").read()),
                  "mounts": open("/proc/self/mountinfo").read().count("\n"),
                  "chroot": attempt(lambda: os.chroot("/tmp")), "up": listing("/../../.."),
                  "pid 1's root": listing("/proc/1/root/") if os.getpid() != 1 else "itself"})

        run = Run(hostile, workdir, uid, secret=[secret_inside_python])
        result = run.finish() and run.merged()
        software = {path.strip("/").split("/")[0] for path in contain.rootfs.python_folders()}
        assert set(result["top"]) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc",
                                      "tmp", "home", "course"} | software, result["top"]
        assert result["project"] in ([".venv"], [], "ENOENT"), result["project"]  # at most its Python environment
        assert result["solution"] == result["reference"] == "ENOENT" and result["socket"] == "ENOENT", result
        python_homes = {path.split("/")[2] for path in contain.rootfs.python_folders() if path.startswith("/home/")}
        python_tmp = {path.split("/")[2] for path in contain.rootfs.python_folders() if path.startswith("/tmp/")}
        assert result["home"] == sorted({"student"} | python_homes) and result["tmp"] == sorted(python_tmp) and result["run"] == result["var"] == "ENOENT"
        assert result["etc"] == sorted(["passwd", "group", "hosts", "hostname", "ld.so.cache", "localtime"][
            :4 + os.path.exists("/etc/ld.so.cache") + os.path.islink("/etc/localtime")]), result["etc"]
        assert result["secret"] == [], result["secret"]
        assert result["mounts"] < 40, result["mounts"]
        assert result["chroot"] == "EPERM" and result["up"] == result["top"], result  # no way out
        assert result["pid 1's root"] in ("itself", "EACCES", "EPERM", result["top"]), result["pid 1's root"]
    finally:
        listener.close()
        shutil.rmtree(listening, ignore_errors=True)


def test_the_declaration_reads_like_a_sandbox_command_line(workdir):
    lines = contain.rootfs.describe(contain.rootfs.declare(workdir, ROOT / "data", secret=[ROOT]))
    assert lines[0].startswith("--tmpfs / ") and "--ro-bind /usr /usr" in lines
    assert f"--ro-bind {ROOT / 'data'} /course/data" in lines
    assert any(line.startswith(f"--copy {workdir} /home/student") for line in lines)
    assert not any(str(ROOT) in line for line in lines if not line.startswith(("--copy", "--ro-bind " + str(ROOT / "data")))
                   and ".venv" not in line), lines  # of the project: its data, and its .venv if Python is there


def test_no_new_namespaces_keyrings_or_vsock(workdir, uid):
    """Red team: a user and cgroup namespace of its own let a notebook mount the cgroup file
    system and lift its own budgets; root's keyrings and vsock reach outside, and io_uring makes
    a vsock socket past the filter. Forks, threads and subprocesses still work."""
    import threading

    def hostile(send):
        libc = contain._libc
        result = {}
        for name, flags in (("unshare user", contain.CLONE_NEWUSER), ("unshare cgroup", 0x02000000)):
            result[name] = "done" if libc.unshare(flags) == 0 else errno.errorcode[contain.ctypes.get_errno()]
        clone = contain.SECCOMP_ARCHES[os.uname().machine][4]
        pid = libc.syscall(clone, contain.CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0)
        if pid == 0:
            os._exit(0)
        result["clone user"] = "done" if pid > 0 else errno.errorcode[contain.ctypes.get_errno()]
        key = libc.syscall(contain.SECCOMP_ARCHES[os.uname().machine][1][5], b"user", b"note", b"x", 1, -4)
        result["add_key"] = "done" if key >= 0 else errno.errorcode[contain.ctypes.get_errno()]
        result["vsock"] = attempt(lambda: socket.socket(40, socket.SOCK_STREAM).close())
        ring = libc.syscall(425, 8, contain.ctypes.create_string_buffer(120))  # io_uring_setup: sockets past the filter
        result["io_uring"] = "done" if ring >= 0 else errno.errorcode[contain.ctypes.get_errno()]
        child = os.fork()
        if child == 0:
            os._exit(7)
        result["fork"] = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        box = []
        thread = threading.Thread(target=lambda: box.append("ran"))
        thread.start()
        thread.join()
        result["thread"] = box
        result["subprocess"] = subprocess.run(["true"]).returncode
        send(result)

    run = Run(hostile, workdir, uid)
    result = run.finish() and run.merged()
    assert result["unshare user"] == result["unshare cgroup"] == result["clone user"] == "EPERM", result
    assert result["add_key"] == "EPERM" and result["vsock"] == "EPERM" and result["io_uring"] == "EPERM", result
    assert result["fork"] == 7 and result["thread"] == ["ran"] and result["subprocess"] == 0, result
