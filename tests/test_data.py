"""data/ holds the statement's tables, and the notebooks' readers fail clearly on bad files."""
import csv

import numpy as np
import pytest

import statement as S
from conftest import ROOT

TABLES = {
    "exam_success.csv": ("exam_success", S.EXAM_SUCCESS),
    "physics_grades.csv": ("physics", S.PHYSICS),
}


@pytest.mark.parametrize("file_name", TABLES)
def test_csv_holds_the_statement_table(file_name):
    target, values = TABLES[file_name]
    with open(ROOT / "data" / file_name, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["name", "math", "chemistry", target]
    assert rows[1:] == [[name, str(m), str(c), str(v)]
                        for name, m, c, v in zip(S.STUDENTS, S.MATH, S.CHEMISTRY, values)]


@pytest.mark.parametrize("exercise, file_name", [("ex04", "exam_success.csv"), ("ex05", "physics_grades.csv")])
def test_notebook_reads_its_table(notebook, exercise, file_name):
    target, values = TABLES[file_name]
    table = notebook(exercise)["read_table"](ROOT / "data" / file_name, ["math", "chemistry", target])
    assert list(table["name"]) == S.STUDENTS
    np.testing.assert_array_equal(table["math"], S.MATH)
    np.testing.assert_array_equal(table["chemistry"], S.CHEMISTRY)
    np.testing.assert_array_equal(table[target], values)


BAD_FILES = {
    "a row with a missing field": ("name,math,chemistry,physics\nBob,12,15,16\nEli,10,9\n", "malformed CSV.*(Line|line) #3"),
    "a row with an extra field": ("name,math,chemistry,physics\nBob,12,15,16,4\n", "malformed CSV"),
    "a grade that is not a number": ("name,math,chemistry,physics\nBob,12,15,16\nEli,ten,9,10\n", r"row 2, column 'math': 'ten' is not a number"),
    "an empty cell": ("name,math,chemistry,physics\nBob,12,,16\n", r"row 1, column 'chemistry': '' is not a number"),
    "a missing column": ("name,math,physics\nBob,12,16\n", r"expected a header with .*'chemistry'"),
    "no data rows": ("name,math,chemistry,physics\n", "at least one row; found header .* and 0 rows"),
    "an empty file": ("", "at least one row; found header \\[\\] and 0 rows"),
}


@pytest.mark.filterwarnings("ignore:genfromtxt. Empty input file")
@pytest.mark.parametrize("exercise", ["ex04", "ex05"])
@pytest.mark.parametrize("problem", BAD_FILES)
def test_bad_file_gets_an_error_naming_file_and_problem(notebook, tmp_path, exercise, problem):
    text, message = BAD_FILES[problem]
    path = tmp_path / "physics_grades.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        notebook(exercise)["read_table"](path, ["math", "chemistry", "physics"])
    assert str(path) in str(error.value)


@pytest.mark.parametrize("exercise", ["ex04", "ex05"])
def test_missing_file_names_the_folders_searched(notebook, tmp_path, monkeypatch, exercise):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match=r"exam_success.csv not found in data, \.\./data"):
        notebook(exercise)["data_file"]("exam_success.csv")


@pytest.mark.parametrize("exercise", ["ex04", "ex05"])
def test_data_file_looks_in_course_data_dir_first(notebook, tmp_path, monkeypatch, exercise):
    (tmp_path / "exam_success.csv").write_text("x", encoding="utf-8")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert notebook(exercise)["data_file"]("exam_success.csv") == tmp_path / "exam_success.csv"
