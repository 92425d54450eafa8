"""The files a contained notebook sees: one list, read top to bottom, and nothing else of the machine.

`declare(home, data)` says what the root of a student file's process holds, the way bubblewrap's
command line does (`--ro-bind /usr /usr --tmpfs /tmp --dev /dev ...`); `describe` prints it so;
`build` makes it in a new mount namespace and moves the process into it (pivot_root), so that the
machine's own root is gone from its sight: not the project (solutions, grader, tests, .git), not
any class, zip or earlier run, not /home, /root, the host's /tmp or /run, no Unix socket of the host.

What is there:
- the software the notebook runs on, read-only: /usr (with /bin, /lib... as on the host) and the
  Python installation and environment the grader runs in (their folders only);
- a few files of /etc written for it (passwd, group, hosts), and the loader's cache;
- its own /dev (null, zero, full, random, urandom, tty), /proc (its own PID namespace), and /tmp;
- its home, /home/student: a copy of the student's folder in a size-capped tmpfs;
- the course data, read-only, at /course/data.
Where the grader's own package lies inside one of those folders (installed without `-e`), it is
covered by an empty folder. Everything it writes lands in memory capped in size, and is gone with it.
"""
import ctypes
import errno
import os
import stat
import sys
from dataclasses import dataclass

__all__ = ["HOME", "DATA", "Mount", "declare", "describe", "build", "copy_folder", "python_folders"]

HOME = "/home/student"
DATA = "/course/data"
ETC = {"/etc/passwd": "student:x:{uid}:{gid}:Student:/home/student:/bin/sh\n",
       "/etc/group": "student:x:{gid}:\n",
       "/etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
       "/etc/hostname": "notebook\n"}
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # merged /usr: links into it
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
MAX_DEPTH = 8          # folders below the student's folder that are copied
MAX_ENTRIES = 5000     # files and folders copied at the most

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
AT_FDCWD, AT_RECURSIVE, MNT_DETACH = -100, 0x8000, 2
SYS_MOUNT_SETATTR = 442
SYS_PIVOT_ROOT = {"aarch64": 41, "arm64": 41}.get(os.uname().machine, 155)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class Refused(Exception):
    """The kernel refused a step; the message says which and why."""


def _check(result, what):
    if result < 0:
        code = ctypes.get_errno()
        raise Refused(f"{what}: {errno.errorcode.get(code, code)} ({os.strerror(code)})")
    return result


@dataclass(frozen=True)
class Mount:
    """One line of the declaration: what is at `target` inside, and where it comes from."""
    kind: str          # tmpfs, ro-bind, symlink, file, dev, proc, home, cover
    target: str
    source: str = ""   # the host path (ro-bind, home), the link's value (symlink), the text (file)
    size: int = 0      # bytes (tmpfs, home)

    def __str__(self):
        shown = {"tmpfs": f"--tmpfs {self.target} (size {self.size // 2**20} MiB)",
                 "ro-bind": f"--ro-bind {self.source} {self.target}",
                 "symlink": f"--symlink {self.source} {self.target}",
                 "file": f"--file {self.target} (written for it)",
                 "dev": f"--dev {self.target} ({', '.join(DEVICES)}, a private shm)",
                 "proc": f"--proc {self.target} (its own PID namespace, read-only)",
                 "home": f"--copy {self.source} {self.target} (a tmpfs of {self.size // 2**20} MiB)",
                 "cover": f"--cover {self.target} (an empty folder: the grader's own code)"}
        return shown[self.kind]


def python_folders():
    """The folders of the Python installation and environment this process runs in."""
    folders = []
    for prefix in (sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix):
        folder = os.path.realpath(prefix)
        if os.path.isdir(folder) and folder not in folders:
            folders.append(folder)
    return folders


def _outermost(folders):
    """The folders not inside another of them, in order."""
    kept = []
    for folder in sorted(set(folders), key=len):
        if not any(folder == outer or folder.startswith(outer.rstrip("/") + "/") for outer in kept):
            kept.append(folder)
    return kept


