"""Shut one notebook's process in: a root of its own, own PIDs, no network, budgets for all it starts.

Call `enter(home, scratch, ...)` in a freshly forked, single-threaded child (a fork of the grader's
warm fork server), before any student code runs. It returns in a process from which the notebook runs:

* it sees only what grader/rootfs.py declares (the software read-only, the course data read-only,
  its own home holding a copy of the student's folder, its own /tmp, /dev and /proc): an
  allow-list, so the project, the class, other runs, /home, /root and the host's sockets are
  simply not there; what it writes lands in size-capped memory and is gone when it ends;
* it is PID 2 of a new PID namespace (PID 1 is `sh -c "read _"`, which only waits), or PID 1
  itself when it was forked with `fork()` below (as root); when the notebook's process ends,
  everything it started is killed with it;
* it has a network namespace of its own: only a loopback interface, which is down;
* it has no capabilities, cannot gain any (no_new_privs), seccomp refuses ptrace, new
  namespaces, keyrings, vsock and io_uring; it has RLIMIT_CPU and, for all it starts together,
  a process budget (a pids cgroup where writable, else RLIMIT_NPROC, which a user namespace
  makes per-notebook for an ordinary user; the kernel never applies RLIMIT_NPROC to real root),
  a memory budget (a memory cgroup where writable) and one CPU at most (a cpu cgroup).

Linux only. The caller's process, the one the grader forked and knows the PID of, becomes a
waiter outside the namespaces: it never returns from `enter`, waits for the notebook's process
and exits with its status (killed by the same signal, or the same exit code). SIGKILL to the
waiter, or to its process group, ends everything inside too.

As root, the grader's fork server forks with `fork()` instead of os.fork: the child is born PID 1
of a new PID namespace, and `enter` contains it in place, with no waiter and no second fork
(no user namespace either: root without capabilities is what it would map to).

Where the kernel refuses namespaces (no user namespaces, seccomp, ...) or when asked to
(`namespaces=False`, or GRADER_CONTAIN=fallback in the environment), `enter` returns in the same
process after what it can do without them: a copy of home in `scratch`, a new session, the
rlimits, and, where the kernel has Landlock, reads limited to what rootfs declares and writes to
the copy and a temp folder, no TCP, no signals or abstract sockets outside. `Notes.missing`
says what was not available, one line each.
"""
import ctypes
import errno
import os
import resource
import select
import shutil
import signal
import stat
import struct
import tempfile
from dataclasses import dataclass, field

from grader import rootfs

__all__ = ["Incomplete", "Notes", "enter", "fork", "probe", "sweep"]

CLONE_NEWNS, CLONE_NEWIPC = 0x00020000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_CLEAR_ALL, CAP_KILL = 2, 4, 5
SYS_LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self (same on every arch)
CAPABILITY_VERSION_3 = 0x20080522
INIT = ["/bin/sh", "-c", "read _"]  # PID 1: blocks until its stdin, the lifeline, closes
CGROUP_FOLDER = "grader-contain"  # pids and cpu cgroups are made in here, one per notebook

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass
class Notes:
    """What `enter` applied, and what it could not (one line each, meant for the grader's output)."""
    applied: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    home: str = ""          # where the copy of the student's folder is, as the process sees it
    data: str | None = None  # where the course data is
    tmp: str = ""            # its private temp folder

    def __str__(self):
        return "; ".join(self.missing) if self.missing else "contained: " + ", ".join(self.applied)


Refused = rootfs.Refused  # the kernel refused a step; the message says which and why


class Incomplete(RuntimeError):
    """The kernel refused a step after the namespaces were entered: do not run the notebook here."""


_check = rootfs._check  # raise Refused, saying which step and the kernel's reason, on a result < 0


def _syscall_numbers():
    """capset, capget."""
    if os.uname().machine in ("aarch64", "arm64"):
        return 91, 90
    return 126, 125


