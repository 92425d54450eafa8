"""Finding the students of a class and the files each one hands in.

A class is a folder of student folders, a folder of one student's files, a `.zip` of either, or
an LMS download: Moodle's `Full Name_123456_assignsubmission_file_/` folders, or Canvas's flat
`lastfirst_12345_67890_ex01_neuron.ipynb` files (with `LATE_` or a `-1` suffix). A student's files
are every `.ipynb` and `.py` below their folder, except checkpoints, hidden, editor and
environment folders. Whatever is passed over is listed with the reason, never silently dropped.
"""
import re
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CODE_SUFFIXES = (".ipynb", ".py")
IGNORED_FOLDERS = {"__pycache__", "__MACOSX", "venv", "env", "node_modules", "site-packages"}
MAX_DEPTH = 6                 # folders below a student's folder
MAX_FILES = 60                # code files of one student
MAX_FILE_BYTES = 20 * 2**20   # one notebook or script
MAX_ZIP_BYTES = 500 * 2**20   # everything a zip unpacks to
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?:file|onlinetext)_?$")
CANVAS = re.compile(r"^(?P<name>[^_]+)_(?:LATE_)?(?P<id>\d+)_\d+_(?P<file>.+)$")
CANVAS_COPY = re.compile(r"-\d+(?=\.(?:ipynb|py)$)")


class ClassError(Exception):
    """The class folder cannot be graded as given; the message says what to do."""


@dataclass
class Student:
    name: str
    folder: Path                                  # the folder the files are relative to
    files: list = field(default_factory=list)     # relative paths of the code files
    problems: list = field(default_factory=list)  # files passed over, with why
    lms: str | None = None                        # "moodle" or "canvas": the download it came from
    lms_id: str | None = None                     # Moodle participant id, Canvas user id (digits as given)

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return isinstance(other, Student) and other.name == self.name


def clean_name(name):
    """NFC, no control characters, one line: a name that prints and sorts as one student."""
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in name)
    return " ".join(name.split())[:120] or "(no name)"


def ignored_folder(name):
    return name.startswith((".", "_")) or name in IGNORED_FOLDERS or name.endswith(".egg-info")


def code_files(folder):
    """(relative paths of the student's code files, problems): the walk never follows links."""
    files, problems = [], []

    def walk(directory, depth):
        try:
            entries = sorted(directory.iterdir(), key=lambda p: p.name)
        except OSError as error:
            problems.append(f"{directory.relative_to(folder) or '.'}: cannot be read ({error.strerror})")
            return
        for entry in entries:
            relative = entry.relative_to(folder)
            if entry.is_symlink():
                problems.append(f"{relative}: a link, not followed")
            elif entry.is_dir():
                if ignored_folder(entry.name):
                    continue
                if depth >= MAX_DEPTH:
                    problems.append(f"{relative}: nested more than {MAX_DEPTH} folders deep, not read")
                else:
                    walk(entry, depth + 1)
            elif entry.suffix.lower() in CODE_SUFFIXES and not entry.name.startswith("."):
                try:
                    size = entry.stat().st_size
                except OSError as error:
                    problems.append(f"{relative}: cannot be read ({error.strerror})")
                    continue
                if size > MAX_FILE_BYTES:
                    problems.append(f"{relative}: {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit")
                elif len(files) >= MAX_FILES:
                    problems.append(f"{relative}: more than {MAX_FILES} code files, not read")
                else:
                    files.append(relative)

    walk(folder, 0)
    return files, problems


def student(name, folder):
    files, problems = code_files(folder)
    if not files:  # say what was there instead
        try:
            found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        except OSError:
            found = []
        problems.append("found: " + (", ".join(found[:8]) + (" ..." if len(found) > 8 else "") if found
                                     else "nothing, the folder is empty"))
    return Student(clean_name(name), folder, files, problems)


