"""The intake on hostile classes: whatever a student hands in, the intake neither crashes, nor
hangs, nor lets one student reach another's files or row, nor leaves anything behind; students
are who the LMS says they are. Each attack sits next to an honest classmate who keeps their work."""
import csv
import os
import shutil
import signal
import stat
import subprocess
import sys
import zipfile

import nbformat
import pytest

from conftest import ROOT, as_at_a_terminal, grade_warm
from grader import gradebook, intake

FIXTURES = ROOT / "tests" / "fixtures"
ADA = FIXTURES / "lms" / "moodle" / "Ada Lovelace_123456_assignsubmission_file_"    # 8/8 (WHY.md)
TURING = FIXTURES / "lms" / "moodle" / "Alan Turing_234567_assignsubmission_file_"  # 6/8 (WHY.md)
HONEST = "print('the honest student')\n"
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="device nodes need root")


def notebook_text(*sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    return nbformat.writes(notebook)


def by_name(students):
    return {one.name: one for one in students}


def deep_folder(top, depth):
    """top/d/d/.../d, `depth` folders: made relative to an open folder, as paths this long fail."""
    os.mkdir(top)
    current = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=current)
            below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=current)
            os.close(current)
            current = below
    finally:
        os.close(current)


# --- zips ----------------------------------------------------------------------------------------

def test_a_zip_entry_whose_name_is_not_utf8_is_listed_and_the_class_is_graded(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("class/Honest Student/ex01.py", HONEST)
        zipped.writestr("class/Mallory/ex\u00e9.py", "print('x')")  # zipfile flags the name as UTF-8
    archive.write_bytes(archive.read_bytes().replace("\u00e9".encode(), b"\xff\xfe"))  # then it is not
    students, passed_over = intake.find_class(archive, tmp_path / "work")
    assert [str(f) for f in by_name(students)["Honest Student"].files] == ["ex01.py"]
    assert ("class.zip: class/Mallory/ex\\xff\\xfe.py", "its name is not valid UTF-8") in passed_over


def test_dot_dot_in_a_zip_never_crosses_from_one_student_to_another(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("class/Honest Student/ex01/ex01.py", HONEST)
        zipped.writestr("class/Attacker/ex01.py", "print('mine')")
        zipped.writestr("class/Attacker/../Honest Student/ex01/ex01.py", "print('overwritten')")
        zipped.writestr("/tmp/absolute.py", "print('x')")
        link = zipfile.ZipInfo("class/Attacker/ex02.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zipped.writestr(link, "/etc/passwd")
        device = zipfile.ZipInfo("class/Attacker/ex03.py")
        device.external_attr = (stat.S_IFCHR | 0o644) << 16
        zipped.writestr(device, "")
        zipped.writestr("class/Deep/" + "d/" * 3000 + "ex04.py", "print('deep')")
    students, passed_over = intake.find_class(archive, tmp_path / "work")
    students = by_name(students)
    honest = students["Honest Student"]
    assert (honest.folder / "ex01" / "ex01.py").read_text() == HONEST
    assert [str(f) for f in students["Attacker"].files] == ["ex01.py"]
    why = dict(passed_over)
    assert "'..'" in why["class.zip: class/Attacker/../Honest Student/ex01/ex01.py"]
    assert why["class.zip: /tmp/absolute.py"] == "an absolute path"
    assert why["class.zip: class/Attacker/ex02.py"] == "a link"
    assert why["class.zip: class/Attacker/ex03.py"] == "a device or special file"
    assert "nested more than" in why["class.zip: class/Deep/" + "d/" * 3000 + "ex04.py"]
    assert not (tmp_path / "absolute.py").exists() and not os.path.exists("/tmp/absolute.py")


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_zip_entry_that_cannot_be_unpacked_costs_only_that_entry(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("class/Honest Student/ex01.py", HONEST)
        zipped.writestr("class/Honest Student/ex01.py", "print('a second copy')")
        zipped.writestr("class/Mallory", "a file where a folder goes")
        zipped.writestr("class/Mallory/ex01.py", "print('x')")
    students, passed_over = intake.find_class(archive, tmp_path / "work")
    assert (by_name(students)["Honest Student"].folder / "ex01.py").read_text() == HONEST
    why = dict(passed_over)
    assert why["class.zip: class/Honest Student/ex01.py"] == "twice in the zip: the first copy is kept"
    assert why["class.zip: class/Mallory/ex01.py"].startswith("cannot be unpacked")


# --- folders on disk -----------------------------------------------------------------------------

def test_a_very_deep_folder_is_capped_and_removed_without_recursion(tmp_path):
    classroom = tmp_path / "class"
    (classroom / "Honest Student").mkdir(parents=True)
    (classroom / "Honest Student" / "ex01.py").write_text(HONEST)
    deep_folder(classroom / "Deep", 3000)
    try:
        students = by_name(intake.find_class(classroom)[0])
        assert [str(f) for f in students["Honest Student"].files] == ["ex01.py"]
        deep = students["Deep"]
        assert deep.files == [] and "nested more than 32 deep" in "\n".join(deep.problems)
        with pytest.raises((RecursionError, OSError)):  # why the intake has its own remover
            shutil.rmtree(classroom / "Deep")
    finally:
        intake.remove_tree(classroom)
    assert not classroom.exists()


@AS_ROOT
def test_fifos_devices_links_and_names_that_are_not_utf8_are_never_opened(tmp_path):
    classroom = tmp_path / "class"
    honest, mallory = classroom / "Honest Student", classroom / "Mallory"
    honest.mkdir(parents=True)
    (honest / "ex01.py").write_text(HONEST)
    mallory.mkdir()
    (mallory / "ex01.py").write_text("print('mine')")
    fifo_fan = classroom / "Fifo Fan"
    fifo_fan.mkdir()
    (fifo_fan / "ex01.py").write_text("print('mine')")
    os.mkfifo(fifo_fan / "ex02.py")  # opening it would block forever
    (mallory / "ex03.py").symlink_to(honest / "ex01.py")
    with open(os.fsencode(mallory) + b"/ex04\xff.py", "w") as handle:
        handle.write("print('a name that is not UTF-8')")
    hacker = classroom / "Hacker"
    (hacker / "data").mkdir(parents=True)
    (hacker / "ex01.py").write_text("print('mine')")
    os.mknod(hacker / "data" / "ex05.py", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero: copied forever
    os.mkdir(os.fsencode(classroom) + b"/Bj\xf6rn")  # Latin-1, not UTF-8
    (classroom / os.fsdecode(b"Bj\xf6rn") / "ex01.py").write_text(HONEST)
    students = by_name(intake.find_class(classroom)[0])
    assert [str(f) for f in students["Honest Student"].files] == ["ex01.py"]
    mallory = students["Mallory"]
    assert [str(f) for f in mallory.files] == ["ex01.py"]
    problems = "\n".join(mallory.problems)
    assert "ex03.py: a link, not followed" in problems
    assert "ex04\\xff.py: its name is not valid UTF-8" in problems
    fifo_fan = students["Fifo Fan"]
    assert [str(f) for f in fifo_fan.files] == ["ex01.py"]  # graded around it: copies leave it out too
    assert "ex02.py: a FIFO (named pipe), never opened, left out" in fifo_fan.problems
    hacker = students["Hacker"]
    assert [str(f) for f in hacker.files] == ["ex01.py"]
    assert "data/ex05.py: a device, never opened, left out" in hacker.problems
    bjorn = students["Bj\\xf6rn"]
    assert [str(f) for f in bjorn.files] == ["ex01.py"]
    for one in students.values():  # everything shown can be written as UTF-8
        "\n".join([one.name, *one.problems]).encode("utf-8")


def test_huge_files_and_too_many_files_are_skipped_with_a_reason(tmp_path):
    student = tmp_path / "Busy Student"
    student.mkdir()
    (student / "ex01.py").write_text(HONEST)
    with open(student / "ex02.py", "wb") as handle:
        handle.truncate(intake.MAX_FILE_BYTES + 1)  # sparse: no disk used
    for number in range(intake.MAX_FILES + 5):
        (student / f"z{number:03d}.py").write_text("x = 1\n")
    one = intake.find_class(tmp_path)[0][0]
    assert len(one.files) == intake.MAX_FILES and str(one.files[0]) == "ex01.py"
    problems = "\n".join(one.problems)
    assert "ex02.py: 20 MiB, over the 20 MiB limit" in problems
    assert f"more than {intake.MAX_FILES} code files, not read" in problems


def test_canvas_links_and_fifos_at_the_top_are_not_read(tmp_path):
    canvas = tmp_path / "canvas"
    canvas.mkdir()
    (canvas / "lovelaceada_12345_67890_ex01.py").write_text(HONEST)
    secret = tmp_path / "instructor_notes.py"
    secret.write_text("ANSWERS = 'secret'")
    (canvas / "mallorym_66666_11111_ex01.py").symlink_to(secret)
    os.mkfifo(canvas / "mallorym_66666_11112_ex02.py")
    students, passed_over = intake.find_class(canvas, tmp_path / "work")
    assert [(s.name, [str(f) for f in s.files]) for s in students] == [("lovelaceada", ["ex01.py"])]
    assert dict(passed_over) == {"mallorym_66666_11111_ex01.py": "a link, not followed",
                                 "mallorym_66666_11112_ex02.py": "a FIFO (named pipe), not a file or a folder: not read"}
    assert "secret" not in "".join(p.read_text() for p in (tmp_path / "work").rglob("*") if p.is_file())


def test_a_file_swapped_for_a_fifo_or_a_link_is_refused_once_open(tmp_path):
    """Between the listing and the copy, a Canvas file can become a FIFO or a link: checked on the open file."""
    os.mkfifo(tmp_path / "fifo.py")
    with pytest.raises(ValueError, match="a FIFO"):
        intake.read_regular_file(tmp_path / "fifo.py")  # would block without O_NONBLOCK
    (tmp_path / "link.py").symlink_to("/etc/hostname")
    with pytest.raises(ValueError, match="a link"):
        intake.read_regular_file(tmp_path / "link.py")


# --- who a student is ----------------------------------------------------------------------------

def test_canvas_namesakes_are_two_students_told_apart_by_their_user_id(tmp_path):
    canvas = tmp_path / "canvas"
    canvas.mkdir()
    (canvas / "liwei_111_501_ex01.py").write_text(HONEST)
    (canvas / "liwei_LATE_222_502_ex01.py").write_text("print('the other Li Wei')")
    (canvas / "liwei_222_503_ex02.py").write_text("print('the other Li Wei, exercise 2')")
    students, _ = intake.find_class(canvas, tmp_path / "work")
    assert [(s.name, s.lms, s.lms_id, sorted(map(str, s.files))) for s in students] == [
        ("liwei [Canvas 111]", "canvas", "111", ["ex01.py"]),
        ("liwei [Canvas 222]", "canvas", "222", ["ex01.py", "ex02.py"])]
    assert (students[0].folder / "ex01.py").read_text() == HONEST


def test_moodle_namesakes_and_a_name_made_to_look_like_a_mark_keep_their_own_rows(tmp_path):
    for folder in ["Li Wei_123456_assignsubmission_file_", "Li Wei_234567_assignsubmission_file_",
                   "Li Wei (2)_345678_assignsubmission_file_",
                   "Li Wei [Moodle 123456]_999999_assignsubmission_file_"]:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "ex01.py").write_text(f"print({folder!r})")
    students = intake.find_class(tmp_path)[0]
    assert len({s.name for s in students}) == len(students) == 4
    assert {s.lms_id for s in students} == {"123456", "234567", "345678", "999999"}
    names = {s.lms_id: s.name for s in students}
    assert names["234567"] == "Li Wei [Moodle 234567]" and names["345678"] == "Li Wei (2)"
    assert names["123456"] != names["999999"] and "999999" in names["999999"]
    assert all(s.lms == "moodle" for s in students)
    for one in students:
        assert f"_{one.lms_id}_" in (one.folder / "ex01.py").read_text()


def test_a_look_alike_name_never_takes_the_real_students_row(tmp_path):
    for folder in ["Zo\u00eb Brandt", "Zoe\u0308 Brandt"]:  # the same name to the eye: NFC and NFD
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "ex01.py").write_text(f"print({folder!r})")
    students = by_name(intake.find_class(tmp_path)[0])
    assert set(students) == {"Zo\u00eb Brandt (folder 'Zo\u00eb Brandt')", "Zo\u00eb Brandt (folder 'Zoe\\u0308 Brandt')"}
    assert "Zoe\u0308" in str(students["Zo\u00eb Brandt (folder 'Zoe\\u0308 Brandt')"].folder)


def test_a_student_is_their_lms_id_when_there_is_one():
    first = intake.Student("Li Wei", ROOT, lms="moodle", lms_id="123456")
    namesake = intake.Student("Li Wei", ROOT, lms="moodle", lms_id="234567")
    renamed = intake.Student("Wei Li", ROOT, lms="moodle", lms_id="123456")
    assert first != namesake and len({first, namesake}) == 2
    assert first == renamed and hash(first) == hash(renamed)
    assert intake.Student("ann", ROOT) == intake.Student("ann", ROOT / "elsewhere")
    assert [gradebook.identity(s) for s in (first, intake.Student("ann", ROOT))] == ["Moodle 123456", ""]


# --- whole grading runs ------------------------------------------------------------------------

DEEP_TEMP = "a temp folder as deep as a test's own, or a home folder's on a cluster"


def grade(classroom, tmp_path, *options, timeout=400):
    """Grade with the temp folder in tmp_path, to see what is left in it (the warm grader, see
    conftest.grade_warm). Deep on purpose: a Unix socket's path has at most 107 bytes, and the
    fork server's socket once went into TMPDIR ("AF_UNIX path too long": no gradebook); the
    interrupted run below starts python -m grader afresh in such a folder."""
    temp = tmp_path / DEEP_TEMP
    temp.mkdir(exist_ok=True)
    run = grade_warm(classroom, "--gradebook", tmp_path / "g.csv", "--grade-timeout", "20",
                     "--grade-cell-timeout", "5", *options, timeout=timeout, env={"TMPDIR": str(temp)})
    return run, temp


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, {row[0]: dict(zip(header, row)) for row in reader}


def test_namesakes_and_hostile_files_in_a_graded_class(tmp_path):
    """Two Moodle students named Li Wei (one honest, 8/8; one with a link and a name that is not
    UTF-8 next to a 6/8 notebook), a folder name that is not UTF-8 (8/8), a FIFO named ex02.py
    beside Ada's notebooks (graded around it, the FIFO listed, never opened): rows by LMS id."""
    classroom = tmp_path / "class"
    shutil.copytree(ADA, classroom / "Li Wei_123456_assignsubmission_file_")
    other = classroom / "Li Wei_234567_assignsubmission_file_"
    shutil.copytree(TURING, other)
    shutil.copytree(ADA, classroom / "Fifo Fan_777777_assignsubmission_file_")
    os.mkfifo(classroom / "Fifo Fan_777777_assignsubmission_file_" / "ex02.py")
    (other / "ex03.py").symlink_to(classroom / "Li Wei_123456_assignsubmission_file_" / "ex03_log_loss.ipynb")
    shutil.copyfile(TURING / "TP_neurones.ipynb", os.fsencode(other) + b"/ex04\xff.ipynb")
    shutil.copytree(ADA, classroom / os.fsdecode(b"Bj\xf6rn_456789_assignsubmission_file_"))
    run, temp = grade(classroom, tmp_path)
    header, rows = read_rows(tmp_path / "g.csv")
    assert header[:3] == ["student", gradebook.ID_COLUMN, "ex1.q1"], header
    assert {name: (row["lms id"], row["total"]) for name, row in rows.items()} == {
        "Li Wei [Moodle 123456]": ("Moodle 123456", "8"), "Li Wei [Moodle 234567]": ("Moodle 234567", "6"),
        "Bj\\xf6rn": ("Moodle 456789", "8"), "Fifo Fan": ("Moodle 777777", "8")}, run.stdout[-3000:]
    assert not [name for name in os.listdir(temp) if name.startswith("grader-class-")]


def test_a_zip_attack_leaves_the_honest_grade_and_no_temp_folder(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for notebook in sorted(ADA.iterdir()):
            zipped.write(notebook, f"class/Honest Student/{notebook.name}")
        for notebook in sorted(ADA.iterdir()):  # a blank notebook in place of each of hers
            zipped.writestr(f"class/Attacker/../Honest Student/{notebook.name}", notebook_text("pass"))
        zipped.writestr("class/Attacker/ex01.py", "print('nothing')")
    run, temp = grade(archive, tmp_path, "-k", "ex1 or ex4")
    _, rows = read_rows(tmp_path / "g.csv")
    assert (rows["Honest Student"]["ex1.q1"], rows["Honest Student"]["ex4.q2"]) == ("1", "1"), run.stdout[-3000:]
    assert "'..' in its path" in run.stdout
    assert not [n for n in os.listdir(temp) if n.startswith("grader-class-")]


def test_the_temp_folder_goes_also_when_the_class_is_refused_or_the_run_interrupted(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not a zip")
    run, temp = grade(broken, tmp_path)
    assert run.returncode == 4 and "not a readable zip file" in run.stderr, run.stderr[-2000:]
    assert not [n for n in os.listdir(temp) if n.startswith("grader-class-")]
    canvas = tmp_path / "canvas"  # Canvas's files are grouped in the temp folder
    canvas.mkdir()
    for notebook in sorted(ADA.iterdir()):
        shutil.copyfile(notebook, canvas / f"lovelaceada_12345_67890_{notebook.name}")
    command = [sys.executable, "-m", "grader", str(canvas), "-v"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "TMPDIR": str(temp)}, preexec_fn=as_at_a_terminal)
    seen = []
    for line in process.stdout:  # interrupt once grading is under way
        seen.append(line)
        if "test_question[" in line:
            break
    assert [n for n in os.listdir(temp) if n.startswith("grader-class-")], "".join(seen)[-2000:]
    process.send_signal(signal.SIGINT)
    output = "".join(seen) + process.communicate(timeout=60)[0]
    assert "KeyboardInterrupt" in output, output[-2000:]
    assert not [n for n in os.listdir(temp) if n.startswith("grader-class-")]
