"""Whatever one student hands in, the grader's reading, reports and pages stay fast, small and whole.

The attacks of a security pass (issue 16), each closed here: a line of 20,000 numbers, lone
surrogates in code and output, file and student names that are not UTF-8 or not printable, two
colluders with a huge identical file, an exception that calls itself "grader error", and a copy
hidden behind exec(base64.b64decode(...)). The class run grades them with an honest student.
"""
import base64
import csv
import html
import json
import math
import os
import re
import sys
import time
import tracemalloc
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reporting_class  # noqa: E402
from conftest import ROOT, grade_warm, without_outputs  # noqa: E402

from grader import feedback, gradebook, shown, similarity  # noqa: E402
from grader.feedback import KIND_WORDS, QUESTION_IDS, write_feedback  # noqa: E402
from grader.report import write_report  # noqa: E402
from grader.results import QuestionResult, StudentResult  # noqa: E402

SEED = 42
BOB = 0.7855253278357536  # exercise 4: Bob's prediction (SPEC.md)
LONE = "\ud800"           # a lone surrogate: not encodable as UTF-8
NOT_UTF8 = os.fsdecode(b"Jos\xe9")  # a latin-1 file name as Python sees it: "Jos\udce9"


def ok(question, file="ex.ipynb"):
    return QuestionResult(question, 1, "", file, "ok")


def result(name, files=None, reason="", problems=(), file="ex.ipynb"):
    questions = {q: ok(q, file) for q in QUESTION_IDS}
    questions["ex1.q1"] = QuestionResult("ex1.q1", 0, reason or "Neuron(0, 1, 4).feedforward(2, 3): raised ValueError",
                                         file, "error")
    return StudentResult(name, questions, list(problems), files or {})


# --- 1. what a cell prints is read in linear time and bounded memory -------------------------------

def a_line_of(count):
    return " ".join(f"{i * 0.001:.6f}" for i in range(count))


def test_a_line_of_20000_numbers_is_read_quickly_and_the_answer_after_it_counts():
    cells = [{"text": a_line_of(20_000) + f" Bob: {BOB}", "check": False, "where": "code cell 3"}]
    tracemalloc.start()
    start = time.perf_counter()
    numbers = shown.numbers(cells)
    how, seen = shown.find(numbers, BOB, "Bob")
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert how == "exact" and seen.value == BOB
    assert seconds < 2, seconds          # was a minute (each number searched its whole line for the label)
    assert peak < 20 * 2**20, peak       # the kept numbers and their lines, not the line once per number
    assert len(numbers) <= shown.MAX_PER_CELL and all(len(s.line) <= shown.MAX_LINE for s in numbers)


def test_reading_time_grows_linearly_with_the_line():
    def seconds(count):
        cells = [{"text": a_line_of(count), "check": False, "where": "code cell 1"}]
        start = time.perf_counter()
        shown.find(shown.numbers(cells), BOB, "Bob")
        return time.perf_counter() - start
    small, large = seconds(10_000), seconds(100_000)
    assert large < 20 * max(small, 0.01), (small, large)  # 10 times the line: about 10 times the time, not 100


def test_a_cell_over_the_cap_says_what_was_not_read():
    cells = [{"text": a_line_of(10_000), "check": False, "where": "code cell 2"},
             {"text": f"Bob: {BOB}", "check": False, "where": "code cell 3"}]
    numbers = shown.numbers(cells)
    assert "code cell 2 showed more than 4000 numbers: only its first and last 2000 were read" in numbers.note
    assert numbers[0].where == "code cell 2, of which only the first and last 2000 numbers were read"
    assert numbers[-1].where == "code cell 3" and shown.find(numbers, BOB, "Bob")[0] == "exact"
    assert shown.numbers(cells[1:]).note == ""


