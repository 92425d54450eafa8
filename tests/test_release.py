"""`make release`: the students' zip holds exactly the bundle, no solution, and notebooks that run."""
import importlib.util
import os
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


def test_make_check_counts_passed_checks_once_the_work_is_done(bundle, tmp_path):
    """course.py check on ex01 completed with the solution's code: both checks pass."""
    course = load_course_script(bundle)
    solution = {cell.id: cell.source for cell in nbformat.read(ROOT / "ex01_neuron.ipynb", as_version=4).cells}
    notebook = nbformat.read(bundle / "ex01_neuron.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and "raise NotImplementedError(" in cell.source:
            cell.source = "\n".join(line for line in solution[cell.id].splitlines() if line.strip() not in (BEGIN, END))
    nbformat.write(notebook, tmp_path / "ex01_neuron.ipynb")
    shown, passed, to_do, wrong = course.summarize(course.run_notebook(tmp_path / "ex01_neuron.ipynb"))
    assert (passed, to_do, wrong) == (2, 0, 0), shown
    assert shown == ["sigmoid: check passed.", "ex1.q1: check passed."]


def test_make_check_reports_wrong_answers_and_other_errors(bundle):
    course = load_course_script(bundle)
    cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("check('a', 1, lambda: 1)"),
             nbformat.v4.new_code_cell("check('b', 1, lambda: y)"), nbformat.v4.new_code_cell("check('c', 1, f)"),
             nbformat.v4.new_code_cell("open('missing.csv')")]
    outputs = [[], [nbformat.v4.new_output("stream", name="stdout", text="a: check passed.\n")],
               [nbformat.v4.new_output("stream", name="stdout", text="b: not computed yet (NameError) - ...\n")],
               [nbformat.v4.new_output("error", ename="AssertionError", evalue="c: expected 1.0, got 2.0", traceback=[])],
               [nbformat.v4.new_output("error", ename="FileNotFoundError", evalue="missing.csv", traceback=[])]]
    for number, (cell, cell_outputs) in enumerate(zip(cells, outputs), start=1):
        cell.outputs, cell.execution_count = cell_outputs, number
    shown, passed, to_do, wrong = course.summarize(nbformat.v4.new_notebook(cells=cells))
    assert (passed, to_do, wrong) == (1, 1, 1)
    assert shown == ["a: check passed.", "b: not computed yet (NameError) - ...",
                     "AssertionError: c: expected 1.0, got 2.0", "cell [5] raised FileNotFoundError: missing.csv"]


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
