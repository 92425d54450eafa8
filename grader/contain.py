"""Shut one notebook's process in: private writable folder, own PIDs, no network, CPU and process budgets.

Call `enter(workdir, ...)` in a freshly forked, single-threaded child (a fork of the grader's warm
fork server), before any student code runs. It returns in a process from which the notebook runs:

* writes succeed only under `workdir` and in a private /tmp (TMPDIR=/tmp) and /dev/shm; every
  other path is read-only (EROFS), reads work as before;
* it is PID 2 of a new PID namespace (PID 1 is `sh -c "read _"`, which only waits), or PID 1
  itself when it was forked with `fork()` below (as root); /proc shows only that namespace; when
  the notebook's process ends, everything it started is killed with it;
* it has a network namespace of its own: only a loopback interface, which is down;
* it has no capabilities, cannot gain any (no_new_privs), and has RLIMIT_CPU and a
  process budget (a pids cgroup where writable, else RLIMIT_NPROC, which a user namespace makes
  per-notebook for an ordinary user; the kernel never applies RLIMIT_NPROC to real root);
* where a cpu cgroup is writable, it and everything it starts share one CPU at most (a CFS
  quota), so many busy children cannot slow down the notebooks that run beside it.

Linux only. The caller's process, the one the grader forked and knows the PID of, becomes a
waiter outside the namespaces: it never returns from `enter`, waits for the notebook's process
and exits with its status (killed by the same signal, or the same exit code). SIGKILL to the
waiter, or to its process group, ends everything inside too.

As root, the grader's fork server forks with `fork()` instead of os.fork: the child is born PID 1
of a new PID namespace, and `enter` contains it in place, with no waiter and no second fork
(no user namespace either: root without capabilities is what it would map to).

Where the kernel refuses namespaces (no user namespaces, seccomp, ...) or when asked to
(`namespaces=False`, or GRADER_CONTAIN=fallback in the environment), `enter` returns in the same
process after what it can do without them: a new session, the rlimits, and, where the kernel
has Landlock, writes limited to `workdir` and a private temp folder, no TCP, no signals or
abstract sockets outside. `Notes.missing` says what was not available, one line each.
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

__all__ = ["Incomplete", "Notes", "enter", "fork", "probe", "sweep"]

CLONE_NEWNS, CLONE_NEWIPC = 0x00020000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY, AT_FDCWD, AT_RECURSIVE = 1, -100, 0x8000
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

    def __str__(self):
        return "; ".join(self.missing) if self.missing else "contained: " + ", ".join(self.applied)


class Refused(Exception):
    """The kernel refused a step; the message says which and why."""


class Incomplete(RuntimeError):
    """The kernel refused a step after the namespaces were entered: do not run the notebook here."""


def _check(result, what):
    if result < 0:
        code = ctypes.get_errno()
        raise Refused(f"{what}: {errno.errorcode.get(code, code)} ({os.strerror(code)})")
    return result


def _syscall_numbers():
    """capset, mount_setattr, capget."""
    if os.uname().machine in ("aarch64", "arm64"):
        return 91, 442, 90
    return 126, 442, 125


def enter(workdir, cpu_seconds=None, max_processes=None, memory_bytes=None,
          tmp_bytes=256 * 2**20, namespaces=None, cpus=1, hide=()):
    """Contain this process and everything it starts; return `Notes` in the contained process.

    workdir: the one folder (the private copy of the student's folder) that stays writable.
    cpu_seconds: RLIMIT_CPU of the notebook's process (SIGXCPU at the limit, SIGKILL 1 s later).
    max_processes: processes and threads the notebook may have at once, its own included.
    cpus: CPUs the notebook and all it starts may use together (a cpu cgroup); None: no cap.
    memory_bytes: RLIMIT_AS, if given.  tmp_bytes: size of the private /tmp (and /dev/shm).
    namespaces: False forces the fallback; None (default) uses them unless GRADER_CONTAIN=fallback.
    hide: folders to cover with an empty read-only folder (the grader's sockets, the other
    students' copies, the class); workdir stays visible even inside one. Folders that hold
    Python, the project or an import path are never hidden (the notebook needs them).
    Must be called while the process has a single thread (unshare refuses otherwise).
    """
    workdir = os.path.realpath(workdir)
    if not os.path.isdir(workdir):
        raise NotADirectoryError(f"contain.enter: workdir {workdir} is not a folder")
    notes = Notes()
    try:
        os.setsid()
    except PermissionError:  # already a session leader
        pass
    notes.applied.append("own session")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash writes no core file anywhere
    if namespaces is None:
        namespaces = os.environ.get("GRADER_CONTAIN", "") != "fallback"
    if namespaces:
        try:
            if _forked_as_init:
                _enter_namespaces_as_init(workdir, max_processes, cpus, tmp_bytes, notes, hide)
            else:
                _enter_namespaces(workdir, max_processes, cpus, tmp_bytes, notes, hide)
        except Refused as refused:
            notes.missing.append(f"namespaces refused ({refused}): {_FALLBACK_SAYS}")
            namespaces = False
    else:
        notes.missing.append(f"namespaces switched off: {_FALLBACK_SAYS}")
    if not namespaces:
        _fallback(workdir, max_processes, cpus, notes)
    _limit(cpu_seconds, memory_bytes, notes)
    _drop_privileges(notes)
    return notes


_FALLBACK_SAYS = ("what the notebook starts can outlive it, /proc shows every process, "
                  "and the process budget is shared with the user's other processes")


# ---------------------------------------------------------------------------------------------
# With namespaces: the waiter (outside) starts PID 1 (a shell) and the notebook's process (PID 2)

def _single_threaded():
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise Refused(f"the process has {threads} threads; unshare needs exactly one")


def _enter_namespaces(workdir, max_processes, cpus, tmp_bytes, notes, hide=()):
    _single_threaded()
    if not os.access(INIT[0], os.X_OK):
        raise Refused(f"no {INIT[0]} to be the namespace's PID 1")
    cgroups, joined = _join_cgroups(max_processes, cpus, notes)
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
        private_tmp = _private_mounts(workdir, tmp_bytes, hide, notes)
    except (Refused, OSError) as refused:
        _leave_cgroups(cgroups)  # best effort: else the next notebook's sweep removes them
        raise Incomplete(f"containment left half done: {refused}") from None
    notes.applied += ["user, mount, pid, network and IPC namespaces", "read-only / except workdir and /tmp"]

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
    for cgroup in cgroups:  # opened before the mounts turned read-only: the notebook must not inherit them
        os.close(cgroup.folder_fd)
        os.close(cgroup.home)
    _check(_libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if select.select([lifeline_r], [], [], 0)[0]:  # EOF: the waiter died before the prctl
        os._exit(1)
    os.close(lifeline_r)
    _mount_proc(notes)
    _settle(workdir, private_tmp, max_processes, joined, uid, companions=2, notes=notes)


def _mount_proc(notes):
    try:
        # Read-only: as root, the user ID inside is root's, and /proc/sys (core_pattern...) would
        # take writes from it.
        _check(_libc.mount(b"proc", b"/proc", b"proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
               "mount a private /proc")
        notes.applied.append("private /proc")
    except Refused as refused:
        notes.missing.append(f"{refused}: /proc still lists outside processes (they cannot be signalled)")


def _settle(workdir, private_tmp, max_processes, joined, uid, companions, notes):
    """The last steps inside: the private temp folder, a cwd that exists, the process budget."""
    os.environ["TMPDIR"] = private_tmp
    tempfile.tempdir = None
    try:
        os.chdir(os.getcwd())  # the cwd may point into the mount that is now hidden
    except OSError:
        os.chdir(workdir)
    if max_processes and "pids" not in joined:
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
# namespaces and its own /proc. A user namespace would add nothing here: root without any
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


def _enter_namespaces_as_init(workdir, max_processes, cpus, tmp_bytes, notes, hide=()):
    _single_threaded()
    outside_pid = os.readlink("/proc/self")  # the host's /proc, still: our PID outside names our cgroups
    cgroups, joined = _join_cgroups(max_processes, cpus, notes, name=outside_pid, companions=0)
    for cgroup in cgroups:  # nobody leaves them: the next notebook's sweep removes them once empty
        os.close(cgroup.folder_fd)
        os.close(cgroup.home)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC), "unshare(mount, network, ipc)")
    try:  # a refusal from here on cannot be undone: the process is already in the namespaces
        private_tmp = _private_mounts(workdir, tmp_bytes, hide, notes)
        _mount_proc(notes)
        _check(_libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    except (Refused, OSError) as refused:
        raise Incomplete(f"containment left half done: {refused}") from None
    notes.applied += ["PID 1 of its own PID namespace", "mount, network and IPC namespaces",
                      "read-only / except workdir and /tmp"]
    _settle(workdir, private_tmp, max_processes, joined, os.geteuid(), companions=0, notes=notes)


def _keep_capability_across_exec(capability):
    """Make PID 1 hold a capability the notebook lacks, so that the notebook cannot open PID 1's
    /proc files (ptrace access): else, as the same user, it could open /proc/1/fd/0 for writing
    and keep the lifeline open after the waiter died."""
    header = struct.pack("Ii", CAPABILITY_VERSION_3, 0)
    data = ctypes.create_string_buffer(24)
    _check(_libc.syscall(_syscall_numbers()[2], header, data), "capget")
    effective, permitted, inheritable = struct.unpack_from("III", data.raw)
    struct.pack_into("III", data, 0, effective, permitted, inheritable | (1 << capability))
    _check(_libc.syscall(_syscall_numbers()[0], header, data), "capset (inheritable)")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability, 0, 0), "raise an ambient capability")


def _write(path, text):
    try:
        _put(path, text)
    except OSError as error:
        raise Refused(f"write {path}: {error.strerror}") from None


def _mount_setattr(path, flags, attr_set=0, attr_clr=0, propagation=0):
    attr = struct.pack("QQQQ", attr_set, attr_clr, propagation, 0)
    return _libc.syscall(_syscall_numbers()[1], AT_FDCWD, path, flags, attr, len(attr))


def _needed_paths():
    """The folders the notebook's process must still see: Python, the project, the import path."""
    import sys
    project = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    return {os.path.realpath(path) for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, project,
                                                *[entry for entry in sys.path if entry])}


def _tmp_must_stay():
    """True when Python, its libraries or the grader live under /tmp (a clone or a venv made
    there): a tmpfs over /tmp would hide them. Then /tmp stays, read-only like the rest."""
    return any(path.startswith("/tmp/") for path in _needed_paths())


def _private_mounts(workdir, tmp_bytes, hide=(), notes=None):
    """Everything read-only, then private tmpfs for /tmp and /dev/shm, a /dev with only the
    harmless devices, the `hide` folders covered, then workdir writable.
    Returns the private temp folder (/tmp, or a folder in workdir when /tmp must stay)."""
    if _mount_setattr(b"/", AT_RECURSIVE, attr_set=MOUNT_ATTR_RDONLY, propagation=MS_PRIVATE) < 0:
        if ctypes.get_errno() not in (errno.ENOSYS, errno.EINVAL):
            _check(-1, "mount_setattr(/, read-only, recursive)")
        _read_only_one_by_one()
    # Opened now, in the new mount namespace (a bind mount's source must be in it), and before
    # /tmp is covered: workdir may lie under /tmp.
    workdir_fd = os.open(workdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    tmp_options = f"size={tmp_bytes},mode=1777".encode()
    keep_tmp = _tmp_must_stay()
    if not keep_tmp and os.path.isdir("/tmp"):
        _check(_libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, tmp_options), "mount tmpfs on /tmp")
    if os.path.isdir("/dev"):
        _minimal_dev(tmp_options)
    if os.path.isdir("/run"):  # hides service sockets (docker, dbus) that connect() could reach
        _check(_libc.mount(b"tmpfs", b"/run", b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                           b"size=4k,mode=755"), "mount an empty /run")
    hidden = []
    for folder in _hideable(hide, workdir):
        _check(_libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                           b"size=64k,mode=755"), f"cover {folder}")
        hidden.append(folder)
    os.makedirs(workdir, exist_ok=True)  # needed when workdir lay under the new /tmp or a covered folder
    target = workdir.encode()
    _check(_libc.mount(f"/proc/self/fd/{workdir_fd}".encode(), target, None, MS_BIND | MS_REC, None),
           "bind-mount workdir")
    os.close(workdir_fd)
    if _mount_setattr(target, 0, attr_clr=MOUNT_ATTR_RDONLY) < 0:
        flags = _mount_flags(os.statvfs(workdir)) & ~MS_RDONLY
        _check(_libc.mount(None, target, None, MS_BIND | MS_REMOUNT | flags, None),
               "make workdir writable")
    for folder in hidden:  # empty and read-only from now on (workdir, if inside, is a mount of its own)
        _read_only(folder.encode())
    if notes is not None and hidden:
        notes.applied.append(f"{len(hidden)} folder(s) of the grader and the class hidden")
    if not keep_tmp:
        return "/tmp"
    private_tmp = os.path.join(workdir, ".tmp")
    os.makedirs(private_tmp, exist_ok=True)
    return private_tmp


DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def _minimal_dev(tmp_options):
    """A /dev of its own: the harmless character devices, /dev/fd and friends, a private /dev/shm.
    Read-only mounts do not stop writes to a device node, and root owns the disks."""
    sources = {}
    for name in DEVICES:
        try:
            sources[name] = os.open(f"/dev/{name}", os.O_PATH | os.O_CLOEXEC)
        except OSError:
            pass
    _check(_libc.mount(b"tmpfs", b"/dev", b"tmpfs", MS_NOSUID | MS_NOEXEC, b"size=64k,mode=755"),
           "mount a private /dev")
    for name, fd in sources.items():
        path = f"/dev/{name}"
        device = os.fstat(fd)
        try:  # as root: a node of its own (cheaper than a mount)
            os.mknod(path, stat.S_IFCHR | 0o666, device.st_rdev)
            os.chmod(path, stat.S_IMODE(device.st_mode))
        except PermissionError:  # in a user namespace: the outside node, bind-mounted
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
            _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND, None), f"bind {path}")
        os.close(fd)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{name}")
    os.mkdir("/dev/shm", 0o1777)
    _check(_libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, tmp_options), "mount tmpfs on /dev/shm")
    _read_only(b"/dev")


def _read_only(path):
    """This mount (not those below it) read-only."""
    if _mount_setattr(path, 0, attr_set=MOUNT_ATTR_RDONLY) < 0:
        flags = _mount_flags(os.statvfs(path)) | MS_RDONLY
        _check(_libc.mount(None, path, None, MS_BIND | MS_REMOUNT | flags, None), f"make {path.decode()} read-only")