def unpack(archive, into):
    """Unpack a zip safely: no path outside `into`, no links, a size limit."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            total = 0
            for info in zipped.infolist():
                name = info.filename
                target = (into / name).resolve()
                if not str(target).startswith(str(into.resolve()) + "/") and target != into.resolve():
                    continue  # "../" or an absolute path: not unpacked
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                total += info.file_size
                if total > MAX_ZIP_BYTES:
                    raise ClassError(f"{archive} unpacks to more than {MAX_ZIP_BYTES // 2**20} MiB")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as source, open(target, "wb") as destination:
                    shutil.copyfileobj(source, destination)
    except zipfile.BadZipFile as error:
        raise ClassError(f"{archive} is not a readable zip file ({error})") from None
    entries = [p for p in into.iterdir() if not ignored_folder(p.name)]
    # A zip of one folder holding the class: grade that folder.
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


def canvas_class(files, into):
    """Group Canvas's flat files by the student's login, under their original file names; of a
    file handed in twice (`name-1.ipynb`), the later copy counts."""
    def order(path):
        match = CANVAS.match(path.name)
        copy = re.search(r"-(\d+)(?=\.(?:ipynb|py)$)", match.group("file"))
        return match.group("name"), CANVAS_COPY.sub("", match.group("file")), int(copy.group(1)) if copy else 0

    students = {}
    for path in sorted(files, key=order):
        name, original, _ = order(path)
        target = into / name / original
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        students.setdefault(name, (target.parent, CANVAS.match(path.name).group("id")))
    found = []
    for name, (folder, user_id) in sorted(students.items()):
        found.append(student(name, folder))
        found[-1].lms, found[-1].lms_id = "canvas", user_id
    return found


def find_class(path, workdir=None):
    """(students, passed_over): passed_over lists top-level entries that are not students, with why."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ClassError(f"--submissions {path}: no such file or folder")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="grader-class-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise ClassError(f"--submissions {path}: give a folder or a .zip file")
        target = workdir / "unzipped"
        target.mkdir(parents=True)
        path = unpack(path, target)
    try:
        entries = sorted(path.iterdir(), key=lambda p: p.name)
    except OSError as error:
        raise ClassError(f"--submissions {path}: cannot be read ({error.strerror})") from None
    folders = [p for p in entries if p.is_dir() and not p.is_symlink()]
    code = [p for p in entries if p.is_file() and p.suffix.lower() in CODE_SUFFIXES]
    canvas = [p for p in code if CANVAS.match(p.name)]
    passed_over = []
    if canvas and len(canvas) == len(code):
        grouped = workdir / "canvas"
        students = canvas_class(canvas, grouped)
        others = [p for p in entries if p not in canvas]
    elif code:
        student_folders = [p for p in folders if not ignored_folder(p.name) and code_files(p)[0]]
        if student_folders:
            raise ClassError(
                f"--submissions {path}: it holds both code files ({', '.join(p.name for p in code[:3])}) and "
                f"student folders ({', '.join(p.name for p in student_folders[:3])}). Move the stray files into "
                f"a student's folder, or give one student's folder to grade that student alone.")
        return [student(path.resolve().name, path)], passed_over
    else:
        students = []
        for folder in folders:
            if ignored_folder(folder.name):
                passed_over.append((folder.name, "a hidden or system folder (starts with '.' or '_')"))
                continue
            match = MOODLE.match(folder.name)
            students.append(student(match.group("name") if match else folder.name, folder))
            if match:
                students[-1].lms, students[-1].lms_id = "moodle", match.group("id")
        others = [p for p in entries if p not in folders]
    for other in others:
        if other.is_symlink():
            passed_over.append((other.name, "a link, not followed"))
        elif other.is_file():
            passed_over.append((other.name, "a file at the top of the class folder, not in a student's folder"))
    if not students:
        raise ClassError(f"--submissions {path}: no student folders and no notebooks or scripts in it")
    names = {}
    for one in students:  # two folders whose names normalise alike: keep both, told apart
        count = names.get(one.name, 0)
        names[one.name] = count + 1
        if count:
            one.name = f"{one.name} ({count + 1})"
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
