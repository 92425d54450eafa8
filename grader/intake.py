"""Finding the students of a class and the files each one hands in; all of it is hostile input.

A class is a folder of student folders, a folder of one student's files, a `.zip` of either, or
an LMS download: Moodle's `Full Name_123456_assignsubmission_file_/` folders, or Canvas's flat
`lastfirst_12345_67890_ex01_neuron.ipynb` files (with `LATE_` or a `-1` suffix). A student's files
are every `.ipynb` and `.py` below their folder, except checkpoints, hidden, editor and
environment folders. Whatever is passed over is listed with the reason, never silently dropped.

A student is who the LMS says (Moodle's participant id, Canvas's user id), so namesakes never
merge; names that collide once normalised are marked on every row. Only regular files are
opened (never a link, FIFO or device), names that are not UTF-8 are shown escaped, walks and
clean-up have no recursion, and depth, sizes and counts are capped.
"""
import bisect
import os
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

CODE_SUFFIXES = (".ipynb", ".py")
IGNORED_FOLDERS = {"__pycache__", "__MACOSX", "venv", "env", "node_modules", "site-packages"}
MAX_DEPTH = 6                 # folders below a student's folder
MAX_FILES = 60                # code files of one student
MAX_ENTRIES = 20000           # files and folders in one student's folder
MAX_COPY_DEPTH = 32           # folders below a student's folder that grading would copy
MAX_FILE_BYTES = 20 * 2**20   # one notebook or script (or any one file of a zip)
MAX_ZIP_BYTES = 500 * 2**20   # everything a zip unpacks to
MAX_ZIP_ENTRIES = 20000
MAX_ZIP_DEPTH = MAX_DEPTH + 3  # folders of a zip entry's path: a class folder, a student's, theirs, one more
MAX_LISTED = 40               # skipped zip entries listed one by one
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?:file|onlinetext)_?$")
CANVAS = re.compile(r"^(?P<name>[^_]+)_(?:LATE_)?(?P<id>\d+)_\d+_(?P<file>.+)$")
CANVAS_COPY = re.compile(r"-(\d+)(?=\.(?:ipynb|py)$)")
LMS_NAMES = {"moodle": "Moodle", "canvas": "Canvas"}


class ClassError(Exception):
    """The class folder cannot be graded as given; the message says what to do."""


@dataclass
class Student:
    name: str                                     # unique in the class; what the rows show
    folder: Path                                  # the folder the files are relative to
    files: list = field(default_factory=list)     # relative paths of the code files
    problems: list = field(default_factory=list)  # files passed over, with why
    lms: str | None = None                        # "moodle" or "canvas"
    lms_id: str | None = None                     # Moodle's participant id, Canvas's user id

    @property
    def key(self):
        """Who the student is: the LMS's id when there is one, else the name (unique in a class)."""
        return (self.lms, self.lms_id) if self.lms_id is not None else (None, self.name)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, Student) and other.key == self.key


# --- names that print, and names told apart -------------------------------------------------------

def not_utf8(text):
    """True for a name read from disk with bytes that are not UTF-8 (Python's surrogate escapes)."""
    return any(0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


def escaped(ch):
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text):
    """A path or name as it can be printed and written as UTF-8: bytes that were not UTF-8 as
    \\xNN, control and invisible characters as \\uNNNN."""
    return "".join(escaped(ch) if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
                   else ch for ch in text)


def spelled(raw):
    """A folder's exact name, to tell look-alikes apart: every character that normalising would
    change or that does not show (combining marks, invisible, non-UTF-8) as an escape."""
    return "".join(ch if ch == " " or (unicodedata.category(ch)[0] not in "CMZ"
                                       and unicodedata.normalize("NFC", ch) == ch) else escaped(ch)
                   for ch in raw)[:160]


def clean_name(name):
    """NFC, no control characters, one line: a name that prints and sorts as one student."""
    name = "".join(escaped(ch) if 0xDC80 <= ord(ch) <= 0xDCFF else ch for ch in name)
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in name)
    return " ".join(name.split())[:120] or "(no name)"


def mark(student, raw):
    """Who a student is, for a name shared with a classmate: the LMS id, or the folder's exact name."""
    if student.lms_id is not None:
        return f"[{LMS_NAMES.get(student.lms, student.lms)} {student.lms_id}]"
    return f"(folder '{spelled(raw)}')"


def tell_apart(students, raw_names):
    """Names that collide once normalised are marked on EVERY row with who the student is, so no
    look-alike or namesake takes another's row; a name made to look like a mark is marked again,
    and whatever still collides is numbered. `raw_names`: id(student) -> the folder's name."""
    for _ in range(2):
        groups = {}
        for one in students:
            groups.setdefault(one.name, []).append(one)
        for group in groups.values():
            if len(group) > 1:
                for one in group:
                    one.name = f"{one.name} {mark(one, raw_names[id(one)])}"
    taken = set()
    for one in students:
        base, number = one.name, 1
        while one.name in taken:
            number += 1
            one.name = f"{base} #{number}"
        taken.add(one.name)


# --- what is on disk, read without following links or opening anything but regular files --------

def kind_of(mode):
    """What a directory entry is, from its lstat mode: "file", "folder", or in words."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISLNK(mode):
        return "a link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def lstat_kind(path):
    try:
        return kind_of(os.lstat(path).st_mode)
    except OSError:
        return "unreadable"


def ignored_folder(name):
    return name.startswith((".", "_")) or name in IGNORED_FOLDERS or name.endswith(".egg-info")


def listing(folder, relative, problems):
    """The entries of one folder, sorted by name; a folder that cannot be read is a problem."""
    try:
        with os.scandir(folder / relative) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as error:
        problems.append(f"{printable(str(relative))}: cannot be read ({error.strerror})")
        return []


def walk(folder):
    """(code files, other files, problems) below a student's folder: relative paths in the
    order of a depth-first walk by name, never through a link, without recursion. Code files are
    read MAX_DEPTH folders deep; the rest is looked through for what no run can use, listed in
    `problems` (a FIFO or device is never opened, nor copied: rootfs.copy_folder leaves it out),
    down to MAX_COPY_DEPTH and MAX_ENTRIES."""
    files, others, problems = [], [], []
    stack = [(0, iter(listing(folder, Path(), problems)))]
    seen = 0
    while stack:
        depth, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        seen += 1
        if seen > MAX_ENTRIES:
            problems.append(f"more than {MAX_ENTRIES} files and folders: the rest is not read")
            break
        relative = Path(entry.path).relative_to(folder)
        shown = printable(str(relative))
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as error:
            problems.append(f"{shown}: cannot be read ({error.strerror})")
            continue
        kind = kind_of(info.st_mode)
        if kind == "folder":
            if ignored_folder(entry.name):
                continue
            if depth == MAX_DEPTH:
                problems.append(f"{shown}: nested more than {MAX_DEPTH} folders deep, not read")
            if depth >= MAX_COPY_DEPTH:
                problems.append(f"folders nested more than {MAX_COPY_DEPTH} deep "
                                f"({printable(str(relative))[:80]}...): not read")
            else:
                stack.append((depth + 1, iter(listing(folder, relative, problems))))
        elif kind == "a link":
            problems.append(f"{shown}: a link, not followed")
        elif kind != "file":
            problems.append(f"{shown}: {kind}, never opened, left out")
        elif depth > MAX_DEPTH:
            continue
        elif not (relative.suffix.lower() in CODE_SUFFIXES and not entry.name.startswith(".")):
            others.append(relative)
        elif not_utf8(str(relative)):
            problems.append(f"{shown}: its name is not valid UTF-8 (shown with \\x escapes), not read: "
                            f"rename it to have it graded")
        elif info.st_size > MAX_FILE_BYTES:
            problems.append(f"{shown}: {info.st_size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit")
        elif len(files) >= MAX_FILES:
            problems.append(f"{shown}: more than {MAX_FILES} code files, not read")
        else:
            files.append(relative)
    return files, others, problems


def code_files(folder):
    """(relative paths of the student's code files, problems)."""
    files, _, problems = walk(Path(folder))
    return files, problems


def student(name, folder, lms=None, lms_id=None, problems=()):
    files, others, found_problems = walk(folder)
    problems = [*problems, *found_problems]
    if not files:  # say what was there instead
        shown = [printable(str(path)) for path in others[:9]]
        problems.append("found: " + (", ".join(shown[:8]) + (" ..." if len(shown) > 8 else "") if shown
                                     else "no other file"))
    return Student(clean_name(name), folder, files, problems, lms, lms_id)


def code_mentions(students, word):
    """Whether a code file of one of the students holds `word` (bytes): the fork server imports
    scikit-learn only for a class whose code names it. A file that cannot be read mentions nothing."""
    for one in students:
        for relative in one.files:
            try:
                if word in read_regular_file(one.folder / relative):
                    return True
            except (ValueError, OSError):  # grading will say what is wrong with the file
                continue
    return False


def read_regular_file(path):
    """The bytes of a file that must be a regular file of at most MAX_FILE_BYTES, or a ValueError
    saying what it is: opened without following a link or blocking on a FIFO, checked once open."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise ValueError("a link, not followed" if os.path.islink(path) else
                         f"cannot be read ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        kind = kind_of(info.st_mode)
        if kind != "file":
            raise ValueError(f"{kind}, not a file: not read")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"{info.st_size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit")
        return handle.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES]


def remove_tree(path):
    """Remove a folder however deep it is (shutil.rmtree recurses, and fails on paths longer than
    the system allows): one folder open at a time, by name relative to it, never through a link.
    Best effort: what cannot be removed (a folder a student's code made unreadable) is left."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    names, stuck = [], set()   # the folders walked into, from `path` down; folders that would not go
    while True:
        child = None
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if (len(names), entry.name) not in stuck:
                            child = entry.name
                    else:
                        try:
                            os.unlink(entry.name, dir_fd=fd)
                        except OSError:
                            pass
                    if child:
                        break
        except OSError:
            pass
        if child is not None:
            try:
                inner = os.open(child, flags, dir_fd=fd)
            except OSError:
                stuck.add((len(names), child))
                continue
            os.close(fd)
            fd, names = inner, names + [child]
            continue
        if not names:
            os.close(fd)
            try:
                os.rmdir(path)
            except OSError:
                pass
            return
        parent = os.open("..", flags, dir_fd=fd)
        os.close(fd)
        fd, name = parent, names.pop()
        try:
            os.rmdir(name, dir_fd=fd)
        except OSError:
            stuck.add((len(names), name))


# --- a zip, entry by entry ------------------------------------------------------------------------

class FlagsCleared:
    """A zip file as zipfile reads it, with the "name is UTF-8" flag cleared at the given offsets
    (zipfile refuses a whole archive for one entry whose name claims UTF-8 and is not)."""

    def __init__(self, handle, offsets):
        self.handle, self.offsets = handle, sorted(offsets)

    def read(self, size=-1):
        position = self.handle.tell()
        data = self.handle.read(size)
        first = bisect.bisect_left(self.offsets, position)
        last = bisect.bisect_left(self.offsets, position + len(data))
        if first == last:
            return data
        data = bytearray(data)
        for offset in self.offsets[first:last]:
            data[offset - position] &= 0xFF ^ 0x08  # bit 11 of the little-endian flags
        return bytes(data)

    def seek(self, *args):
        return self.handle.seek(*args)

    def tell(self):
        return self.handle.tell()

    def seekable(self):
        return True


def names_not_utf8(handle):
    """(offsets of the flags' high byte, indices) of the central directory's entries whose name
    claims to be UTF-8 and is not."""
    end = zipfile._EndRecData(handle)  # the same reading of the directory's place as zipfile's
    if not end:
        raise zipfile.BadZipFile("no central directory")
    size = end[zipfile._ECD_SIZE]
    start = end[zipfile._ECD_LOCATION] - size
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    handle.seek(start)
    directory = handle.read(size)
    offsets, indices, position, index = [], set(), 0, 0
    while position + 46 <= len(directory) and directory[position:position + 4] == b"PK\x01\x02":
        flags, = struct.unpack_from("<H", directory, position + 8)
        name_length, extra_length, comment_length = struct.unpack_from("<3H", directory, position + 28)
        if flags & 0x800:
            try:
                directory[position + 46:position + 46 + name_length].decode("utf-8")
            except UnicodeDecodeError:
                offsets.append(start + position + 9)
                indices.add(index)
        position += 46 + name_length + extra_length + comment_length
        index += 1
    return offsets, indices


def open_zip(handle):
    """(ZipFile, indices of the entries whose names are not UTF-8)."""
    try:
        return zipfile.ZipFile(handle), set()
    except UnicodeDecodeError:
        offsets, indices = names_not_utf8(handle)
        return zipfile.ZipFile(FlagsCleared(handle, offsets)), indices


def entry_problem(info, not_utf8_name):
    """Why a zip entry is not unpacked, or None."""
    name = info.filename
    if not_utf8_name:
        return "its name is not valid UTF-8"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "a '..' in its path, which could reach another student's folder"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a link"
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "a device or special file"
    if len(entry_parts(name)) - (not info.is_dir()) > MAX_ZIP_DEPTH:
        return f"nested more than {MAX_ZIP_DEPTH} folders deep"
    if not info.is_dir() and info.file_size > MAX_FILE_BYTES:
        return f"{info.file_size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit"
    return None


def entry_parts(name):
    return [part for part in name.split("/") if part not in ("", ".")]


def make_folders(into, parts):
    """into/parts..., one folder at a time (Path.mkdir(parents=True) recurses); never through a link."""
    folder = into
    for part in parts:
        folder = folder / part
        try:
            os.mkdir(folder)
        except FileExistsError:
            if lstat_kind(folder) != "folder":
                raise NotADirectoryError(20, "a file of the same name is in the way") from None
    return folder


def unpack_entry(zipped, info, into):
    parts = entry_parts(info.filename)
    if info.is_dir():
        make_folders(into, parts)
        return
    target = make_folders(into, parts[:-1]) / parts[-1]
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with zipped.open(info) as source, os.fdopen(descriptor, "wb") as destination:
            while chunk := source.read(2**20):
                destination.write(chunk)
    except BaseException:
        os.unlink(target)
        raise


def unpack(archive, into):
    """Unpack a zip entry by entry: (the class folder, [(entry, why it was not unpacked)]).
    Nothing lands outside `into` or crosses from one folder to another, no links or devices;
    names that are not UTF-8, oversized or too many entries are skipped, each with the reason."""
    skipped, total = [], 0
    try:
        with open(archive, "rb") as handle:
            zipped, bad_names = open_zip(handle)
            with zipped:
                for index, info in enumerate(zipped.infolist()):
                    shown = printable(info.orig_filename if index not in bad_names else
                                      info.orig_filename.encode("cp437").decode("utf-8", "surrogateescape"))
                    if index >= MAX_ZIP_ENTRIES:
                        skipped.append((shown, f"and the {len(zipped.infolist()) - index - 1} entries after it: "
                                               f"more than {MAX_ZIP_ENTRIES} entries, not unpacked"))
                        break
                    problem = entry_problem(info, index in bad_names)
                    if problem is None and total + info.file_size > MAX_ZIP_BYTES:
                        problem = f"the zip unpacks to more than {MAX_ZIP_BYTES // 2**20} MiB: not unpacked"
                    if problem is None:
                        try:
                            unpack_entry(zipped, info, into)
                            total += info.file_size
                        except FileExistsError:
                            problem = "twice in the zip: the first copy is kept"
                        except (OSError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError,
                                RuntimeError) as error:
                            problem = f"cannot be unpacked ({getattr(error, 'strerror', None) or error})"
                    if problem:
                        skipped.append((shown, problem))
    except zipfile.BadZipFile as error:
        raise ClassError(f"{archive} is not a readable zip file ({error})") from None
    if len(skipped) > MAX_LISTED:
        skipped[MAX_LISTED:] = [(f"{len(skipped) - MAX_LISTED} more entries", "not unpacked either")]
    skipped = [(f"{Path(archive).name}: {name}", why) for name, why in skipped]
    entries = [path for path in into.iterdir() if not ignored_folder(path.name)]
    # A zip of one folder holding the class: grade that folder.
    return (entries[0] if len(entries) == 1 and lstat_kind(entries[0]) == "folder" else into), skipped


# --- the layouts -----------------------------------------------------------------------------------

def canvas_class(files, into):
    """Group Canvas's flat files by the student's user id, under their original file names (of a
    file handed in twice, `name-1.ipynb`, the later copy counts): (students, names they go by)."""
    def order(path):
        match = CANVAS.match(path.name)
        copy = CANVAS_COPY.search(match.group("file"))
        return (int(match.group("id")), match.group("id"), CANVAS_COPY.sub("", match.group("file")),
                int(copy.group(1)) if copy else 0)

    names, problems = {}, {}
    into.mkdir(parents=True, exist_ok=True)
    for path in sorted(files, key=order):
        match = CANVAS.match(path.name)
        _, user, original, _ = order(path)
        names.setdefault(user, match.group("name"))
        problems.setdefault(user, [])
        folder = make_folders(into, [user])
        try:
            data = read_regular_file(path)
        except ValueError as error:
            problems[user].append(f"{printable(path.name)}: {error}")
            continue
        target = folder / printable(original)  # a name that was not UTF-8, with its bytes as \xNN
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    students = [student(names[user], into / user, "canvas", user, problems[user]) for user in names]
    raw = {id(one): names[one.lms_id] for one in students}
    return sorted(students, key=lambda one: (one.name, int(one.lms_id))), raw


def moodle_or_folders(folders, passed_over):
    """One student per folder; Moodle's folders are one student per participant id."""
    students, raw, by_id = [], {}, {}
    for folder in folders:
        if ignored_folder(folder.name):
            passed_over.append((printable(folder.name), "a hidden or system folder (starts with '.' or '_')"))
            continue
        match = MOODLE.match(folder.name)
        if match is None:
            one = student(folder.name, folder)
            raw[id(one)] = folder.name
        else:
            one = student(match.group("name"), folder, "moodle", match.group("id"))
            raw[id(one)] = match.group("name")
            earlier = by_id.get(one.lms_id)
            if earlier is not None:  # one participant, two folders (e.g. _file_ and _onlinetext_)
                keep, drop = (one, earlier) if one.files and not earlier.files else (earlier, one)
                passed_over.append((printable(drop.folder.name), f"the same Moodle participant ({one.lms_id}) as "
                                    f"'{printable(keep.folder.name)}': only that folder is graded"))
                if keep is earlier:
                    continue
                students = [other for other in students if other is not earlier]
            by_id[one.lms_id] = one
        students.append(one)
    return students, raw


def find_class(path, workdir=None):
    """(students, passed_over): passed_over lists what is not a student, or not unpacked, with why.
    A zip is unpacked and Canvas's files are grouped in `workdir`: the caller makes it and removes
    it (remove_tree), whatever happens."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ClassError(f"--submissions {path}: no such file or folder")
    passed_over = []
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise ClassError(f"--submissions {path}: give a folder or a .zip file")
        if workdir is None:
            raise ValueError("find_class: a zip is unpacked into a workdir; give one")
        target = Path(workdir) / "unzipped"
        target.mkdir(parents=True)
        path, passed_over = unpack(path, target)
    try:
        entries = sorted(path.iterdir(), key=lambda p: p.name)
    except OSError as error:
        raise ClassError(f"--submissions {path}: cannot be read ({error.strerror})") from None
    kinds = {entry: lstat_kind(entry) for entry in entries}
    folders = [p for p in entries if kinds[p] == "folder"]
    code = [p for p in entries if kinds[p] == "file" and p.suffix.lower() in CODE_SUFFIXES]
    canvas = [p for p in code if CANVAS.match(p.name)]
    if canvas and len(canvas) == len(code):
        if workdir is None:
            raise ValueError("find_class: Canvas's files are grouped in a workdir; give one")
        students, raw = canvas_class(canvas, Path(workdir) / "canvas")
        others = [p for p in entries if p not in set(canvas)]
    elif code:
        student_folders = [p for p in folders if not ignored_folder(p.name) and code_files(p)[0]]
        if student_folders:
            raise ClassError(
                f"--submissions {path}: it holds both code files ({', '.join(printable(p.name) for p in code[:3])}) "
                f"and student folders ({', '.join(printable(p.name) for p in student_folders[:3])}). Move the "
                f"stray files into a student's folder, or give one student's folder to grade that student alone.")
        return [student(path.resolve().name, path)], passed_over
    else:
        students, raw = moodle_or_folders(folders, passed_over)
        others = [p for p in entries if kinds[p] != "folder"]
    for other in others:
        kind = kinds[other]
        if kind == "a link":
            passed_over.append((printable(other.name), "a link, not followed"))
        elif kind == "file":
            passed_over.append((printable(other.name), "a file at the top of the class folder, not in a student's folder"))
        else:
            passed_over.append((printable(other.name), f"{kind}, not a file or a folder: not read"))
    if not students:
        raise ClassError(f"--submissions {path}: no student folders and no notebooks or scripts in it")
    tell_apart(students, raw)
    return students, passed_over


# --- which exercise a file is for, from its name -------------------------------------------------

EXERCISE_NUMBER = re.compile(r"ex(?:ercise|ercice|o)?[ _-]?0*(\d{1,3})(?!\d)", re.IGNORECASE)  # exo: French
TOPIC_WORDS = [(1, r"neuron(?!al)|perceptron"), (2, r"neural.?net|network"), (3, r"log.?loss|logloss|entropy"),
               (4, r"forward|propagation|exam"), (5, r"regression|physics"), (6, r"train|backprop|gradient")]


def exercises_named(relative_path):
    """The exercises a file's path names: {4} for ex04.ipynb, exN/..., Notebook_ex114, forward_propagation."""
    text = str(relative_path)
    found = set()
    for match in EXERCISE_NUMBER.finditer(text):
        digits = match.group(1)
        number = int(digits[-1]) if len(digits) == 3 else int(digits)
        if 1 <= number <= 6:
            found.add(number)
    if not found:
        for number, words in TOPIC_WORDS:
            if re.search(words, text, re.IGNORECASE):
                found.add(number)
    return found