def test_the_last_numbers_of_a_cell_read_from_its_end_are_those_a_whole_scan_finds(monkeypatch):
    """shown.last_matches reads a cell's end, not the whole cell, for its last numbers: on any text
    (tails that begin inside "-1.5e-7", in runs of dots and signs), what it keeps is what one scan
    of the whole cell keeps."""
    from collections import deque
    from itertools import islice
    import random

    def whole_scan(text, half):  # the cell's numbers, scanned once from its start
        matches = shown.NUMBER.finditer(text)
        first = list(islice(matches, half))
        last = deque(matches, maxlen=half + 1)
        complete = len(last) <= half
        if not complete:
            last.popleft()
        return [(m.start(), m.group()) for m in (*first, *last)], complete

    generator = random.Random(7)
    pieces = ["1", "23", "-4", "+5", ".", "0.5", "-1.5e-7", "e", "E+", "x", " ", "\n", "..", "--", "1e", "a1", "9."]
    texts = ["1 2 3 -4 5", "1 2 3 1e-5 6", "7 8 -12.5 9", *("".join(generator.choice(pieces) for _ in
                                                              range(generator.randrange(0, 60))) for _ in range(300))]
    for half in (1, 2, 5):
        monkeypatch.setattr(shown, "MAX_PER_CELL", 2 * half)
        for text in texts:
            expected, expected_complete = whole_scan(text, half)
            expected = [m for _, m in expected if len(m) <= shown.MAX_TEXT and math.isfinite(float(m))]
            for window in range(1, 13):
                monkeypatch.setattr(shown, "TAIL_WINDOW", window)
                values, complete = shown.cell_numbers(text, "code cell 1")
                assert (complete, [v.text for v in values]) == (expected_complete, expected), (text, half, window)
    monkeypatch.undo()
    line = "1 " * 500_000 + "Bob: 0.7855"  # a million numbers: the end holds the answer
    values, complete = shown.cell_numbers(line, "code cell 1")
    assert not complete and values[-1].text == "0.7855" and len(values) == shown.MAX_PER_CELL


def test_a_400_digit_number_is_no_value():
    numbers = shown.numbers([{"text": "Bob: " + "9" * 400 + " and 0.5", "check": False, "where": "code cell 1"}])
    assert [n.value for n in numbers] == [0.5]


# --- 2, 3. any text and any name is written, escaped, to distinct files -----------------------------

HOSTILE_NAMES = ["a/b", "../../etc/passwd", "\x1b[31mred\x1b[0m", "evil\u202egnp.exe", "tab\tand\nnewline",
                 "Jos" + LONE, NOT_UTF8, "x" * 5000, "=HYPERLINK(\"http://x\")", "\u200f\u05e9\u05dc\u05d5\u05dd"]


def test_pages_take_lone_surrogates_and_control_characters_anywhere(tmp_path):
    students = [result(name, files={f"{name}.ipynb": f"print('{LONE}')\n"}, file=NOT_UTF8 + ".ipynb",
                       reason=f"raised ValueError: {LONE} \x1b[2J", problems=[f"{NOT_UTF8}.ipynb: code cell 1 {LONE}"])
                for name in HOSTILE_NAMES]
    paths = write_feedback(tmp_path / "feedback", students, SEED)
    report = write_report(tmp_path / "report.html", students, SEED).read_bytes().decode("utf-8")
    assert len(set(paths)) == len(HOSTILE_NAMES)
    for path, student in zip(paths, students):
        assert path.parent == tmp_path / "feedback" and len(path.name) < 80
        page = path.read_bytes().decode("utf-8")  # strict: valid UTF-8
        assert "\\ud800" in page and "Jos\\udce9.ipynb" in page
        for page_text in (page, report):
            assert "\x1b" not in page_text and "\u202e" not in page_text and "\\x1b[2J" in page_text
    assert "evil\\u202egnp.exe" in report and "\\x1b[31mred\\x1b[0m" in report


def test_names_equal_after_sanitising_get_two_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(feedback, "slug", lambda name: "same")  # as if two names made the same file name
    paths = write_feedback(tmp_path, [result("Zoë"), result("Zoe"), result("Zoë ")], SEED)
    assert [p.name for p in paths] == ["same.html", "same-2.html", "same-3.html"]
    assert [p.read_text(encoding="utf-8").count("Feedback for Zo") for p in paths] == [2, 2, 2]
    assert "Feedback for Zoë " in html.unescape(paths[2].read_text(encoding="utf-8"))