def _hideable(hide, workdir):
    """The folders of `hide` that can be covered: existing, not /, and holding nothing the
    notebook's process needs (Python, the project, an import path, the course data)."""
    needed = _needed_paths() | {os.path.realpath(os.environ.get("COURSE_DATA_DIR", "/"))}
    chosen = []
    for folder in hide:
        folder = os.path.realpath(folder)
        if folder in ("/", "/tmp", "/dev", "/run", "/proc") or not os.path.isdir(folder) or folder in chosen:
            continue
        if any(path == folder or path.startswith(folder + os.sep) for path in needed):
            continue
        chosen.append(folder)
    # an outer folder first: an inner one would then be hidden already (mounting on it would fail)
    chosen.sort(key=len)
    return [folder for index, folder in enumerate(chosen)
            if not any(folder.startswith(outer + os.sep) for outer in chosen[:index])]


def _mount_flags(stat):
    # statvfs's ST_* values are the MS_* values for these four
    return stat.f_flag & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _read_only_one_by_one():
    """For kernels before 5.12 (no mount_setattr): remount each mount point read-only."""
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    points = [line.split()[4] for line in _get("/proc/self/mountinfo").splitlines()]
    for point in points:
        path = point.encode("utf-8", "surrogateescape").decode("unicode_escape").encode("latin-1")
        try:
            flags = _mount_flags(os.statvfs(path))
        except OSError:
            continue  # hidden under a later mount
        _check(_libc.mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags, None),
               f"remount {point} read-only")


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