def enter(home, scratch=None, cpu_seconds=None, max_processes=None, memory_bytes=None,
          tmp_bytes=256 * 2**20, home_bytes=256 * 2**20, namespaces=None, cpus=1, data=None,
          secret=(), skip=lambda name: False):
    """Contain this process and everything it starts; return `Notes` in the contained process.

    home: the student's folder; the process gets a copy of it as its home and never writes to it.
    scratch: an empty host folder, used only without namespaces (the copy is made there).
    data: the course data folder (read-only).  secret: folders never to show (rootfs.declare).
    cpu_seconds: RLIMIT_CPU of the notebook's process (SIGXCPU at the limit, SIGKILL 1 s later).
    max_processes: processes and threads the notebook may have at once, its own included.
    cpus: CPUs the notebook and all it starts may use together (a cpu cgroup); None: no cap.
    memory_bytes: memory the notebook and all it starts may add together (a memory cgroup; where
    none is writable, RLIMIT_AS of each process, and `Notes.missing` says so).
    tmp_bytes, home_bytes: the sizes of its /tmp and of its home (the copy and what it writes).
    namespaces: False forces the fallback; None (default) uses them unless GRADER_CONTAIN=fallback.
    Must be called while the process has a single thread (unshare refuses otherwise).
    `Notes.home`, `.data` and `.tmp` say where those are as the contained process sees them.
    """
    home = os.path.realpath(home)
    if not os.path.isdir(home):
        raise NotADirectoryError(f"contain.enter: the home folder {home} is not a folder")
    notes = Notes()
    try:
        os.setsid()
    except PermissionError:  # already a session leader
        pass
    notes.applied.append("own session")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash writes no core file anywhere
    if namespaces is None:
        namespaces = os.environ.get("GRADER_CONTAIN", "") != "fallback"
    mounts = rootfs.declare(home, data, home_bytes=home_bytes, tmp_bytes=tmp_bytes, secret=secret)
    budgets = Budgets(max_processes, cpus, memory_bytes)
    if namespaces:
        try:
            if _forked_as_init:
                _enter_namespaces_as_init(mounts, budgets, skip, notes)
            else:
                _enter_namespaces(mounts, budgets, skip, notes)
            notes.home, notes.data, notes.tmp = rootfs.HOME, rootfs.DATA if data else None, "/tmp"
        except Refused as refused:
            notes.missing.append(f"namespaces refused ({refused}): {_FALLBACK_SAYS}")
            namespaces = False
    else:
        notes.missing.append(f"namespaces switched off: {_FALLBACK_SAYS}")
    if not namespaces:
        _fallback(home, scratch, data, budgets, skip, notes)
    _limit(cpu_seconds, notes)
    _drop_privileges(notes)
    return notes


@dataclass
class Budgets:
    """What a file may use across all its processes, and which cgroups enforce it."""
    max_processes: int | None
    cpus: float | None
    memory_bytes: int | None
    joined: set = field(default_factory=set)


_FALLBACK_SAYS = ("what the notebook starts can outlive it, /proc shows every process, "
                  "and the process budget is shared with the user's other processes")


# ---------------------------------------------------------------------------------------------
# With namespaces: the waiter (outside) starts PID 1 (a shell) and the notebook's process (PID 2)

def _single_threaded():
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise Refused(f"the process has {threads} threads; unshare needs exactly one")