def test_one_failing_page_loses_no_other_and_names_its_student(tmp_path, monkeypatch):
    page = feedback.student_page

    def fails_for_bea(student, seed):
        if student.name == "bea":
            raise RuntimeError("boom")
        return page(student, seed)
    monkeypatch.setattr(feedback, "student_page", fails_for_bea)
    with pytest.raises(feedback.PagesNotWritten, match=r"1 feedback page\(s\) not written \(2 written\): 'bea': "
                                                       r"RuntimeError: boom"):
        write_feedback(tmp_path, [result("ann"), result("bea"), result("cat")], SEED)
    assert len(list(tmp_path.glob("*.html"))) == 2


def test_a_failing_report_section_loses_no_other(tmp_path, monkeypatch):
    from grader import report
    monkeypatch.setattr(report, "problems_section", lambda students: 1 / 0)
    failed = []
    page = write_report(tmp_path / "r.html", [result("ann")], SEED, failed=failed).read_text(encoding="utf-8")
    assert failed == ["<lambda>: ZeroDivisionError: division by zero"]
    assert "could not be made (ZeroDivisionError" in page and "Pass rate per question" in page and "Totals" in page


def test_the_gradebook_takes_any_name(tmp_path):
    path = tmp_path / "g.csv"
    gradebook.write(path, ["student", "total"], [[name, 1] for name in HOSTILE_NAMES])
    with open(path, newline="", encoding="utf-8") as handle:  # strict: valid UTF-8
        names = [row["student"] for row in csv.DictReader(handle)]
    assert len(names) == len(HOSTILE_NAMES)
    assert "Jos\\ud800" in names and "Jos\\udce9" in names and "x" * 5000 in names
    assert "'=HYPERLINK(\"http://x\")" in names and "tab\tand\nnewline" in names


# --- 4. the class report runs in bounded time for huge equal files ---------------------------------

def big_code(size):
    """Plausible, varied code of about `size` characters."""
    parts, total, i = [], 0, 0
    while total < size:
        part = (f"def layer_{i}(x, w{i % 7}, b):\n    total = x * w{i % 7} + b * {i}\n"
                f"    for k in range({i % 13 + 2}):\n        total = total - 0.{i % 10 + 1} * k\n"
                f"    return [total, x ** {i % 5}, '{i}']\n\n")
        parts.append(part)
        total += len(part)
        i += 1
    return "".join(parts)


@pytest.mark.parametrize("kib, most_seconds", [(330, 30), (3 * 1024, 60)])
def test_two_colluders_with_a_huge_identical_file_are_compared_in_bounded_time(kib, most_seconds):
    code = big_code(kib * 1024)
    codes = {"a": {"x.py": code}, "b": {"copy.py": code}, "c": {"own.py": reporting_class.CHLOE[0]}}
    start = time.perf_counter()
    pairs = similarity.find_pairs(codes)
    seconds = time.perf_counter() - start
    assert [(p.a, p.b, p.score) for p in pairs] == [("a", "b", 1.0)] and pairs[0].regions
    # b's copy is read once (the same code as a's, under another name), and its regions name its own file
    assert {(region.file_a, region.file_b) for region in pairs[0].regions} == {("x.py", "copy.py")}
    assert seconds < most_seconds, seconds  # was 188 s for 330 KiB (difflib), hours for 3 MiB
    assert similarity.cut(codes["a"]) is (kib * 1024 > similarity.MAX_CODE)


def test_the_report_says_whose_code_was_compared_only_in_part(tmp_path):
    code = big_code(similarity.MAX_CODE + 1000)
    students = [result("huge", files={"x.py": code}), result("small", files={"y.py": reporting_class.DAN[0]})]
    page = write_report(tmp_path / "r.html", students, SEED).read_text(encoding="utf-8")
    assert "Compared only in part (the first 512 KiB of their code): huge." in page