def _cgroup_hierarchies():
    """(version, base folder, controllers of those we use) of each hierarchy this process is in."""
    for line in _get("/proc/self/cgroup").splitlines():
        _, listed, path = line.split(":", 2)
        path = path.rstrip("/")
        if listed:  # cgroup v1: one hierarchy per mount, /sys/fs/cgroup/cpu may be cpu,cpuacct
            controllers = set(listed.split(",")) & {"pids", "cpu"}
            if controllers:
                yield 1, f"/sys/fs/cgroup/{min(controllers)}{path}", controllers
        else:  # cgroup v2 (unified): a controller must be enabled for the children of `base`
            for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                try:
                    enabled = set(_get(f"{root}{path}/cgroup.subtree_control").split())
                except OSError:
                    continue
                yield 2, root + path, enabled & {"pids", "cpu"}


def _join_cgroups(max_processes, cpus, notes, name=None, companions=2):
    """Move this process into a new cgroup of each hierarchy that has a controller we want.

    Returns the cgroups joined and the controllers applied ("pids", "cpu"). A CPU share that
    cannot be had is said in notes.missing; a process budget falls back to RLIMIT_NPROC."""
    wanted = {name for name, value in (("pids", max_processes), ("cpu", cpus)) if value}
    cgroups, joined = [], set()
    for version, base, controllers in _cgroup_hierarchies() if wanted else ():
        controllers &= wanted - joined
        if controllers:
            cgroup = _join_cgroup(version, base, controllers, max_processes, cpus, name or str(os.getpid()),
                                  companions)
            if cgroup:
                cgroups.append(cgroup)
                joined |= controllers
    if "pids" in joined:
        notes.applied.append(f"pids cgroup, {max_processes} tasks")
    if "cpu" in joined:
        notes.applied.append(f"cpu cgroup, {cpus:g} CPU at most for everything it starts")
    elif cpus:
        notes.missing.append("CPU share: no writable cpu cgroup; what the notebook starts can "
                             "keep every CPU busy (RLIMIT_CPU counts each process alone)")
    return cgroups, joined