def _enter_namespaces(mounts, budgets, skip, notes):
    _single_threaded()
    if not os.access(INIT[0], os.X_OK):
        raise Refused(f"no {INIT[0]} to be the namespace's PID 1")
    cgroups = _join_cgroups(budgets, notes)
    uid, gid = os.geteuid(), os.getegid()
    try:
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC),
               "unshare(user, mount, pid, network, ipc)")
    except Refused:
        _leave_cgroups(cgroups)
        raise
    try:  # a refusal from here on cannot be undone: the process is already in the namespaces
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except (Refused, OSError) as refused:
        _leave_cgroups(cgroups)  # best effort: else the next notebook's sweep removes them
        raise Incomplete(f"containment left half done: {refused}") from None
    notes.applied.append("user, mount, pid, network and IPC namespaces")

    # PID 1 is a shell that reads a pipe only the waiter can write to: it ends, and with it every
    # process of the namespace, when the waiter kills it or dies. It is spawned (vfork + exec),
    # not forked: a fork of the warm server costs far more.
    try:
        lifeline_r, lifeline_w = os.pipe()
        _keep_capability_across_exec(CAP_KILL)
        init = os.posix_spawn(INIT[0], INIT, {}, file_actions=[
            (os.POSIX_SPAWN_DUP2, lifeline_r, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0), (os.POSIX_SPAWN_DUP2, 1, 2)])
        worker = os.fork()
    except (Refused, OSError) as refused:
        _leave_cgroups(cgroups)  # best effort: else the next notebook's sweep removes them
        raise Incomplete(f"containment left half done: {refused}") from None
    if worker:
        keep = (lifeline_w,) + tuple(fd for cgroup in cgroups for fd in (cgroup.folder_fd, cgroup.home))
        _wait_and_exit(worker, init, keep, cgroups)
    os.close(lifeline_w)
    for cgroup in cgroups:  # the notebook must not inherit them
        os.close(cgroup.folder_fd)
        os.close(cgroup.home)
    _check(_libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if select.select([lifeline_r], [], [], 0)[0]:  # EOF: the waiter died before the prctl
        os._exit(1)
    os.close(lifeline_r)
    # The root is built here, in PID 2: /proc must be mounted from inside the new PID namespace.
    _build_root(mounts, skip, notes, alone=False)  # PID 1 is in its mount namespace too
    _settle(budgets, uid, companions=2, notes=notes)


def _build_root(mounts, skip, notes, alone):
    try:
        missing = rootfs.build(mounts, skip, alone)
    except (Refused, OSError) as refused:
        raise Incomplete(f"containment left half done: {refused}") from None
    notes.missing += [f"{line}" for line in missing]
    notes.applied.append("a root of its own: only the software, its home, /tmp and the course data "
                         "(grader.rootfs)")


def _settle(budgets, uid, companions, notes):
    """The last steps inside: the private temp folder, its home as cwd, the process budget."""
    os.environ["TMPDIR"] = "/tmp"
    tempfile.tempdir = None
    os.chdir(rootfs.HOME)
    max_processes = budgets.max_processes
    if max_processes and "pids" not in budgets.joined:
        # In a user namespace of its own, RLIMIT_NPROC counts only this notebook's tasks (the
        # waiter and PID 1 included, if any: `companions`); the kernel exempts real root from it.
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes + companions, max_processes + companions))
        if uid == 0:
            notes.missing.append("process budget: no writable pids cgroup, and RLIMIT_NPROC "
                                 "does not apply to root")
        else:
            notes.applied.append(f"RLIMIT_NPROC {max_processes} in the user namespace")


# ---------------------------------------------------------------------------------------------
# As root, one fork instead of two: the fork server forks each notebook's process straight into
# a new PID namespace (`fork` below), where it is PID 1. `enter` then adds mount, network and IPC
# namespaces and its own root. A user namespace would add nothing here: root without any
# capability (`_drop_privileges`) is what the other way's user namespace maps it to. No waiter, no shell as
# PID 1 and no second fork of the warm server: the kernel ends everything in the namespace when
# PID 1, the notebook's process, ends. (As PID 1 it ignores signals it sends itself and has no
# handler for, SIGTERM included; the grader's SIGKILL from outside always lands.)

_own_pid_namespace = None   # in the forking process: its PID namespace, to go back to after a fork
_forked_as_init = False     # in a child of `fork`: PID 1 of a namespace made for it


def fork():
    """os.fork(), with the child as PID 1 of a new PID namespace where the kernel allows it (root).

    Where it does not, a plain os.fork(): `enter` then takes the way with a waiter."""
    global _own_pid_namespace, _forked_as_init
    if os.geteuid() != 0:
        return os.fork()
    if _own_pid_namespace is None:
        _own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    if _libc.unshare(CLONE_NEWPID) != 0:  # refused (a container without CAP_SYS_ADMIN): the other way
        return os.fork()
    try:
        pid = os.fork()
    except BaseException:
        _back_to_own_pid_namespace()
        raise
    if pid == 0:
        os.close(_own_pid_namespace)
        _own_pid_namespace, _forked_as_init = None, True
        return 0
    _back_to_own_pid_namespace()
    return pid