def test_regions_still_show_the_common_code_of_a_disguised_copy():
    original = "\n".join(reporting_class.ADA[:3])
    pairs = similarity.find_pairs({"ada": {"a.py": original}, "ben": {"b.py": reporting_class.disguise(original)},
                                   "dan": {"d.py": "\n".join(reporting_class.DAN[:3])}})
    assert [(p.a, p.b) for p in pairs] == [("ada", "ben")]
    region = pairs[0].regions[0]
    assert "def feedforward(self, x1, x2):" in region.text_a and region.lines_a[1] - region.lines_a[0] > 10


# --- 6. code compiled at run time is fingerprinted too -------------------------------------------

def test_exec_compile_and_eval_are_recorded_and_behave_as_before():
    from grader.worker import CompiledCode
    recorder = CompiledCode()
    recorder.install()
    try:
        namespace = {}
        exec("import base64\nexec(base64.b64decode(b'eCA9IDQwICsgMg=='))", namespace)  # x = 40 + 2
        y = eval("x - 2", namespace)
        code = compile(b"z = 1", "<mine>", "exec")
        from collections import namedtuple  # the standard library's own exec: not recorded
        namedtuple("Point", "x y")
        for i in range(200):
            exec(f"w{i} = {i}", namespace)
    finally:
        recorder.uninstall()
    assert exec.__class__.__name__ == "builtin_function_or_method"  # uninstalled
    assert namespace["x"] == 42 and y == 40 and code.co_filename == "<mine>"
    assert recorder.texts[:4] == ["import base64\nexec(base64.b64decode(b'eCA9IDQwICsgMg=='))", "x = 40 + 2",
                                  "x - 2", "z = 1"]
    assert len(recorder.texts) == CompiledCode.MAX_TEXTS and not any("Point" in text for text in recorder.texts)


def test_a_function_that_execs_runs_in_its_own_scope():
    from grader.worker import CompiledCode
    recorder = CompiledCode()
    recorder.install()
    try:
        def uses_exec():
            value = 3
            return eval("value * 2")
        exec("hidden = 'top level'")  # in the caller's scope, as without the recorder
        assert uses_exec() == 6 and locals()["hidden"] == "top level"
    finally:
        recorder.uninstall()


# --- a class run: every student gets their row, the honest one their grade --------------------------

PLANTED = "\n".join(reporting_class.ADA[:3])  # one student's own exercises 1-3
BASE64_COPY = f"import base64\nexec(base64.b64decode({base64.b64encode(PLANTED.encode())!r}))\n"
OUTPUT_ATTACKS = [  # after the answers of exercise 4
    f'print("{LONE} a lone surrogate in the source")',
    'print("\\ud800 a lone surrogate in the output")',
    'print(" ".join(str(i / 7) for i in range(20000)))',
    'print("grader error: the grader itself failed", 10 ** 400)',
]
GRADER_ERROR = '''\
class Hostile(Exception):
    def __str__(self):
        return "\\x1b[2Jgrader error: the grader failed, not the student " + "9" * 400
    __repr__ = __str__
Hostile.__name__ = Hostile.__qualname__ = "grader error"

class Neuron:
    def __init__(self, weight1, weight2, bias):
        self.weights = (weight1, weight2, bias)
    def feedforward(self, x1, x2):
        raise Hostile()
'''


def notebook_with(cells, folder, name):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / name)


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    classroom = tmp_path_factory.mktemp("robust") / "class"
    correct = classroom / "correct"
    correct.mkdir(parents=True)
    for name in ("ex01_neuron.ipynb", "ex02_neural_network.ipynb", "ex03_log_loss.ipynb",
                 "ex04_forward_propagation.ipynb", "ex05_regression.ipynb"):
        nbformat.write(without_outputs(ROOT / name), correct / name)
    notebook_with(["import numpy as np", PLANTED], classroom / "original", "ex01_neuron.ipynb")
    notebook_with(["import numpy as np", BASE64_COPY], classroom / "copier", "ex01_neuron.ipynb")
    printer = without_outputs(ROOT / "ex04_forward_propagation.ipynb")
    printer.cells += [nbformat.v4.new_code_cell(source, id=f"attack-{i}") for i, source in enumerate(OUTPUT_ATTACKS)]
    (classroom / "prints anything").mkdir()  # JSON escapes the lone surrogate, as a notebook file can hold it
    (classroom / "prints anything" / "ex04_forward_propagation.ipynb").write_text(json.dumps(printer), "ascii")
    notebook_with(["import numpy as np", GRADER_ERROR], classroom / "raises grader error", "ex01_neuron.ipynb")
    odd = classroom / "odd file name"
    odd.mkdir()
    with open(os.fsencode(odd) + b"/ex01_Jos\xe9.ipynb", "w", encoding="utf-8") as handle:  # not UTF-8
        nbformat.write(without_outputs(ROOT / "ex01_neuron.ipynb"), handle)
    out = classroom.parent
    start = time.perf_counter()
    run = grade_warm(classroom, "--gradebook", out / "g.csv", "--feedback", out / "feedback",
                     "--report", out / "report.html", "--grade-timeout", "30", "--grade-cell-timeout", "5",
                     timeout=900, text=False)
    seconds = time.perf_counter() - start
    stdout = run.stdout.decode("utf-8", "backslashreplace")
    with open(out / "g.csv", newline="", encoding="utf-8") as handle:
        book = {row["student"]: row for row in csv.DictReader(handle)}
    return run, stdout, book, out, seconds


def test_every_student_gets_a_row_and_the_honest_one_keeps_every_point(class_run):
    run, stdout, book, _, seconds = class_run
    assert run.returncode == 1 and "INTERNALERROR" not in stdout and "Traceback" not in stdout, stdout[-4000:]
    assert sorted(book) == ["copier", "correct", "odd file name", "original", "prints anything",
                            "raises grader error"], stdout[-4000:]
    assert book["correct"]["total"] == "8"
    assert book["prints anything"]["ex4.q1"] == book["prints anything"]["ex4.q2"] == "1", stdout[-4000:]
    # a name that is not UTF-8 is listed (escaped) with a request to rename it, never a crash
    assert book["odd file name"]["total"] == "0" and "ex01_Jos\\xe9.ipynb: its name is not valid UTF-8" in stdout
    assert seconds < 600


def test_what_the_student_raises_never_reads_as_a_grader_error(class_run):
    run, stdout, book, out, _ = class_run
    assert book["raises grader error"]["ex1.q1"] == "0"
    lost = stdout.split("lost points:")[-1]
    line = next(line for line in lost.splitlines() if line.startswith("  raises grader error ex1.q1"))
    assert "[error]: " in line and "[grader error]" not in lost and "\x1b" not in lost, line
    page = next(p for p in (out / "feedback").iterdir() if p.name.startswith("raises-grader-error"))
    text = html.unescape(page.read_text(encoding="utf-8"))
    assert KIND_WORDS["error"] in text and KIND_WORDS["grader error"] not in text
    assert "\x1b" not in text


def test_pages_and_report_are_written_for_every_student(class_run):
    run, stdout, _, out, _ = class_run
    pages = sorted((out / "feedback").iterdir())
    assert len(pages) == 6 and "feedback written to" in stdout and "class report written to" in stdout, stdout[-3000:]
    for page in pages:
        page.read_bytes().decode("utf-8")  # strict
    odd = next(p for p in pages if p.name.startswith("odd-file-name")).read_text(encoding="utf-8")
    assert "no notebook" in odd or "not found" in odd or "not valid UTF-8" in odd, odd[-2000:]
    (out / "report.html").read_bytes().decode("utf-8")  # strict
    prints = html.unescape(next(p for p in pages if p.name.startswith("prints-anything")).read_text(encoding="utf-8"))
    text = " ".join(re.sub("<[^>]+>", " ", prints).split())
    assert "code cell 22 raised UnicodeEncodeError" in text, text[-3000:]  # the cell whose source has one


def test_a_copy_hidden_behind_exec_base64_is_found(class_run):
    _, stdout, _, out, _ = class_run
    report = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    assert "copier &amp; original" in (out / "report.html").read_text(encoding="utf-8"), stdout[-3000:]
    assert "ex01_neuron.ipynb, code compiled at run time (1)" in report  # the decoded copy, beside the original
