"""Back to the LMS: the files the grader writes are read here as Moodle's and Canvas's importers read them.

The importers are restated from their source (Moodle: mod/assign/feedback/offline/importgradeslib.php,
lib/csvlib.class.php, mod/assign/feedback/file/importziplib.php; Canvas: app/models/gradebook_importer.rb)
with Python's csv module, independently of grader/lms.py. The README's grading commands are run
as written, with HOME pointing at a folder that holds the downloads they name.
"""
import csv
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import lms

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DOWNLOADS = FIXTURES / "lms-downloads"  # made by hand in the LMSs' formats (make_class.py builds lms/)


def expected_totals(name):
    with open(FIXTURES / name, newline="", encoding="utf-8") as handle:
        return {row["student"]: int(row["total"]) for row in csv.DictReader(handle)}


# --- the importers, restated ----------------------------------------------------------------------

def moodle_import(data, separator=","):
    """{participant id: row} as Moodle's "Upload grading worksheet" reads the file; fails where Moodle refuses it."""
    text = data.decode("utf-8")
    text = text[1:] if text.startswith("\ufeff") else text         # csv_import_reader trims the BOM
    text = re.sub(r"\r\n?", "\n", text).strip()
    rows = list(csv.reader(io.StringIO(text), delimiter=separator))
    header = rows[0]
    assert all(len(row) == len(header) for row in rows), "Moodle: csvweirdcolumns"
    for column in ("Identifier", "Grade", "Last modified (grade)"):   # init() returns false without them
        assert column in header, f"Moodle: invalidgradeimport, no {column}"
    found = {}
    for row in rows[1:]:
        values = dict(zip(header, row))
        found[values["Identifier"][len("Participant "):]] = values
    return found


def moodle_grade_taken(values):
    """The grade Moodle sets from a row, or None where process_import_grades skips it."""
    grade = values["Grade"].replace(",", ".")
    if grade == "" or float(grade) < 0 or float(grade) > float(values["Maximum Grade"].replace(",", ".")):
        return None
    return float(grade)


def moodle_zip_participant(name):
    """importziplib's is_valid_filename_for_import: (participant id, plugin, file name) or None."""
    if name.startswith((".", "~")) or name.endswith("/"):
        return None
    parts = name.split("/")
    while parts:
        info = parts.pop(0).split("_", 4)                          # PHP explode('_', $part, 5)
        if len(info) < 4 or not info[1].isdigit():
            continue
        return info[1], f"{info[2]}_{info[3]}", "/".join([info[4] if len(info) == 5 else ""] + parts)
    return None


def canvas_import(data):
    """({user id: {assignment id: grade}}, {assignment id: points possible}) as Canvas's gradebook import reads them."""
    text = data.decode("utf-8")                                      # Ruby's CSV keeps a BOM in the first cell
    first = text.splitlines()[:3]
    counts = {sep: {len(next(csv.reader([line], delimiter=sep))) for line in first} for sep in ";,"}
    separator = ";" if len(counts[";"]) == 1 and counts[";"].pop() > max(counts[","]) else ","
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=separator) if not re.fullmatch(r"[;, ]*", separator.join(row))]
    header = rows[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1], "Canvas: Invalid header row"
    section = header.index("Section")
    assignments = {index: re.fullmatch(r"(.*)\s\((\d+)\)", name).group(2) for index, name in enumerate(header)
                   if index > section and re.fullmatch(r"(.*)\s\((\d+)\)", name)}

    def value(cell):  # CSV::Converters[:decimal_comma_to_period]
        return cell.replace(",", ".") if re.fullmatch(r"-?[0-9.,]+%?", cell) else cell

    grades, possible = {}, {}
    for row in rows[1:]:
        assert len(row) == len(header)
        if "Points Possible" in row[0]:
            possible = {aid: value(row[index]) for index, aid in assignments.items()}
        elif not all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", cell, re.I) for cell in row):
            grades[row[1]] = {aid: value(row[index]).strip() for index, aid in assignments.items()}
    return grades, possible


# --- unchanged, byte for byte ---------------------------------------------------------------------

@pytest.mark.parametrize("name, read", [
    ("moodle-worksheet.csv", lms.read_moodle_worksheet), ("moodle-worksheet-semicolons.csv", lms.read_moodle_worksheet),
    ("canvas-gradebook.csv", lms.read_canvas_gradebook), ("canvas-gradebook-semicolons.csv", lms.read_canvas_gradebook)])
def test_a_download_is_written_back_byte_for_byte(tmp_path, name, read):
    read(DOWNLOADS / name).write(tmp_path / name)
    assert (tmp_path / name).read_bytes() == (DOWNLOADS / name).read_bytes()


def test_the_downloads_are_in_the_lms_formats():
    """The fixtures themselves: Moodle's worksheet with a BOM, PHP's quoting and \\n; Canvas's export without."""
    moodle = (DOWNLOADS / "moodle-worksheet.csv").read_bytes()
    assert moodle.startswith(lms.BOM + b'Identifier,"Full name",') and b"\r" not in moodle
    assert set(moodle_import(moodle)) == {"123456", "234567", "345678", "456789"}
    grades, possible = canvas_import((DOWNLOADS / "canvas-gradebook.csv").read_bytes())
    assert possible == {"4321": "20.00", "4322": "5.00"} and set(grades) == {"34567", "45678", "12345", "23456", "99999"}
    grades, possible = canvas_import((DOWNLOADS / "canvas-gradebook-semicolons.csv").read_bytes())
    assert possible == {"4321": "20.00", "4322": "5.00"} and set(grades) == {"34567", "45678", "12345", "23456"}


# --- Moodle ---------------------------------------------------------------------------------------

def graded(name, total, bonus=0, lms_name=None, lms_id=None, lost=()):
    return lms.Graded(name, lms_name, lms_id, total, bonus, list(lost), f"<p>page of {name}</p>")


@pytest.mark.parametrize("name, separator", [("moodle-worksheet.csv", ","), ("moodle-worksheet-semicolons.csv", ";")])
def test_moodle_grades_and_comments_by_participant_id(tmp_path, name, separator):
    sheet = lms.read_moodle_worksheet(DOWNLOADS / name)
    students = [graded("Ada Lovelace", 8, lms_name="moodle", lms_id="123456"),
                graded("A. Turing", 6, lms_name="moodle", lms_id="234567", lost=["ex5.q2", "ex5.q3"]),
                graded("Katherine Johnson", 7, lms_name="moodle", lms_id="345678", lost=["ex4.q2"])]
    done = lms.fill_moodle(sheet, students, "scaled")
    sheet.write(tmp_path / "out.csv")
    before = moodle_import((DOWNLOADS / name).read_bytes(), separator)
    after = moodle_import((tmp_path / "out.csv").read_bytes(), separator)
    assert {pid: moodle_grade_taken(row) for pid, row in after.items()} == pytest.approx(
        {"123456": 10.0, "234567": 7.5, "345678": 8.75, "456789": None})
    assert after["234567"]["Feedback comments"].startswith("6/8 questions right. Lost: ex5.q2, ex5.q3")
    assert after["456789"] == before["456789"]               # handed nothing in: as Moodle had it
    for pid in after:                                          # nothing else changed, the date above all
        assert {k: v for k, v in after[pid].items() if k not in ("Grade", "Feedback comments")} == \
               {k: v for k, v in before[pid].items() if k not in ("Grade", "Feedback comments")}
    assert done.untouched == ["Grace Hopper"] and not done.by_name and not done.not_found
    assert (tmp_path / "out.csv").read_bytes().startswith(lms.BOM) == (DOWNLOADS / name).read_bytes().startswith(lms.BOM)
    if separator == ";":
        assert after["123456"]["Grade"] == "10,00"            # the worksheet's own decimal separator


def test_moodle_matches_by_full_name_only_when_one_row_has_it():
    sheet = lms.read_moodle_worksheet(DOWNLOADS / "moodle-worksheet.csv")
    students = [graded("ada  LOVELACE", 8), graded("Someone Else", 5)]
    done = lms.fill_moodle(sheet, students, "total")
    assert done.by_name == ["ada  LOVELACE"] and done.not_found == ["Someone Else"]
    rows = {values[0]: values for _, values in sheet.rows()}
    assert rows["Participant 123456"][4] == "8.00" and rows["Participant 234567"][4] == ""


def test_moodle_caps_what_it_would_skip():
    sheet = lms.read_moodle_worksheet(DOWNLOADS / "moodle-worksheet.csv")
    done = lms.fill_moodle(sheet, [graded("Ada Lovelace", 8, bonus=2, lms_name="moodle", lms_id="123456")],
                           "scaled+bonus")
    row = moodle_import(sheet.text().encode())["123456"]
    assert moodle_grade_taken(row) == pytest.approx(10.0)
    assert any("capped" in note for note in done.notes)


def test_moodle_feedback_zip_names_reach_the_right_participants(tmp_path):
    pages = [("Ada Lovelace", "123456", "<p>a</p>"), ("Jean_Pierre .Dupont", "234567", "<p>b</p>"),
             (".hidden", "345678", "<p>c</p>")]
    lms.write_feedback_zip(tmp_path / "f.zip", pages)
    with zipfile.ZipFile(tmp_path / "f.zip") as archive:
        read = {moodle_zip_participant(name): archive.read(name).decode() for name in archive.namelist()}
    assert read == {("123456", "assignfeedback_file", "feedback.html"): "<p>a</p>",
                    ("234567", "assignfeedback_file", "feedback.html"): "<p>b</p>",
                    ("345678", "assignfeedback_file", "feedback.html"): "<p>c</p>"}


def test_a_file_that_is_not_a_worksheet_says_what_to_download(tmp_path):
    with pytest.raises(lms.LMSError, match="Download grading worksheet"):
        lms.read_moodle_worksheet(DOWNLOADS / "canvas-gradebook.csv")
    (tmp_path / "latin1.csv").write_bytes("Identifier,Grade\nParticipant 1,Zoé\n".encode("latin-1"))
    with pytest.raises(lms.LMSError, match="not UTF-8"):
        lms.read_moodle_worksheet(tmp_path / "latin1.csv")


# --- Canvas ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["canvas-gradebook.csv", "canvas-gradebook-semicolons.csv"])
def test_canvas_fills_one_column_by_user_id(tmp_path, name):
    sheet = lms.read_canvas_gradebook(DOWNLOADS / name)
    students = [graded("hoppergrace", 6, lms_name="canvas", lms_id="34567"),
                graded("lovelaceada", 8, lms_name="canvas", lms_id="12345"),
                graded("turingalan", 7, lms_name="canvas", lms_id="23456")]
    done = lms.fill_canvas(sheet, students, "scaled", "4321")
    sheet.write(tmp_path / "out.csv")
    before, possible_before = canvas_import((DOWNLOADS / name).read_bytes())
    after, possible_after = canvas_import((tmp_path / "out.csv").read_bytes())
    assert possible_after == possible_before                   # the assignment's points stay as they are
    got = {uid: float(grades["4321"]) for uid, grades in after.items() if grades["4321"]}
    assert got == pytest.approx({"34567": 15.0, "12345": 20.0, "23456": 17.5})
    assert after["45678"] == before["45678"]                   # handed nothing in: as Canvas had it
    assert all(after[uid]["4322"] == before[uid]["4322"] for uid in after)
    assert done.untouched[0] == "Johnson, Katherine" and not done.by_name


def test_canvas_needs_the_assignment_named_when_there_are_several():
    sheet = lms.read_canvas_gradebook(DOWNLOADS / "canvas-gradebook.csv")
    with pytest.raises(lms.LMSError, match=r"--lms-assignment.*Lab 1: a neuron and a network \(4321\); Quiz 1 \(4322\)"):
        lms.canvas_assignment(sheet, None)
    with pytest.raises(lms.LMSError, match="no assignment"):
        lms.canvas_assignment(sheet, "Lab 2")
    assert sheet.header[lms.canvas_assignment(sheet, "Quiz 1")] == "Quiz 1 (4322)"


def test_canvas_matches_a_student_without_user_id_by_name_and_points_can_be_the_total():
    sheet = lms.read_canvas_gradebook(DOWNLOADS / "canvas-gradebook.csv")
    done = lms.fill_canvas(sheet, [graded("Ada Lovelace", 8, bonus=1)], "total+bonus", "4321")
    grades, _ = canvas_import(sheet.text().encode())
    assert float(grades["12345"]["4321"]) == pytest.approx(9.0) and done.by_name == ["Ada Lovelace"]


# --- the README's grading commands, as written ----------------------------------------------------

COMMAND = re.compile(r"^\s*((?:make grade|\.venv/bin/python -m grader|\.venv/bin/pytest) .*?)(?:\s+#.*)?$")


def readme_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    part = text[text.index("## Grading a class"):text.index("### Hidden inputs and the seed")]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", part, re.DOTALL):
        commands += [match.group(1) for line in block.splitlines() if (match := COMMAND.match(line))]
    return commands


def test_the_readme_shows_each_kind_of_grading_command():
    kinds = " ".join(readme_commands())
    for word in ("make grade", "-m grader ~/class", "pytest --submissions=", "--moodle-worksheet", "--canvas-gradebook"):
        assert word in kinds


def zip_folder(folder, archive):
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(folder))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home folder with what the README's commands name: ~/class and the LMS downloads."""
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(FIXTURES / "lms" / "moodle", home / "class")
    downloads = home / "Downloads"
    downloads.mkdir()
    zip_folder(FIXTURES / "lms" / "moodle", downloads / "moodle-submissions.zip")
    zip_folder(FIXTURES / "lms" / "canvas", downloads / "canvas-submissions.zip")
    shutil.copy(DOWNLOADS / "moodle-worksheet.csv", downloads / "moodle-worksheet.csv")
    shutil.copy(DOWNLOADS / "canvas-gradebook.csv", downloads / "canvas-gradebook.csv")
    return home


# What `make test ARGS=...` hands down to every make below it (MAKEFLAGS carries command-line
# variables): a README command is typed into a fresh shell, so it gets none of it. With them,
# `make grade` once added the suite's own test paths to the grader's pytest and never ended.
FROM_AN_OUTER_MAKE = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "ARGS", "SUBMISSIONS", "GRADEBOOK"}


def run(command, home):
    env = {**{k: v for k, v in os.environ.items() if k not in FROM_AN_OUTER_MAKE}, "HOME": str(home)}
    return subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_grading_command_works_as_written(command, home):
    if command.startswith("make") and subprocess.run(["make", "-q", ".venv/.ready"], cwd=ROOT).returncode != 0:
        pytest.skip("make would set up .venv first (.venv/.ready is missing or older than requirements.txt)")
    (home / "grades.csv").unlink(missing_ok=True)
    done = run(command, home)
    output = done.stdout + done.stderr
    assert done.returncode in (0, 1), output                  # 1: a point was lost, a normal class
    # these classes are scripts and notebooks written from the statement, without scikit-learn
    without = "preloaded for the notebooks: NumPy, matplotlib, IPython (not scikit-learn: no file of the class names it)"
    assert without + "\n" in done.stdout, output
    if "~/grades.csv" in command:
        assert expected_totals("expected_moodle.csv") == {row["student"]: int(row["total"]) for row in
                                                          csv.DictReader(open(home / "grades.csv", encoding="utf-8"))}
    if "--moodle-worksheet" in command:
        check_moodle_upload(home / "Downloads", output)
    if "--canvas-gradebook" in command:
        check_canvas_upload(home / "Downloads", output)


def check_moodle_upload(downloads, output):
    """The Moodle fixture's points, scaled to the worksheet's maximum of 10, reach the right participants."""
    ids = {"Ada Lovelace": "123456", "Alan Turing": "234567", "Katherine Johnson": "345678"}
    rows = moodle_import((downloads / "moodle-worksheet-graded.csv").read_bytes())
    assert {pid: moodle_grade_taken(row) for pid, row in rows.items()} == pytest.approx(
        {ids[name]: total * 10 / 8 for name, total in expected_totals("expected_moodle.csv").items()} | {"456789": None})
    assert all(rows[pid]["Feedback comments"] for pid in ids.values())
    assert "handed nothing in): Grace Hopper" in output
    with zipfile.ZipFile(downloads / "moodle-worksheet-feedback.zip") as archive:
        pages = {moodle_zip_participant(name)[0]: archive.read(name).decode() for name in archive.namelist()}
        assert {moodle_zip_participant(name)[1] for name in archive.namelist()} == {"assignfeedback_file"}
    assert set(pages) == set(ids.values())
    for name, pid in ids.items():
        assert f"Feedback for {name}" in pages[pid]


def check_canvas_upload(downloads, output):
    """The Canvas fixture's points, scaled to the 20 points possible, reach the right user ids."""
    ids = {"hoppergrace": "34567", "lovelaceada": "12345", "turingalan": "23456"}
    grades, possible = canvas_import((downloads / "canvas-gradebook-graded.csv").read_bytes())
    before, _ = canvas_import((downloads / "canvas-gradebook.csv").read_bytes())
    assert possible["4321"] == "20.00"
    assert {ids[name]: float(grades[ids[name]]["4321"]) for name in ids} == pytest.approx(
        {ids[name]: total * 20 / 8 for name, total in expected_totals("expected_canvas.csv").items()})
    assert grades["45678"] == before["45678"] and grades["99999"] == before["99999"]
    assert "handed nothing in): Johnson, Katherine" in output


# --- plain pytest and pytest --nbval --------------------------------------------------------------

def collect(*options):
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *options],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


def test_plain_pytest_collects_the_tests_and_not_the_notebooks():
    status, output = collect()
    assert status == 0, output
    assert "tests/test_lms.py::" in output
    assert not [line for line in output.splitlines() if line.startswith("ex0")]


def test_pytest_nbval_collects_the_notebooks_and_the_tests():
    status, output = collect("--nbval")
    assert status == 0, output
    notebooks = {line.split("::")[0] for line in output.splitlines() if ".ipynb::" in line}
    assert notebooks == {path.name for path in ROOT.glob("ex0*.ipynb")}
    assert "tests/test_lms.py::" in output
