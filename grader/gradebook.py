"""Writing the gradebook: one CSV row per student, safe to open in a spreadsheet, never half written."""
import csv
import os
import tempfile
from pathlib import Path

from grader.intake import LMS_NAMES

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
ID_COLUMN = "lms id"  # right after the student's name: who the row is, as the LMS knows them


def identity(student):
    """A row's identifier: "Moodle 123456" (participant id), "Canvas 12345" (user id), or "" for a
    student known by their folder only (their name is unique in the class)."""
    if student.lms_id is None:
        return ""
    return f"{LMS_NAMES.get(student.lms, student.lms)} {student.lms_id}"


def cell(text):
    """A student's name as a spreadsheet shows it, never run as a formula; a name that is not valid
    Unicode (a folder name that is not UTF-8) is written with its odd bytes escaped (`\\udcff`)."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return "'" + text if text.startswith(FORMULA_START) else text


def check_writable(path, option="--gradebook"):
    """A clear error before grading starts, not after: the output's folder must be writable."""
    path = Path(path).expanduser()
    folder = path.resolve().parent
    if option.startswith("--feedback"):  # a folder of pages: it may not exist yet, its parent must
        folder = folder.parent if not folder.is_dir() else folder
    if not folder.is_dir():
        return f"{option}: the folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{option}: the folder {folder} is not writable"
    if path.is_dir() and not option.startswith("--feedback"):
        return f"{option}: is a folder; give a file name such as grades.csv"
    return None


def write(path, header, rows):
    """Write the CSV next to its final place, then rename: never half a gradebook."""
    path = Path(path).expanduser()
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False, newline="", encoding="utf-8", errors="backslashreplace")
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([cell(row[0]), *row[1:]] for row in rows)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)  # the user's usual permissions, not the temp file's 0600
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise
