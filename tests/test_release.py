"""`make release`: the students' zip holds exactly the bundle, no solution, and notebooks that run."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT
from student_edition import release

BUNDLE = "neural-networks-day1"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Run the release command into a temporary folder; unzip its zip into another one."""
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run([sys.executable, "-m", "student_edition.release", "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    unzipped = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(out / f"{BUNDLE}.zip") as archive:
        archive.extractall(unzipped)
    return out / BUNDLE, unzipped / BUNDLE


@pytest.fixture(scope="module")
def bundle(built):
    return built[1]


def files_in(folder):
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def solution_lines():
    """Lines of the solution regions of the top-level notebooks, longer than a few characters."""
    lines = set()
    for path in ROOT.glob("ex0*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            inside = False
            for line in cell.source.splitlines():
                if line.strip() in (BEGIN, END):
                    inside = line.strip() == BEGIN
                elif inside and len(line.strip()) > 10:
                    lines.add(line.strip())
    return lines


def test_the_zip_holds_exactly_the_bundle_under_one_folder(built, bundle):
    folder, _ = built
    notebooks = sorted(path.name for path in (ROOT / "exercises").glob("*.ipynb"))
    data = sorted(f"data/{path.name}" for path in (ROOT / "data").glob("*.csv"))
    assert len(notebooks) >= 5 and len(data) >= 2
    assert files_in(bundle) == sorted(notebooks + data + ["Makefile", "README.md", "course.py", "requirements.txt"])
    assert files_in(folder) == files_in(bundle)
    for name in files_in(bundle):
        assert (folder / name).read_bytes() == (bundle / name).read_bytes(), name
    with zipfile.ZipFile(folder.parent / f"{BUNDLE}.zip") as archive:  # JupyterLab shows these dates
        assert all(info.date_time[0] >= 2025 for info in archive.infolist())


def test_the_zip_is_reproducible_with_source_date_epoch(tmp_path):
    environment = {**os.environ, "SOURCE_DATE_EPOCH": "1764200000"}
    for out in ("a", "b"):
        subprocess.run([sys.executable, "-m", "student_edition.release", "--out", str(tmp_path / out)],
                       check=True, capture_output=True, cwd=ROOT, env=environment, timeout=120)
    assert (tmp_path / "a" / f"{BUNDLE}.zip").read_bytes() == (tmp_path / "b" / f"{BUNDLE}.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a" / f"{BUNDLE}.zip") as archive:
        assert {info.date_time for info in archive.infolist()} == {(2025, 11, 26, 23, 33, 20)}


def test_no_grader_test_or_solution_file_is_in_it(bundle):
    names = files_in(bundle)
    assert [name for name in names if name.endswith(".py")] == ["course.py"]
    assert not {name for name in names if name.startswith(("grader", "tests", "student_edition"))}
    solutions = [path.read_bytes() for path in ROOT.glob("ex0*.ipynb")]
    originals = [path.read_bytes() for folder in ("grader", "tests") for path in (ROOT / folder).rglob("*.py")]
    for name in names:
        content = (bundle / name).read_bytes()
        assert content not in solutions and content not in originals, name
        for word in (b"HIDDEN_", b"import grader", b"from grader", b"grader/", b"--submissions"):
            assert word not in content, (name, word)


def test_no_solution_line_is_in_any_file(bundle):
    lines = solution_lines()
    assert len(lines) > 20  # the notebooks' solution regions were found
    for name in files_in(bundle):
        text = (bundle / name).read_text(encoding="utf-8")
        if name.endswith(".ipynb"):  # a notebook's JSON escapes quotes: also search its cells' text
            text += "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        assert BEGIN not in text and END not in text, name
        shown = [line for line in lines if line in text]
        assert not shown, f"solution lines in {name}: {shown[:3]}"


def test_the_notebooks_are_the_student_edition_without_a_pointer_to_the_solutions(bundle):
    for path in (ROOT / "exercises").glob("*.ipynb"):
        edition = nbformat.read(path, as_version=4)
        bundled = nbformat.read(bundle / path.name, as_version=4)
        assert [cell.source for cell in bundled.cells if cell.get("id") != "student-edition"] == \
            [cell.source for cell in edition.cells if cell.get("id") != "student-edition"]
        banner = [cell.source for cell in bundled.cells if cell.get("id") == "student-edition"]
        assert banner and "NotImplementedError" in banner[0], path.name
        assert "../" not in banner[0] and "solution" not in banner[0], banner[0]


def test_requirements_are_what_students_need_with_the_project_ranges(bundle):
    project = {line.split(">")[0].split("=")[0]: line for line in (ROOT / "requirements.txt").read_text().splitlines()
               if line and not line.startswith("#")}
    students = [line for line in (bundle / "requirements.txt").read_text().splitlines()
                if line and not line.startswith("#")]
    for line in students:
        assert line == project[line.split(">")[0].split("=")[0]]
    names = {line.split(">")[0].split("=")[0] for line in students}
    assert {"numpy", "matplotlib", "scikit-learn", "jupyterlab", "ipykernel", "nbclient"} <= names
    assert not names & {"pytest", "nbval"}


def test_the_readme_gives_the_students_commands(bundle):
    readme = (bundle / "README.md").read_text()
    makefile = (bundle / "Makefile").read_text()
    for command in ("lab", "check"):
        assert f"make {command}" in readme and f"python3 course.py {command}" in readme
        assert f"\n{command}:\n\t$(PYTHON) course.py {command} $(ARGS)\n" in makefile
    assert "check passed" in readme and "not implemented yet" in readme and "students" in readme
    for notebook in (ROOT / "exercises").glob("*.ipynb"):  # the table lists each one, with its title
        title = nbformat.read(notebook, as_version=4).cells[0].source.splitlines()[0].lstrip("# ")
        assert f"| `{notebook.name}` | {title} |" in readme


def executed(path):
    """The notebook run top to bottom in a fresh kernel, in its folder, going on past errors."""
    notebook = nbformat.read(path, as_version=4)
    env = {key: value for key, value in os.environ.items() if key != "COURSE_DATA_DIR"}
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env, stderr=subprocess.DEVNULL)
    return notebook


def check_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"
            and any(line.startswith("check(") for line in cell.source.splitlines())]


def printed(cell):
    return "".join(output.get("text", "") + output.get("evalue", "") for output in cell.outputs)


@pytest.mark.parametrize("name", sorted(path.name for path in (ROOT / "exercises").glob("*.ipynb")))
def test_bundled_notebooks_run_and_their_checks_say_not_done_yet(bundle, name):
    notebook = executed(bundle / name)
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert errors, "a blank student notebook raises NotImplementedError somewhere"
    # only what a blank notebook leads to (an IndexError: a list an earlier blank cell left empty),
    # e.g. no FileNotFoundError: data/ is found
    assert {error.ename for error in errors} <= {"NotImplementedError", "NameError", "IndexError"}, \
        [(error.ename, error.evalue) for error in errors]
    checks = check_cells(notebook)
    assert checks
    for cell in checks:
        assert "not implemented yet" in printed(cell) or "not computed yet" in printed(cell), (cell.source, printed(cell))
        assert "check passed" not in printed(cell)
    shown, passed, to_do, failed = load_course_script(bundle).summarize(notebook)  # what make check says
    assert (passed, failed) == (0, 0) and to_do >= len(checks), shown
    assert not [line for line in shown if "stopped" in line], shown  # a blank notebook has no error of its own


def load_course_script(bundle):
    """The bundle's course.py as a module (no __pycache__ left in the bundle)."""
    spec = importlib.util.spec_from_file_location("course", bundle / "course.py")
    module = importlib.util.module_from_spec(spec)
    sys.dont_write_bytecode, before = True, sys.dont_write_bytecode
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    return module


def completed_copy(bundle, name, folder, typo=None):
    """The bundle's notebook completed with the solution's code (stubs and paste cells), written
    into folder; typo=(old, new) then changes the first cell where old appears, as a slip would."""
    solution = {cell.id: cell.source for cell in nbformat.read(ROOT / name, as_version=4).cells}
    notebook = nbformat.read(bundle / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and ("raise NotImplementedError(" in cell.source or cell.source.startswith("# Paste")):
            cell.source = "\n".join(line for line in solution[cell.id].splitlines()
                                    if line.strip() not in (BEGIN, END, "### BEGIN PASTE", "### END PASTE"))
    if typo:
        cell = next(cell for cell in notebook.cells if cell.cell_type == "code" and typo[0] in cell.source)
        cell.source = cell.source.replace(typo[0], typo[1], 1)
    shutil.copytree(bundle / "data", folder / "data", dirs_exist_ok=True)
    nbformat.write(notebook, folder / name)
    return folder / name


def test_make_check_counts_passed_checks_once_the_work_is_done(bundle, tmp_path):
    """course.py check on ex01 completed with the solution's code: both checks pass."""
    course = load_course_script(bundle)
    shown, passed, to_do, wrong = course.summarize(course.run_notebook(completed_copy(bundle, "ex01_neuron.ipynb", tmp_path)))
    assert (passed, to_do, wrong) == (2, 0, 0), shown
    assert shown == ["sigmoid: check passed.", "ex1.q1: check passed."]


@pytest.mark.parametrize("name, typo, error, blocked", [
    ("ex04_forward_propagation.ipynb", ("feedforward(math_grade, chemistry_grade)", "feedforward(math_grade, chemistry_grades_)"),
     "NameError: name 'chemistry_grades_' is not defined", "ex4.q1"),
    ("ex06_training.ipynb", ("delta_o = p - y ", "delta_o = p - Y "), "NameError: name 'Y' is not defined", "ex6.q1")])
def test_make_check_shows_a_typo_as_the_error_it_is(bundle, tmp_path, name, typo, error, blocked):
    """The issue's two typos, run in a real kernel: the error shows with its cell and line, and the
    check it blocks is counted as failed, not as not done yet."""
    course = load_course_script(bundle)
    shown, passed, to_do, wrong = course.summarize(course.run_notebook(completed_copy(bundle, name, tmp_path, typo)))
    assert any(error in line and re.search(r"\(cell \[\d+\], line \d+\)", line) for line in shown), shown
    line = next(line for line in shown if line.startswith(f"{blocked}:"))
    assert "not computed yet" not in line and error in line, line  # the check itself names the error
    assert wrong >= 1 and to_do == 0, shown


def notebook_of(*cells):
    """A notebook that has been run: each cell is (source, outputs), numbered 1, 2, ..."""
    notebook = nbformat.v4.new_notebook()
    for number, (source, outputs) in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs, cell.execution_count = outputs, number
        notebook.cells.append(cell)
    return notebook


def printed_line(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text + "\n")


def error(ename, evalue, *traceback):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=list(traceback))


def test_make_check_reports_wrong_answers_and_other_errors(bundle):
    course = load_course_script(bundle)
    shown, passed, to_do, wrong = course.summarize(notebook_of(
        ("x = 1", []),
        ("check('a', 1, lambda: 1)", [printed_line("a: check passed.")]),
        ("check('b', 1, lambda: y)", [printed_line("b: not computed yet (NameError) - ...")]),
        ("check('c', 1, f)", [error("CheckFailed", "c: expected 1.0, got 2.0")]),
        ("open('missing.csv')", [error("FileNotFoundError", "missing.csv", "\x1b[1;32mCell \x1b[0mIn[5], line 1")])))
    assert (passed, to_do, wrong) == (1, 1, 1)
    assert shown == ["a: check passed.", "b: not computed yet (NameError) - ...", "c: expected 1.0, got 2.0",
                     "cell [5] stopped: FileNotFoundError: missing.csv (cell [5], line 1)"]


def test_make_check_shows_a_typo_instead_of_not_computed_yet(bundle):
    """The loop of exercise 4 with a typo: its NameError shows, and the check it blocks is failed."""
    course = load_course_script(bundle)
    shown, passed, to_do, wrong = course.summarize(notebook_of(
        ("per_student = {}\nfor name in names:\n    per_student[name] = f(chemistry_grades_)",
         [error("NameError", "name 'chemistry_grades_' is not defined", "Cell In[1], line 3")]),
        ("check('ex4.q1', [1], lambda: [per_student['Bob']])",
         [printed_line("ex4.q1: not computed yet (KeyError: 'Bob') - complete and run the cells above first.")]),
        ("one_by_one = [per_student[name] for name in names]", [error("KeyError", "np.str_('Bob')", "Cell In[3], line 1")])))
    assert (passed, to_do, wrong) == (0, 0, 1)
    assert shown == ["cell [1] stopped: NameError: name 'chemistry_grades_' is not defined (cell [1], line 3)",
                     "ex4.q1: not computed yet (KeyError: 'Bob') - complete and run the cells above first. "
                     "(see the error in cell [1] above)",
                     "cell [3] stopped: KeyError: np.str_('Bob') - it uses per_student, which cell [1] left incomplete"]


def test_make_check_hides_only_what_a_blank_notebook_leads_to(bundle):
    """A stub's NotImplementedError, and a NameError for a name an empty paste cell or a stopped
    cell was to define, are not errors of the student's; a NameError raised in a function is."""
    course = load_course_script(bundle)
    shown, passed, to_do, wrong = course.summarize(notebook_of(
        ("# Paste your `sigmoid` from exercise 1 into this cell, then run it.", []),
        ("h = sigmoid(2)", [error("NameError", "name 'sigmoid' is not defined")]),
        ("trained = train(start)", [error("NotImplementedError", "train: ...")]),
        ("print(trained)", [error("NameError", "name 'trained' is not defined")]),
        ("outputs = network.feedforward(1, 2)", [error("NotImplementedError", "compute network (about 1 line)")]),
        ("plot(network)", [error("NameError", "name 'network' is not defined")]),
        ("g = gradients(start)", [error("NameError", "name 'gradent' is not defined", "Cell In[4], line 5")]),
        ("check('ex6.q1', [0], lambda: g)", [printed_line("ex6.q1: not computed (NameError: name 'g' is not "
                                                          "defined): a cell above stopped with NameError ...")])))
    assert shown == ["cell [7] stopped: NameError: name 'gradent' is not defined (cell [4], line 5)",
                     "ex6.q1: not computed (NameError: name 'g' is not defined): a cell above stopped with NameError ..."]
    assert (passed, to_do, wrong) == (0, 0, 1)


def test_make_check_counts_a_check_its_cell_did_not_reach(bundle):
    course = load_course_script(bundle)
    shown, passed, to_do, wrong = course.summarize(notebook_of(
        ("check('ex6.q2', 1, lambda: 2)\ncheck(\"start unchanged\", 1, lambda: 1)",
         [error("CheckFailed", "ex6.q2: expected 1.0, got 2.0")])))
    assert (passed, to_do, wrong) == (0, 1, 1)
    assert shown == ["ex6.q2: expected 1.0, got 2.0",
                     "start unchanged: not run yet - the check before it in the same cell failed"]


def test_the_build_refuses_a_bundle_with_a_solution_line(tmp_path):
    files = release.bundle_files()
    files["notes.md"] = b"    return sigmoid(z)\n    z = self.weights_1 * x1 + self.weights_2 * x2 + self.bias\n"
    found = release.leaks(files, release.solution_lines())
    assert [name for name, _ in found] == ["notes.md", "notes.md"]
    assert release.leaks(release.bundle_files(), release.solution_lines()) == []


def test_the_build_refuses_a_stale_student_edition(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    for name in ("ex01_neuron.ipynb", "requirements.txt"):
        (root / name).write_bytes((ROOT / name).read_bytes())
    (root / "exercises").mkdir()
    edition = (ROOT / "exercises" / "ex01_neuron.ipynb").read_text(encoding="utf-8")
    (root / "exercises" / "ex01_neuron.ipynb").write_text(edition.replace("Exercise 1", "Exercise one", 1), encoding="utf-8")
    with pytest.raises(release.ReleaseError, match=r"exercises/ex01_neuron.ipynb is out of date .*make exercises"):
        release.build(tmp_path / "out", root)
    assert not (tmp_path / "out").exists()


def test_handin_writes_one_zip_of_the_notebooks_that_the_grader_takes_for_one_student(bundle, tmp_path, monkeypatch):
    from grader.intake import find_class

    folder = tmp_path / BUNDLE
    shutil.copytree(bundle, folder)
    (folder / ".venv").mkdir()  # what a student's folder also holds: none of it goes into the zip
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "ex01_neuron-checkpoint.ipynb").write_text("{}")
    (folder / "notes.txt").write_text("my notes")
    course = load_course_script(folder)
    ran = []
    monkeypatch.setattr(course, "check", lambda names: ran.append(names) or (3, 15, 0))
    course.handin(["Zoë", "van", "Dijk"])
    assert ran == [[]]  # every notebook is checked first
    archive = folder / "Zoe_van_Dijk.zip"  # an ASCII file name; the folder inside keeps the name
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == sorted(f"Zoë van Dijk/{path.name}" for path in bundle.glob("ex*.ipynb"))
    students, passed_over = find_class(archive, tmp_path / "grading")
    assert [(student.name, len(student.files)) for student in students] == [("Zoë van Dijk", 6)]
    assert passed_over == []


@pytest.mark.parametrize("name", [[], ["../etc"], ["Ada", "42"], ["x_y"]])
def test_handin_asks_for_a_real_name(bundle, name, monkeypatch):
    course = load_course_script(bundle)
    monkeypatch.setattr(course.sys.stdin, "isatty", lambda: False, raising=False)
    with pytest.raises(SystemExit, match="give your name"):
        course.handin_name(name)


def test_the_readme_says_how_to_hand_in_and_what_counts(bundle):
    readme = (bundle / "README.md").read_text()
    makefile = (bundle / "Makefile").read_text()
    assert 'make handin NAME="' in readme and 'python3 course.py handin "' in readme
    assert '\nhandin:\n\t$(PYTHON) course.py handin "$(NAME)"\n' in makefile
    for phrase in ("Eight questions count", "ex5.q3", "two points", "hidden inputs", "keep the printed values",
                   "at least 4 significant digits", "one zip", "fresh Python"):
        assert phrase in readme, phrase