def _back_to_own_pid_namespace():
    """In the parent after a fork: its next children are born in its own PID namespace again
    (and a new one can be made for the next: unshare refuses while this one is pending)."""
    _check(_libc.setns(_own_pid_namespace, CLONE_NEWPID), "setns(own PID namespace)")


def _enter_namespaces_as_init(mounts, budgets, skip, notes):
    _single_threaded()
    outside_pid = os.readlink("/proc/self")  # the host's /proc, still: our PID outside names our cgroups
    cgroups = _join_cgroups(budgets, notes, name=outside_pid, companions=0)
    for cgroup in cgroups:  # nobody leaves them: the next notebook's sweep removes them once empty
        os.close(cgroup.folder_fd)
        os.close(cgroup.home)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC), "unshare(mount, network, ipc)")
    try:  # a refusal from here on cannot be undone: the process is already in the namespaces
        _check(_libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    except Refused as refused:
        raise Incomplete(f"containment left half done: {refused}") from None
    _build_root(mounts, skip, notes, alone=True)
    notes.applied += ["PID 1 of its own PID namespace", "mount, network and IPC namespaces"]
    _settle(budgets, os.geteuid(), companions=0, notes=notes)


def _keep_capability_across_exec(capability):
    """Make PID 1 hold a capability the notebook lacks, so that the notebook cannot open PID 1's
    /proc files (ptrace access): else, as the same user, it could open /proc/1/fd/0 for writing
    and keep the lifeline open after the waiter died."""
    header = struct.pack("Ii", CAPABILITY_VERSION_3, 0)
    data = ctypes.create_string_buffer(24)
    _check(_libc.syscall(_syscall_numbers()[1], header, data), "capget")
    effective, permitted, inheritable = struct.unpack_from("III", data.raw)
    struct.pack_into("III", data, 0, effective, permitted, inheritable | (1 << capability))
    _check(_libc.syscall(_syscall_numbers()[0], header, data), "capset (inheritable)")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability, 0, 0), "raise an ambient capability")


def _write(path, text):
    try:
        _put(path, text)
    except OSError as error:
        raise Refused(f"write {path}: {error.strerror}") from None


def _close_all_but(keep):
    keep = sorted(keep)
    low = 0
    for fd in keep:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def _wait_and_exit(worker, init, keep, cgroups):
    """The waiter: outside the namespaces, it ends as the notebook's process ended. Never returns."""
    code = 1
    try:
        _close_all_but(keep)
        _, status = os.waitpid(worker, 0)
        os.kill(init, signal.SIGKILL)  # PID 1 gone, the kernel kills whatever else is left inside
        os.waitpid(init, 0)
        _leave_cgroups(cgroups)
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            code = 128 + number
            if number not in (signal.SIGKILL, signal.SIGSTOP):  # these two cannot be caught anyway
                signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [number])
            os.kill(os.getpid(), number)
        elif os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
    finally:
        os._exit(code)


# ---------------------------------------------------------------------------------------------
# The process budget (pids) and the CPU share (cpu) as cgroups (root, or a delegated cgroup)

@dataclass
class _Cgroup:
    folder_fd: int   # the grader-contain folder, opened before the mount namespace changed
    name: str        # this notebook's cgroup in it
    home: int        # the file that moves a task back to where it came from, before ours is removed


CFS_PERIOD_US = 100_000  # cgroup v2's cpu.max period (v1 reads its cpu.cfs_period_us)


CONTROLLERS = {"pids", "cpu", "memory"}


def _cgroup_hierarchies():
    """(version, base folder, controllers of those we use) of each hierarchy this process is in."""
    for line in _get("/proc/self/cgroup").splitlines():
        _, listed, path = line.split(":", 2)
        path = path.rstrip("/")
        if listed:  # cgroup v1: one hierarchy per mount, /sys/fs/cgroup/cpu may be cpu,cpuacct
            controllers = set(listed.split(",")) & CONTROLLERS
            if controllers:
                yield 1, f"/sys/fs/cgroup/{min(controllers)}{path}", controllers
        else:  # cgroup v2 (unified): a controller must be enabled for the children of `base`
            for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                try:
                    enabled = set(_get(f"{root}{path}/cgroup.subtree_control").split())
                except OSError:
                    continue
                yield 2, root + path, enabled & CONTROLLERS