def _join_cgroup(version, base, controllers, max_processes, cpus, name, companions):
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
            _put(os.path.join(mine, "pids.max"), max_processes + companions)
        if "cpu" in controllers and version == 1:
            period = int(_get(os.path.join(mine, "cpu.cfs_period_us")))
            _put(os.path.join(mine, "cpu.cfs_quota_us"), round(cpus * period))
        elif "cpu" in controllers:
            _put(os.path.join(mine, "cpu.max"), f"{round(cpus * CFS_PERIOD_US)} {CFS_PERIOD_US}")
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

def _fallback(workdir, max_processes, cpus, notes):
    if cpus:  # no waiter would remove a cpu cgroup: it comes with the namespaces
        notes.missing.append("CPU share: none without the namespaces; what the notebook starts can "
                             "keep every CPU busy (RLIMIT_CPU counts each process alone)")
    private_tmp = os.path.join(workdir, ".tmp")
    os.makedirs(private_tmp, exist_ok=True)
    os.environ["TMPDIR"] = private_tmp
    tempfile.tempdir = None
    if max_processes:
        if os.geteuid() == 0:
            notes.missing.append("process budget: RLIMIT_NPROC does not apply to root")
        else:  # counts every task of this user, so add those running now
            limit = _tasks_of_user(os.getuid()) + max_processes
            resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
            notes.applied.append(f"RLIMIT_NPROC {limit} (all of the user's tasks)")
    try:
        _landlock(workdir, private_tmp, notes)
    except Refused as refused:
        notes.missing.append(f"Landlock: {refused}: writes are not limited to workdir")


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


LANDLOCK_WRITE_ACCESS = ((1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9)
                         | (1 << 10) | (1 << 11) | (1 << 12))  # write file, remove, make anything
LANDLOCK_REFER, LANDLOCK_TRUNCATE = 1 << 13, 1 << 14             # ABI 2, ABI 3
LANDLOCK_TCP = (1 << 0) | (1 << 1)                               # ABI 4: bind, connect
LANDLOCK_SCOPES = (1 << 0) | (1 << 1)                            # ABI 6: abstract sockets, signals


def _landlock(workdir, private_tmp, notes):
    create, add_rule, restrict_self = SYS_LANDLOCK
    abi = _check(_libc.syscall(create, None, 0, 1), "landlock_create_ruleset")
    handled = (LANDLOCK_WRITE_ACCESS | (LANDLOCK_REFER if abi >= 2 else 0)
               | (LANDLOCK_TRUNCATE if abi >= 3 else 0))
    network = LANDLOCK_TCP if abi >= 4 else 0
    scoped = LANDLOCK_SCOPES if abi >= 6 else 0
    attr = struct.pack("QQQ", handled, network, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _check(_libc.syscall(create, attr[:size], size, 0), "landlock_create_ruleset")
    try:
        for path, access in ((workdir, handled), (private_tmp, handled), ("/dev/null", 1 << 1)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = struct.pack("=Qi", access, fd)  # /dev/null: "write file" only, fit for a file
                _check(_libc.syscall(add_rule, ruleset, 1, rule, 0), f"landlock_add_rule({path})")
            finally:
                os.close(fd)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(_libc.syscall(restrict_self, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    notes.applied.append(f"Landlock ABI {abi}: writes only in workdir and its .tmp")
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

def _limit(cpu_seconds, memory_bytes, notes):
    if cpu_seconds:
        seconds = int(-(-cpu_seconds // 1))  # whole seconds, rounded up
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
        notes.applied.append(f"RLIMIT_CPU {seconds} s")
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        notes.applied.append(f"RLIMIT_AS {memory_bytes} bytes")


def _drop_privileges(notes):
    """No capabilities now or after an exec, and no way to regain any (setuid files included)."""
    last = int(_get("/proc/sys/kernel/cap_last_cap"))
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
            notes = enter(folder, cpu_seconds=5, max_processes=4)
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
