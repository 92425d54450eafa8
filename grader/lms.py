"""Handing the grades back to the LMS: fills Moodle's grading worksheet and Canvas's gradebook export, zips Moodle feedback files.

The instructor downloads a file from the LMS; the grader writes a copy with the graded students'
points (and, for Moodle, a short comment) filled in, every other byte as it was, for the LMS's own
importer (README, "Back to the LMS"). The importers' rules followed here:

- Moodle, "Upload grading worksheet" (assignfeedback_offline): the columns are found by their exact
  English headers "Identifier" ("Participant 123456": the id the download's folder names carry),
  "Grade" and "Last modified (grade)", the comment by "Feedback comments"; every row has as many
  fields as the header; a grade above the "Maximum Grade" is skipped, so points are capped there.
  "Last modified (grade)" is left as downloaded: Moodle skips a row whose grade changed in Moodle
  after that time, which protects grades entered by hand since the download.
- Moodle, "Upload multiple feedback files in a zip" (assignfeedback_file): each file's name starts
  with `Full Name_<participant id>_assignfeedback_file_`; Moodle splits it at the first four '_',
  so the name part must hold none, and a name starting with '.' or '~' is ignored.
- Canvas, gradebook "Import": the header starts with Student, ID (the Canvas user id), optional
  SIS User ID / SIS Login ID / Integration ID / Root Account, then Section; an assignment column is
  "Title (assignment id)"; a row starting with "Points Possible" gives the maximum (changing it
  would change the assignment); ',' or ';' separates fields (Canvas detects which); "-" or an empty
  cell is no score; a decimal comma is read as a point.
Both LMSs strip a UTF-8 byte-order mark; the copy keeps the download's (and its separator, quoting
and line endings).
"""
import os
import re
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.questions import QUESTION_IDS

POINT_MODES = ("scaled", "scaled+bonus", "total", "total+bonus")
BOM = b"\xef\xbb\xbf"
MOODLE_ID, MOODLE_GRADE, MOODLE_MODIFIED = "Identifier", "Grade", "Last modified (grade)"
MOODLE_MAX, MOODLE_NAME, MOODLE_COMMENT = "Maximum Grade", "Full name", "Feedback comments"
CANVAS_ASSIGNMENT = re.compile(r"^(?P<title>.*)\s\((?P<id>\d+)\)$")


class LMSError(Exception):
    """An LMS file the grader cannot fill as given; the message says what to do."""


# --- a CSV file exactly as the LMS wrote it ------------------------------------------------------

def split_records(text, delimiter):
    """[(raw fields, line ending)]: each field as written, quotes included, so that an unchanged
    field is written back byte for byte."""
    records, fields = [], []
    start = index = 0
    quoted = False
    while index < len(text):
        char = text[index]
        if quoted:
            if char == '"' and text.startswith('""', index):
                index += 2
                continue
            quoted = char != '"'
        elif char == '"' and index == start:
            quoted = True
        elif char == delimiter:
            fields.append(text[start:index])
            start = index + 1
        elif char in "\r\n":
            ending = "\r\n" if text.startswith("\r\n", index) else char
            fields.append(text[start:index])
            records.append((fields, ending))
            fields, index = [], index + len(ending)
            start = index
            continue
        index += 1
    if quoted:
        raise LMSError("a quoted field is never closed (a '\"' is missing)")
    if start < len(text) or fields:
        fields.append(text[start:])
        records.append((fields, ""))
    return records


def unquote(raw):
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1].replace('""', '"')
    return raw