def _join_cgroups(budgets, notes, name=None, companions=2):
    """Move this process into a new cgroup of each hierarchy that has a controller we want.

    Returns the cgroups joined; `budgets.joined` gets the controllers applied ("pids", "cpu",
    "memory"). A CPU share or memory budget that cannot be had is said in notes.missing; a
    process budget falls back to RLIMIT_NPROC, a memory budget to RLIMIT_AS per process."""
    wanted = {name for name, value in (("pids", budgets.max_processes), ("cpu", budgets.cpus),
                                       ("memory", budgets.memory_bytes)) if value}
    cgroups, joined = [], budgets.joined
    for version, base, controllers in _cgroup_hierarchies() if wanted else ():
        controllers &= wanted - joined
        if controllers:
            cgroup = _join_cgroup(version, base, controllers, budgets, name or str(os.getpid()), companions)
            if cgroup:
                cgroups.append(cgroup)
                joined |= controllers
    if "pids" in joined:
        notes.applied.append(f"pids cgroup, {budgets.max_processes} tasks")
    if "cpu" in joined:
        notes.applied.append(f"cpu cgroup, {budgets.cpus:g} CPU at most for everything it starts")
    elif budgets.cpus:
        notes.missing.append("CPU share: no writable cpu cgroup; what the notebook starts can "
                             "keep every CPU busy (RLIMIT_CPU counts each process alone)")
    if "memory" in joined:
        notes.applied.append(f"memory cgroup, {budgets.memory_bytes // 2**20} MiB for everything it starts")
    elif budgets.memory_bytes:
        notes.missing.append("memory budget: no writable memory cgroup; each process has its own "
                             "address-space limit instead (RLIMIT_AS)")
    return cgroups


def _join_cgroup(version, base, controllers, budgets, name, companions):
    """companions: the processes besides the notebook's in the cgroup (the waiter and PID 1)."""
    folder = os.path.join(base, CGROUP_FOLDER)
    mine = os.path.join(folder, name)
    try:
        os.makedirs(folder, exist_ok=True)
        _sweep(folder)
        if version == 2:  # the notebooks' cgroups need the controllers (if refused, the limits fail below)
            try:
                _put(os.path.join(folder, "cgroup.subtree_control"),
                     " ".join("+" + controller for controller in sorted(controllers)))
            except OSError:
                pass
        try:
            os.mkdir(mine)
        except FileExistsError:  # left by an ended process that had our PID (it is empty): ours now
            os.rmdir(mine)
            os.mkdir(mine)
    except OSError:
        return None
    home = None
    try:
        if "pids" in controllers:
            _put(os.path.join(mine, "pids.max"), budgets.max_processes + companions)
        if "cpu" in controllers and version == 1:
            period = int(_get(os.path.join(mine, "cpu.cfs_period_us")))
            _put(os.path.join(mine, "cpu.cfs_quota_us"), round(budgets.cpus * period))
        elif "cpu" in controllers:
            _put(os.path.join(mine, "cpu.max"), f"{round(budgets.cpus * CFS_PERIOD_US)} {CFS_PERIOD_US}")
        if "memory" in controllers:  # what the file's processes add; pages shared with the fork server are not theirs
            _put(os.path.join(mine, "memory.limit_in_bytes" if version == 1 else "memory.max"), budgets.memory_bytes)
            if version == 2 and os.path.exists(os.path.join(mine, "memory.swap.max")):
                _put(os.path.join(mine, "memory.swap.max"), 0)
        # v1: "0" into `tasks` moves the calling thread, the only one, without the global lock
        # (and RCU grace period, ~5 ms) that moving a whole process through cgroup.procs takes
        # in kernels since 6.0. v2 moves only whole processes of a domain cgroup: cgroup.procs.
        moves = "tasks" if version == 1 else "cgroup.procs"
        home = os.open(os.path.join(base, moves), os.O_WRONLY | os.O_CLOEXEC)
        _put(os.path.join(mine, moves), 0)
    except OSError:
        if home is not None:
            os.close(home)
        _remove_quietly(mine)
        return None
    return _Cgroup(os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), name, home)


# Plain os calls, no text files: a process that changed its uid may not be able to import a codec.
def _put(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())  # one write: /proc's map files want it whole
    finally:
        os.close(fd)


def _get(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        while chunk := os.read(fd, 65536):
            parts.append(chunk)
        return b"".join(parts).decode("utf-8", "surrogateescape")
    finally:
        os.close(fd)


def _remove_quietly(path, dir_fd=None):
    try:
        os.rmdir(path, dir_fd=dir_fd)
    except OSError:
        pass


def sweep():
    """Remove the empty cgroups of notebooks that have ended (call it once they are reaped): the
    next notebook would sweep them, but after the last one nobody does."""
    for _, base, _ in _cgroup_hierarchies():
        folder = os.path.join(base, CGROUP_FOLDER)
        if os.path.isdir(folder):
            _sweep(folder)


def _sweep(folder):
    """Remove the empty cgroups of waiters that were killed before they could remove theirs."""
    for name in os.listdir(folder):
        if name.isdigit() and not os.path.exists(f"/proc/{name}"):
            _remove_quietly(os.path.join(folder, name))


def _leave_cgroups(cgroups):
    for cgroup in cgroups:
        try:
            os.write(cgroup.home, b"0")  # this thread (v1 tasks) or process (v2 cgroup.procs)
        except OSError:
            continue
        _remove_quietly(cgroup.name, dir_fd=cgroup.folder_fd)


# ---------------------------------------------------------------------------------------------
# Without namespaces

def _fallback(home, scratch, data, budgets, skip, notes):
    """Without namespaces: a copy of home in `scratch`, then Landlock lets the process read only
    what the declaration of rootfs would have shown it, and write only to its copy and temp."""
    if not scratch or not os.path.isdir(scratch):
        raise Incomplete("no scratch folder for the copy of the student's folder; it was not run")
    if budgets.cpus:  # no waiter would remove a cpu cgroup: it comes with the namespaces
        notes.missing.append("CPU share: none without the namespaces; what the notebook starts can "
                             "keep every CPU busy (RLIMIT_CPU counts each process alone)")
    copy, private_tmp = os.path.join(scratch, "home"), os.path.join(scratch, "tmp")
    os.makedirs(copy, exist_ok=True)
    os.makedirs(private_tmp, exist_ok=True)
    left_out = rootfs.copy_folder(home, copy, 128 * 2**20, skip)
    if left_out:
        notes.missing.append(f"home: {left_out}")
    os.chdir(copy)
    os.environ["TMPDIR"] = private_tmp
    tempfile.tempdir = None
    notes.home, notes.data, notes.tmp = copy, data and os.path.realpath(data), private_tmp
    notes.missing.append("disk: without namespaces the copy and the temp folder are on the grader's disk, "
                         "with no size cap")
    if budgets.max_processes:
        if os.geteuid() == 0:
            notes.missing.append("process budget: RLIMIT_NPROC does not apply to root")
        else:  # counts every task of this user, so add those running now
            limit = _tasks_of_user(os.getuid()) + budgets.max_processes
            resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
            notes.applied.append(f"RLIMIT_NPROC {limit} (all of the user's tasks)")
    readable = [mount.source for mount in rootfs.declare(home, data) if mount.kind == "ro-bind" and mount.target != rootfs.DATA]
    readable += [path for path in FALLBACK_READABLE if os.path.exists(path)]
    if notes.data:
        readable.append(notes.data)
    try:
        _landlock(readable, [copy, private_tmp], notes)
    except Refused as refused:
        notes.missing.append(f"Landlock: {refused}: the notebook can read every file its user can, "
                             "and write outside its copy")


# Read, without namespaces, besides the software: what rootfs writes of /etc for the process is the
# host's here; the devices; /proc and the CPU list (os.cpu_count).
FALLBACK_READABLE = ("/etc/passwd", "/etc/group", "/etc/hosts", "/etc/localtime", "/etc/ld.so.cache",
                     "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
                     "/dev/shm", "/proc", "/sys/devices/system/cpu")


def _tasks_of_user(uid):
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            lines = _get(f"/proc/{name}/status").splitlines()
            fields = dict(line.split(":", 1) for line in lines if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            pass
    return count


LANDLOCK_READ_ACCESS = (1 << 0) | (1 << 2) | (1 << 3)                 # execute, read file, read folder
LANDLOCK_WRITE_ACCESS = ((1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9)
                         | (1 << 10) | (1 << 11) | (1 << 12))  # write file, remove, make anything
LANDLOCK_REFER, LANDLOCK_TRUNCATE = 1 << 13, 1 << 14             # ABI 2, ABI 3
LANDLOCK_TCP = (1 << 0) | (1 << 1)                               # ABI 4: bind, connect
LANDLOCK_SCOPES = (1 << 0) | (1 << 1)                            # ABI 6: abstract sockets, signals
LANDLOCK_FILE_ACCESS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14)  # what a rule on a file may name


def _landlock(readable, writable, notes):
    """Read only `readable` (and `writable`), write only `writable`, no TCP, no signals outside."""
    create, add_rule, restrict_self = SYS_LANDLOCK
    abi = _check(_libc.syscall(create, None, 0, 1), "landlock_create_ruleset")
    handled = (LANDLOCK_READ_ACCESS | LANDLOCK_WRITE_ACCESS | (LANDLOCK_REFER if abi >= 2 else 0)
               | (LANDLOCK_TRUNCATE if abi >= 3 else 0))
    network = LANDLOCK_TCP if abi >= 4 else 0
    scoped = LANDLOCK_SCOPES if abi >= 6 else 0
    attr = struct.pack("QQQ", handled, network, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _check(_libc.syscall(create, attr[:size], size, 0), "landlock_create_ruleset")
    devices = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/shm"}
    rules = [(path, handled if path in devices else LANDLOCK_READ_ACCESS) for path in readable]
    rules += [(path, handled) for path in writable]
    try:
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= LANDLOCK_FILE_ACCESS
                rule = struct.pack("=Qi", access & handled, fd)
                _check(_libc.syscall(add_rule, ruleset, 1, rule, 0), f"landlock_add_rule({path})")
            finally:
                os.close(fd)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(_libc.syscall(restrict_self, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    notes.applied.append(f"Landlock ABI {abi}: reads only the software, the course data and its copy; "
                         "writes only its copy and temp folder")
    if not network:
        notes.missing.append(f"network: Landlock ABI {abi} cannot block TCP")
    else:
        notes.applied.append("no TCP")
    if not scoped:
        notes.missing.append(f"signals: Landlock ABI {abi} cannot stop signals to outside processes")
    else:
        notes.applied.append("no signals or abstract sockets outside")


# ---------------------------------------------------------------------------------------------
# Both ways

def _limit(cpu_seconds, notes):
    if cpu_seconds:
        seconds = int(-(-cpu_seconds // 1))  # whole seconds, rounded up
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
        notes.applied.append(f"RLIMIT_CPU {seconds} s")


def _drop_privileges(notes):
    """No capabilities now or after an exec, and no way to regain any (setuid files included)."""
    try:
        last = int(_get("/proc/sys/kernel/cap_last_cap"))
    except OSError:  # no /proc: drop every capability there could be
        last = 63
    for capability in range(last + 1):
        _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)  # EPERM without CAP_SETPCAP: nothing to drop
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = struct.pack("Ii", CAPABILITY_VERSION_3, 0)
    data = bytes(24)
    _check(_libc.syscall(_syscall_numbers()[0], header, data), "capset (drop all)")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    notes.applied.append("no capabilities, no_new_privs")
    try:
        _seccomp_filter()
        notes.applied.append("no ptrace, new namespaces, keyrings or vsock (seccomp)")
    except Refused as refused:
        notes.missing.append(f"{refused}: the notebook may ptrace processes of its own user it can see, "
                             "make namespaces, use keyrings, io_uring and vsock")


# seccomp, last: these system calls fail with EPERM (clone3 with ENOSYS: the C library then
# uses clone, whose flags can be checked), as do other architectures' calls (x32, i386):
# - ptrace, process_vm_readv/writev: the same user ID as PID 1, as other notebooks (without
#   namespaces) or as the grader (as root) would let a notebook take those over;
# - unshare, setns, and clone with a CLONE_NEW* flag: a user namespace of its own would give it
#   the capabilities to mount a cgroup file system and lift its own process and CPU budgets;
# - add_key, request_key, keyctl: as root, the kernel's keyrings are shared with the grader;
# - socket(AF_VSOCK): the network namespace does not cover the hypervisor's sockets;
# - io_uring_setup, io_uring_enter, io_uring_register: io_uring makes sockets (vsock too) and
#   does other system calls' work without those calls, past this filter.
SECCOMP_ARCHES = {  # arch token; denied calls; clone3; socket; clone
    "x86_64": (0xC000003E, (101, 310, 311, 272, 308, 248, 249, 250, 425, 426, 427), 435, 41, 56),
    "aarch64": (0xC00000B7, (117, 270, 271, 97, 268, 217, 218, 219, 425, 426, 427), 435, 198, 220),
}
AF_VSOCK = 40
CLONE_NEW_ANY = (CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
                 | 0x02000000 | 0x04000000 | 0x80)  # and cgroup, UTS, time


def _seccomp_filter():
    machine = os.uname().machine
    if machine not in SECCOMP_ARCHES:
        raise Refused(f"seccomp filter: no system call numbers for {machine}")
    arch, denied, clone3, socket_call, clone = SECCOMP_ARCHES[machine]
    load, jump_if_equal, jump_if_at_least, jump_if_any_bit, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, deny_eperm, deny_enosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    first_argument = 16  # offsetof(struct seccomp_data, args[0]), its low 32 bits on these arches
    program = [(load, 0, 0, 4),                       # the architecture
               (jump_if_equal, 1, 0, arch),
               (ret, 0, 0, deny_enosys),
               (load, 0, 0, 0),                       # the system call number
               (jump_if_at_least, 0, 1, 0x40000000),  # x32 numbers
               (ret, 0, 0, deny_enosys)]
    for call in denied:
        program += [(jump_if_equal, 0, 1, call), (ret, 0, 0, deny_eperm)]
    program += [(jump_if_equal, 0, 1, clone3), (ret, 0, 0, deny_enosys)]
    for call, test, value in ((socket_call, jump_if_equal, AF_VSOCK), (clone, jump_if_any_bit, CLONE_NEW_ANY)):
        program += [(jump_if_equal, 0, 4, call),      # not this call: on to the next test
                    (load, 0, 0, first_argument),
                    (test, 0, 1, value),
                    (ret, 0, 0, deny_eperm),
                    (ret, 0, 0, allow)]
    program.append((ret, 0, 0, allow))
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HxxxxxxP", len(program), ctypes.addressof(buffer))
    _check(_libc.prctl(22, 2, fprog, 0, 0), "seccomp filter")  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def probe():
    """Run `enter` once in a throw-away child and return its Notes: how containment will go here.

    The grader can call it once at start (not in the fork server: it forks) and say once what is missing."""
    import json
    folder = tempfile.mkdtemp(prefix="grader-contain-probe-")
    reader, writer = os.pipe()
    pid = fork()  # as the fork server forks
    if pid == 0:
        os.close(reader)
        try:
            os.mkdir(os.path.join(folder, "home"))
            os.mkdir(os.path.join(folder, "scratch"))
            notes = enter(os.path.join(folder, "home"), os.path.join(folder, "scratch"), cpu_seconds=5,
                          max_processes=4, memory_bytes=2**30)
            report = {"applied": notes.applied, "missing": notes.missing}
        except Exception as error:  # Incomplete, or anything unexpected: report it, never raise here
            report = {"applied": [], "missing": [f"{type(error).__name__}: {error}"]}
        os.write(writer, json.dumps(report).encode())
        os._exit(0)
    os.close(writer)
    data = b""
    while chunk := os.read(reader, 65536):
        data += chunk
    os.close(reader)
    os.waitpid(pid, 0)
    shutil.rmtree(folder, ignore_errors=True)
    report = json.loads(data) if data else {"applied": [], "missing": ["the probe died before reporting"]}
    return Notes(report["applied"], report["missing"])