def declare(home, data=None, home_bytes=256 * 2**20, tmp_bytes=256 * 2**20, secret=()):
    """The whole root of a contained process, in the order it is built.

    home: the student's folder, copied into the process's own home; data: the course data folder;
    secret: folders that must not be seen even where a folder above them is (the grader's own
    package and the project, should they lie inside the Python installation)."""
    # /tmp first: a bind below it (Python or the project cloned under /tmp) then lands inside it
    mounts = [Mount("tmpfs", "/", size=2**20), Mount("tmpfs", "/tmp", size=tmp_bytes), Mount("ro-bind", "/usr", "/usr")]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            mounts.append(Mount("symlink", link, os.readlink(link)))
        elif os.path.isdir(link):
            mounts.append(Mount("ro-bind", link, link))
    software = _outermost(["/usr", *[folder for folder in python_folders()]])
    mounts += [Mount("ro-bind", folder, folder) for folder in software if folder != "/usr"]
    uid, gid = os.geteuid(), os.getegid()
    mounts += [Mount("file", path, text.format(uid=uid, gid=gid)) for path, text in ETC.items()]
    if os.path.isfile("/etc/ld.so.cache"):
        mounts.append(Mount("ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"))
    if os.path.islink("/etc/localtime"):
        mounts.append(Mount("symlink", "/etc/localtime", os.readlink("/etc/localtime")))
    mounts += [Mount("dev", "/dev"), Mount("proc", "/proc"), Mount("home", HOME, os.path.realpath(home), size=home_bytes)]
    if data:
        mounts.append(Mount("ro-bind", DATA, os.path.realpath(data)))
    for folder in _outermost(os.path.realpath(path) for path in secret):
        if any(folder.startswith(bound.rstrip("/") + "/") for bound in software):
            mounts.append(Mount("cover", folder))
    return mounts


def describe(mounts):
    """The declaration as bubblewrap would say it, one line each."""
    return [str(mount) for mount in mounts]


# ---------------------------------------------------------------------------------------------
# Building it: in a process that has just unshared its mount namespace (and is in the PID
# namespace whose /proc it mounts), with the capabilities to mount (root, or a user namespace).

def build(mounts, skip=lambda name: False, alone=True):
    """Make the declared root and move this process into it (and, unless `alone`, every other
    process of its mount namespace); the host's root is out of reach.

    Returns what could not be had, one line each (empty when everything was built). `skip(name)`
    says which of the student's folders the copy of home leaves out (hidden, caches, venvs)."""
    missing = []
    sources = {}
    try:
        # Opened first: the new root is mounted over /tmp, where a source may lie.
        for mount in mounts:
            if mount.kind in ("ro-bind", "home"):
                sources[mount.target] = os.open(mount.source, os.O_PATH | os.O_CLOEXEC)
        folders = {target for target, fd in sources.items() if stat.S_ISDIR(os.fstat(fd).st_mode)}
        devices = _open_devices()
        _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make the mounts private")
        new = "/tmp"
        root_options = f"size={mounts[0].size},mode=755".encode()
        _check(_libc.mount(b"tmpfs", new.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, root_options), "mount the new root")
        for mount in mounts[1:]:
            path = new + mount.target
            if mount.kind == "ro-bind":
                _bind(sources[mount.target], path, mount.target in folders)  # asked before /tmp was covered
            elif mount.kind == "symlink":
                os.makedirs(os.path.dirname(path), exist_ok=True)
                os.symlink(mount.source, path)
            elif mount.kind == "file":
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
                try:
                    _write_all(fd, mount.source.encode())
                finally:
                    os.close(fd)
            elif mount.kind == "dev":
                _dev(devices, path)
            elif mount.kind == "proc":
                os.makedirs(path, exist_ok=True)
                missing += _proc(path)
            elif mount.kind == "tmpfs":
                _tmpfs(path, mount.size, mode=0o1777)
            elif mount.kind == "home":
                _tmpfs(path, mount.size, mode=0o755)
                left_out = copy_folder(f"/proc/self/fd/{sources[mount.target]}", path, mount.size // 2, skip)
                if left_out:
                    missing.append(f"home: {left_out}")
            elif mount.kind == "cover":
                _tmpfs(path, 4096, mode=0o755)
                _read_only(path)
        _read_only(new)  # the root's own folders and files; the mounts in it keep their own flags
    finally:
        for fd in sources.values():
            os.close(fd)
    _enter(new, alone)
    return missing


def _bind(fd, path, is_folder):
    if is_folder:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
    attributes = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
    if _mount_setattr(path.encode(), AT_RECURSIVE, attr_set=attributes) < 0:
        _read_only(path)  # a kernel before 5.12: this mount alone (its submounts stay as they are)


def _tmpfs(path, size, mode):
    os.makedirs(path, exist_ok=True)
    _check(_libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                       f"size={max(size, 4096)},mode={mode:o}".encode()), f"mount a tmpfs on {path}")


def _proc(path):
    # Read-only: as root, the user ID inside is root's, and /proc/sys (core_pattern...) would take
    # writes from it. Mounted while the host's /proc is still in the namespace (the kernel wants one).
    if _libc.mount(b"proc", path.encode(), b"proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None) == 0:
        return []
    code = ctypes.get_errno()
    return [f"a private /proc ({errno.errorcode.get(code, code)}): /proc is empty"]


def _open_devices():
    sources = {}
    for name in DEVICES:
        try:
            sources[name] = os.open(f"/dev/{name}", os.O_PATH | os.O_CLOEXEC)
        except OSError:
            pass
    return sources


def _dev(sources, path):
    """A /dev of its own: the harmless character devices, /dev/fd and friends, a private /dev/shm.
    Read-only mounts do not stop writes to a device node, and root owns the disks."""
    os.makedirs(path, exist_ok=True)
    _check(_libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NOEXEC, b"size=64k,mode=755"),
           "mount a private /dev")
    for name, fd in sources.items():
        node = f"{path}/{name}"
        device = os.fstat(fd)
        try:  # as root: a node of its own (cheaper than a mount)
            os.mknod(node, stat.S_IFCHR | 0o666, device.st_rdev)
            os.chmod(node, stat.S_IMODE(device.st_mode))
        except PermissionError:  # in a user namespace: the outside node, bind-mounted
            os.close(os.open(node, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
            _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), node.encode(), None, MS_BIND, None), f"bind {node}")
        os.close(fd)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{path}/{name}")
    _tmpfs(f"{path}/shm", 64 * 2**20, mode=0o1777)
    _read_only(path)


def _enter(new, alone):
    """Make `new` the root.

    alone (the only process of its mount namespace): move it over the old root, which it then
    covers, and chroot into it, as switch_root does. Without capabilities no way leads out: no
    chroot, no mount, no descriptor of a folder outside, and /proc shows no mount outside it.
    This costs a millisecond where detaching the old root waits for an RCU grace period (5 ms).
    Else pivot_root, which moves every process of the namespace (PID 1, say), then detach."""
    os.chdir(new)
    if alone:
        _check(_libc.mount(b".", b"/", None, MS_MOVE, None), "move the new root over /")
        _check(_libc.chroot(b"."), "chroot")
    else:
        _check(_libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
        _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")


def _mount_setattr(path, flags, attr_set=0, attr_clr=0, propagation=0):
    import struct
    attr = struct.pack("QQQQ", attr_set, attr_clr, propagation, 0)
    return _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path, flags, attr, len(attr))


def _read_only(path):
    """This mount (not those below it) read-only."""
    target = path.encode() if isinstance(path, str) else path
    if _mount_setattr(target, 0, attr_set=MOUNT_ATTR_RDONLY) < 0:
        flags = os.statvfs(target).f_flag & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        _check(_libc.mount(None, target, None, MS_BIND | MS_REMOUNT | flags | MS_RDONLY, None),
               f"make {target.decode()} read-only")


# ---------------------------------------------------------------------------------------------
# The student's folder, copied: regular files and folders only, never a link, a FIFO or a device,
# never deeper than MAX_DEPTH, no more than a budget of bytes; without recursion.

def copy_folder(source, target, max_bytes, skip=lambda name: False):
    """Copy what a notebook may use of `source` into the existing folder `target`.

    Returns a one-line summary of what was left out ("" when nothing was)."""
    left_out, budget, entries = [], max_bytes, 0
    stack = [(source, target, 0)]
    while stack:
        here, there, depth = stack.pop()
        try:
            with os.scandir(here) as listing:
                children = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in children:
            entries += 1
            if entries > MAX_ENTRIES:
                left_out.append(f"more than {MAX_ENTRIES} files and folders")
                stack.clear()
                break
            if entry.is_dir(follow_symlinks=False):
                if skip(entry.name):
                    continue
                if depth + 1 > MAX_DEPTH:
                    left_out.append(f"folders deeper than {MAX_DEPTH}")
                    continue
                os.mkdir(os.path.join(there, entry.name), 0o755)
                stack.append((entry.path, os.path.join(there, entry.name), depth + 1))
            elif entry.is_file(follow_symlinks=False):
                budget = _copy_file(entry.path, os.path.join(there, entry.name), budget, left_out)
    return "; ".join(dict.fromkeys(left_out))


def _copy_file(source, target, budget, left_out):
    try:  # never blocks on a FIFO, never follows a link, even if the file changed since it was listed
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return budget
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return budget
        if info.st_size > budget:
            left_out.append("files past the copy's size budget")
            return budget
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            copied = 0
            while copied < info.st_size and (chunk := os.read(fd, min(1 << 20, info.st_size - copied))):
                _write_all(out, chunk)
                copied += len(chunk)
        finally:
            os.close(out)
        return budget - info.st_size
    except OSError as error:
        if error.errno == errno.ENOSPC:
            left_out.append("files past the copy's size budget")
        return budget
    finally:
        os.close(fd)


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


if __name__ == "__main__":  # python -m grader.rootfs: what a graded file sees on this machine
    project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print("\n".join(describe(declare("STUDENT-FOLDER", os.path.join(project, "data"), secret=[project]))))