def quote(value, delimiter):
    """As PHP's fputcsv writes a field: quoted when it holds a separator, a quote, a space or a line break."""
    if any(char in value for char in (delimiter, '"', " ", "\t", "\r", "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass
class Sheet:
    """A downloaded CSV file: its rows as values, and what it takes to write it back unchanged."""
    path: Path
    bom: bool
    delimiter: str
    records: list  # [(raw fields, line ending)]

    @property
    def header(self):
        return [unquote(raw) for raw in self.records[0][0]]

    def rows(self):
        """(record index, values) of every row after the header."""
        return [(index, [unquote(raw) for raw in fields]) for index, (fields, _) in enumerate(self.records)
                if index > 0]

    def set(self, index, column, value):
        self.records[index][0][column] = quote(value, self.delimiter)

    def text(self):
        return "".join(self.delimiter.join(fields) + ending for fields, ending in self.records)

    def write(self, path):
        write_bytes(path, (BOM if self.bom else b"") + self.text().encode("utf-8"))


def read_sheet(path, what, looks_right, delimiters=(",", ";", "\t")):
    """Read an LMS download as UTF-8 (with or without a byte-order mark); the separator is the one
    whose header `looks_right`."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise LMSError(f"{what} {path}: cannot be read ({error.strerror})") from None
    bom = data.startswith(BOM)
    try:
        text = data[len(BOM) if bom else 0:].decode("utf-8")
    except UnicodeDecodeError:
        raise LMSError(f"{what} {path}: not UTF-8 text. Download it again from the LMS and give it as it "
                       "is (a spreadsheet program may have saved it in another encoding).") from None
    for delimiter in delimiters:
        try:
            records = split_records(text, delimiter)
        except LMSError as error:
            raise LMSError(f"{what} {path}: {error}") from None
        if records and looks_right([unquote(raw) for raw in records[0][0]]):
            counts = {len(fields) for fields, _ in records if fields != [""]}
            if len(counts) > 1:
                raise LMSError(f"{what} {path}: its rows have different numbers of fields ({sorted(counts)}); "
                               "the LMS refuses such a file. Download it again.")
            return Sheet(path, bom, delimiter, records)
    return None


def write_bytes(path, data):
    """Write next to the final place, then rename: never half a file."""
    path = Path(path)
    handle = tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False)
    try:
        with handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise


def output_path(download, suffix):
    """`grades.csv` -> `grades-graded.csv` (or `grades-feedback.zip`) beside the download."""
    download = Path(download).expanduser()
    return download.with_name(f"{download.stem}-{suffix}")


# --- what the LMS gets ---------------------------------------------------------------------------

@dataclass
class Graded:
    """One graded student as the LMS files need them."""
    name: str
    lms: str | None          # "moodle", "canvas" or None: where the class came from
    lms_id: str | None       # the participant id or user id of the download
    total: int               # of the eight questions
    bonus: int
    lost: list = field(default_factory=list)  # question ids of the eight that lost their point
    page: str = ""           # the HTML feedback page


def lms_points(student, maximum, mode):
    """The points the LMS gets: the total of eight, scaled to the LMS's maximum or not, bonus added or not."""
    if mode not in POINT_MODES:
        raise LMSError(f"--lms-points {mode}: choose one of {', '.join(POINT_MODES)}")
    points = student.total + (student.bonus if mode.endswith("+bonus") else 0)
    return points * maximum / len(QUESTION_IDS) if mode.startswith("scaled") else float(points)


def number(text):
    """A number as an LMS writes it ("10.00", "10,00", "1 234,5"), or None."""
    text = text.replace("\u00a0", "").replace(" ", "").strip()
    if re.fullmatch(r"-?\d+([.,]\d+)?", text):
        return float(text.replace(",", "."))
    return None


def shown(value, like):
    """Two decimals, with the decimal separator of `like` (a number the LMS wrote in that file)."""
    text = f"{value:.2f}"
    return text.replace(".", ",") if "," in like and "." not in like else text


def comment(student):
    """The short feedback comment: the total, the questions lost, the bonus."""
    words = [f"{student.total}/{len(QUESTION_IDS)} questions right."]
    if student.lost:
        words.append("Lost: " + ", ".join(student.lost) + "; the feedback page says why.")
    if student.bonus:
        words.append(f"Bonus: {student.bonus}.")
    return " ".join(words)


def folded(name):
    """A name compared across LMS spellings: no accents, no case, letters and digits only."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", ascii_name.lower())


@dataclass
class Filled:
    """What filling an LMS file did, for the instructor to read."""
    written: Path | None = None
    filled: list = field(default_factory=list)       # (student, LMS row's name, points)
    by_name: list = field(default_factory=list)      # students matched by name only
    not_found: list = field(default_factory=list)    # graded students with no row in the file
    untouched: list = field(default_factory=list)    # LMS rows no graded student matched
    notes: list = field(default_factory=list)
    pages: list = field(default_factory=list)        # (name for the LMS, participant id, page)

    def lines(self, what):
        lines = [f"{what}: {len(self.filled)} student(s) filled in, written to {self.written}"]
        if self.by_name:
            lines.append(f"  matched by name, not by LMS id (check them): {'; '.join(self.by_name)}")
        if self.not_found:
            lines.append(f"  graded but not in the file, not filled: {'; '.join(self.not_found)}")
        if self.untouched:
            lines.append(f"  left as the LMS had them (handed nothing in): {'; '.join(self.untouched)}")
        return lines + [f"  {note}" for note in self.notes]


def match_rows(students, rows, lms, row_id, row_name, folded_names):
    """{row index: student}: by the LMS id of the download; else by a name exactly one row has."""
    matched, by_name, not_found = {}, [], []
    ids = {}
    for index, values in rows:
        ids.setdefault(row_id(values), index)
    for student in students:
        if student.lms == lms and student.lms_id and student.lms_id.lstrip("0") in ids:
            matched[ids[student.lms_id.lstrip("0")]] = student
    for student in students:
        if student in matched.values():
            continue
        keys = folded_names(student.name)
        same = [index for index, values in rows if folded(row_name(values)) in keys and index not in matched]
        if len(same) == 1:
            matched[same[0]] = student
            by_name.append(student.name)
        else:
            not_found.append(student.name + (" (several rows with this name)" if len(same) > 1 else ""))
    return matched, by_name, not_found


# --- Moodle ---------------------------------------------------------------------------------------

def read_moodle_worksheet(path):
    sheet = read_sheet(path, "--moodle-worksheet", lambda header: MOODLE_ID in header)
    if sheet is None:
        raise LMSError(f"--moodle-worksheet {path}: no \"{MOODLE_ID}\" column; this is not Moodle's grading "
                       "worksheet. In the assignment: View all submissions > Grading action > Download grading "
                       "worksheet (with Feedback types: Offline grading worksheet ticked in the assignment's "
                       "settings, and Moodle's language set to English).")
    missing = [name for name in (MOODLE_GRADE, MOODLE_MODIFIED, MOODLE_MAX) if name not in sheet.header]
    if missing:
        scale = " The assignment is graded on a scale: set its grade type to Point." if "Scale" in sheet.header else ""
        raise LMSError(f"--moodle-worksheet {path}: no column {', '.join(repr(m) for m in missing)}; "
                       f"Moodle's importer needs it.{scale} Download the grading worksheet again.")
    return sheet


def participant_id(identifier):
    """"Participant 123456" -> "123456" (Moodle strips the word, whatever the language)."""
    match = re.search(r"(\d+)\s*$", identifier)
    return match.group(1).lstrip("0") if match else None


def fill_moodle(sheet, students, mode):
    """Fill the grade and the comment of each graded student's row; returns what was done."""
    header = sheet.header
    column = {name: header.index(name) for name in header}
    rows = sheet.rows()
    matched, by_name, not_found = match_rows(
        students, rows, "moodle", lambda values: participant_id(values[column[MOODLE_ID]]),
        lambda values: values[column[MOODLE_NAME]] if MOODLE_NAME in column else "",
        lambda name: {folded(name)})
    done = Filled(by_name=by_name, not_found=not_found)
    if MOODLE_COMMENT not in column:
        done.notes.append(f"no \"{MOODLE_COMMENT}\" column: grades only (tick Feedback comments in the "
                          "assignment's settings and download the worksheet again for comments)")
    for index, values in rows:
        student = matched.get(index)
        name = values[column[MOODLE_NAME]] if MOODLE_NAME in column else values[column[MOODLE_ID]]
        if student is None:
            done.untouched.append(name)
            continue
        maximum_text = values[column[MOODLE_MAX]]
        maximum = number(maximum_text)
        if maximum is None:
            raise LMSError(f"--moodle-worksheet {sheet.path}: {name}'s Maximum Grade is {maximum_text!r}, "
                           "not a number; the grader writes points, not a scale.")
        points = lms_points(student, maximum, mode)
        if points > maximum:
            done.notes.append(f"{student.name}: {points:g} capped at the maximum {maximum:g} "
                              "(Moodle skips a grade above it)")
            points = maximum
        sheet.set(index, column[MOODLE_GRADE], shown(points, maximum_text))
        if MOODLE_COMMENT in column:
            sheet.set(index, column[MOODLE_COMMENT], comment(student))
        done.filled.append((student.name, name, points))
        done.pages.append((name, participant_id(values[column[MOODLE_ID]]), student.page))
    return done


def zip_name(full_name, participant):
    """The name Moodle's zip importer reads: no '_' in the name part, no leading '.' or '~'."""
    name = " ".join(full_name.replace("_", " ").split()).lstrip(".~ ") or "Student"
    name = name.replace("/", " ").replace("\\", " ")
    return f"{name}_{participant}_assignfeedback_file_feedback.html"


def write_feedback_zip(path, pages):
    """One feedback page per student, named for Moodle's "Upload multiple feedback files in a zip"."""
    import io
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for full_name, participant, page in pages:
            archive.writestr(zip_name(full_name, participant), page)
    write_bytes(path, buffer.getvalue())


# --- Canvas ---------------------------------------------------------------------------------------

def canvas_header(header):
    return len(header) > 3 and (("Student" in header[0] and "ID" in header[1])
                                or ("LastName" in header[0] and "FirstName" in header[1] and "ID" in header[2]))


def read_canvas_gradebook(path):
    sheet = read_sheet(path, "--canvas-gradebook", canvas_header, delimiters=(",", ";"))
    if sheet is None:
        raise LMSError(f"--canvas-gradebook {path}: it does not start with Student, ID, ...; this is not "
                       "Canvas's gradebook export. In the course: Grades > Export > Export Entire Gradebook.")
    if "Section" not in sheet.header:
        raise LMSError(f"--canvas-gradebook {path}: no Section column; Canvas's import needs the export's "
                       "student columns (Student, ID, SIS User ID, SIS Login ID, Section) as they were.")
    return sheet


def canvas_columns(sheet):
    """{column index: (title, assignment id)} of the assignment columns (after Section)."""
    header = sheet.header
    return {index: (match.group("title"), match.group("id"))
            for index, name in enumerate(header) if index > header.index("Section")
            and (match := CANVAS_ASSIGNMENT.match(name))}


def canvas_assignment(sheet, wanted):
    """The column of the assignment: the one there is, or the one `wanted` names (title or id)."""
    columns = canvas_columns(sheet)
    listed = "; ".join(f"{title} ({number_id})" for title, number_id in columns.values()) or "none"
    if wanted:
        found = [index for index, (title, number_id) in columns.items() if wanted in (title, number_id)]
        if len(found) != 1:
            raise LMSError(f"--lms-assignment {wanted}: {'no' if not found else 'more than one'} assignment of "
                           f"the gradebook has this title or id. Its assignments: {listed}")
        return found[0]
    if len(columns) != 1:
        raise LMSError(f"--canvas-gradebook {sheet.path}: {len(columns)} assignments in it; say which one the "
                       f"grades go to with --lms-assignment TITLE_OR_ID. Its assignments: {listed}")
    return next(iter(columns))


def canvas_names(name):
    """A grader name ("lovelaceada" from Canvas's file names, or "Ada Lovelace") as Canvas may write it."""
    words = name.split()
    return {folded(name), folded(" ".join(words[1:] + words[:1]))}


def fill_canvas(sheet, students, mode, wanted=None):
    """Fill the assignment's column for each graded student's row; returns what was done."""
    column = canvas_assignment(sheet, wanted)
    header = sheet.header
    first_last = header[0] == "LastName"
    id_column = 2 if first_last else 1
    rows, maximum, possible_text = [], None, ""
    for index, values in sheet.rows():
        if "Points Possible" in values[0]:
            possible_text = values[column]
            maximum = number(possible_text)
        elif all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", value, re.IGNORECASE) for value in values):
            continue  # the row that marks hidden assignments
        else:
            rows.append((index, values))
    if "read only" in possible_text:
        raise LMSError(f"--canvas-gradebook {sheet.path}: {header[column]} is read only in Canvas")
    if maximum is None and mode.startswith("scaled"):
        raise LMSError(f"--canvas-gradebook {sheet.path}: no Points Possible for {header[column]}; use "
                       "--lms-points total, or export the gradebook again")

    def row_name(values):
        return f"{values[1]} {values[0]}" if first_last else values[0].replace(",", " ")

    matched, by_name, not_found = match_rows(
        students, rows, "canvas", lambda values: values[id_column].strip().lstrip("0"), row_name, canvas_names)
    done = Filled(by_name=by_name, not_found=not_found)
    for index, values in rows:
        student = matched.get(index)
        if student is None:
            done.untouched.append(values[0] if not first_last else row_name(values))
            continue
        if values[column].strip() == "N/A":
            done.not_found.append(f"{student.name} (the assignment is not assigned to them in Canvas)")
            continue
        points = lms_points(student, maximum or 0, mode)
        sheet.set(index, column, shown(points, possible_text or "."))
        done.filled.append((student.name, values[0], points))
    if maximum is not None and any(points > maximum for _, _, points in done.filled):
        done.notes.append(f"some points are above the {maximum:g} points possible: Canvas counts them as extra credit")
    done.notes.append(f"column: {header[column]}")
    return done
