"""Feedback files and the class report: every question named, names escaped, pass rates, grouped mistakes, pairs."""
import html
import math
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reporting_class  # noqa: E402

from grader import reference, similarity  # noqa: E402
from grader.feedback import QUESTION_IDS, write_feedback  # noqa: E402
from grader.mistakes import mistake  # noqa: E402
from grader.report import mistake_groups, pass_rates, write_report  # noqa: E402
from grader.results import QuestionResult, StudentResult  # noqa: E402

SCRIPT = "<script>alert(1)</script>"
SEED = 123456789
EX3 = reference.log_loss([0, 1, 1, 0, 1], [0.1, 0.8, 0.6, 0.5, 0.3])
EX5_MSE = 10.237608699909138


def ok(question, file="ex.ipynb"):
    return QuestionResult(question, 1, "", file, "ok", None, None)


def lost(question, reason, kind="wrong value", expected=None, got=None, file="ex.ipynb"):
    return QuestionResult(question, 0, reason, file, kind, expected, got)


def student(name, lost_ones=(), files=None, problems=(), only=None):
    questions = {q: ok(q) for q in (only or QUESTION_IDS)}
    questions.update({r.question: r for r in lost_ones})
    return StudentResult(name, questions, list(problems), files or {})


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The synthetic class: code from tests/reporting_class.py, points and reasons as grading would give them."""
    folder = reporting_class.write_class(tmp_path_factory.mktemp("class"))
    code = {name: reporting_class.code_of(folder / name) for name in ("ada", "ben", "chloe", "dan")}
    sum_reason = f"log_loss_custom(np.array([0, 1, 1, 0, 1]), ...): expected {EX3!r}, got {5 * EX3!r}"
    return [
        student("ada", files=code["ada"]),
        student("ben", files=code["ben"], lost_ones=[
            lost("ex3.q1", sum_reason, expected=EX3, got=5 * EX3, file="tp_reseaux_de_neurones.ipynb")]),
        student("chloe", files=code["chloe"], lost_ones=[
            lost("ex3.q1", sum_reason.replace("[0, 1", "[1, 1"), expected=EX3, got=5 * EX3),
            lost("ex5.q3", f"printed MSE: expected {EX5_MSE!r}, got {math.sqrt(EX5_MSE)!r}",
                 expected=EX5_MSE, got=math.sqrt(EX5_MSE))]),
        student("dan", files=code["dan"], problems=["ex04_forward_propagation.ipynb: code cell 3 raised "
                                                    "ModuleNotFoundError: No module named 'pandas'"],
                lost_ones=[lost("ex4.q1", "no printed line like 'Bob: 0.7855253278357536' found (in ex04.ipynb)",
                                kind="not shown"),
                           lost("ex4.q2", "no printed line like 'Log loss: 0.5485133607757963' found", kind="not shown"),
                           lost("ex6.q1", "gradient: expected 0.25, got 0.31", expected=0.25, got=0.31)]),
        student(SCRIPT, files={"<img src=x onerror=alert(2)>.py": "print('</pre><script>alert(3)</script>')\n"},
                lost_ones=[lost("ex1.q1", "`Neuron` is not defined by the notebook", kind="missing"),
                           lost("ex2.q1", "Neuron(0, 1, 4): <b>bold</b> & co", kind="error")]),
        student("only two graded (-k)", only=("ex1.q1", "ex2.q1"), lost_ones=[
            lost("ex2.q1", "OurNeuralNetwork(...).feedforward(2, 3): expected 0.95, got 0.97",
                 expected=0.9524917424084265, got=0.97)]),
    ]


@pytest.fixture(scope="module")
def written(klass, tmp_path_factory):
    folder = tmp_path_factory.mktemp("out")
    paths = write_feedback(folder / "feedback", klass, SEED)
    report = write_report(folder / "report.html", klass, SEED, boilerplate=reporting_class.boilerplate())
    return paths, report.read_text(encoding="utf-8")


def text_of(page):
    """What a browser shows, on one line: blocks apart, inline tags dropped, entities decoded."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    page = re.sub(r"</?(?:p|div|h\d|section|tr|td|th|li|ul|pre|table|main|title)\b[^>]*>", " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


# --- feedback ------------------------------------------------------------------------------

def test_one_feedback_file_per_student_naming_every_question(klass, written):
    paths, _ = written
    assert len(paths) == len(klass) == len(set(paths))
    for result, path in zip(klass, paths):
        page = path.read_text(encoding="utf-8")
        shown = text_of(page)
        assert html.escape(result.name) in page and f"Feedback for {result.name}" in shown
        for question in QUESTION_IDS:
            assert question in shown, (path, question)
        assert f"Seed of this run: {SEED}" in shown
        assert 'name="viewport"' in page and "<script" not in page.lower() and "http:" not in page and "https:" not in page


def test_feedback_says_why_a_point_was_lost(klass, written):
    paths, _ = written
    chloe = text_of(paths[2].read_text(encoding="utf-8"))
    assert "Total: 6 / 8" in chloe
    assert f"expected {EX3!r}; your code gave {5 * EX3!r}" in chloe
    assert "5 times too large: a sum where the mean is asked" in chloe
    assert "RMSE where MSE is asked" in chloe
    assert "Judged on your file ex.ipynb" in chloe
    dan = text_of(paths[3].read_text(encoding="utf-8"))
    assert "Problems while running your notebooks" in dan and "No module named 'pandas'" in dan
    assert "Total: 6 / 8" in dan and "Bonus (not in the total): 0 / 1" in dan
    assert dan.index("Bonus questions") < dan.index("ex6.q1 ") and "printed in the form it reads" in dan


def test_feedback_of_a_partial_run_marks_what_was_not_graded(written):
    paths, _ = written
    partial = text_of(paths[5].read_text(encoding="utf-8"))
    assert "Total: 1 / 8" in partial and "6 of the 8 questions were not graded in this run" in partial
    assert partial.count("Not graded in this run.") == 6


def test_feedback_file_names_are_safe_and_distinct(tmp_path):
    names = ["a/b", "a b", "../../etc/passwd", "Émile", "", ".", "名前", SCRIPT]
    paths = write_feedback(tmp_path, [student(name) for name in names], SEED)
    assert len(set(paths)) == len(names)
    for path in paths:
        assert path.parent == tmp_path and re.fullmatch(r"[a-z0-9-]+-[0-9a-f]{8}\.html", path.name), path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary files left


# --- names and code can't inject markup ----------------------------------------------------

def test_a_script_name_is_text_in_both(written):
    paths, report = written
    for page in (paths[4].read_text(encoding="utf-8"), report):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script" not in page.lower() and "<img src=x" not in page and "<b>bold" not in page
        assert SCRIPT in text_of(page)


# --- the report ------------------------------------------------------------------------------

def test_pass_rates(klass, written):
    rates = pass_rates(klass)
    assert rates["ex1.q1"] == (6, 5) and rates["ex3.q1"] == (5, 3) and rates["ex4.q1"] == (5, 4)
    assert rates["ex2.q1"] == (6, 4) and rates["ex6.q1"] == (1, 0)
    _, report = written
    shown = text_of(report)
    assert "ex3.q1 5 3 60%" in shown and "ex2.q1 6 4 67%" in shown and "ex6.q1 (bonus) 1 0 0%" in shown
    assert report.count('src="data:image/png;base64,') == 2  # pass rates and totals


def test_mistakes_are_grouped_by_kind_and_counted(klass, written):
    groups = {label: (names, questions) for label, names, questions, _ in mistake_groups(klass)}
    assert groups["sum instead of mean"] == (["ben", "chloe"], ["ex3.q1"])
    assert groups["square root taken (RMSE instead of MSE)"] == (["chloe"], ["ex5.q3"])
    assert groups["not shown: no printed line like 'Bob: #' found"] == (["dan"], ["ex4.q1"])
    assert mistake_groups(klass)[0][0] == "sum instead of mean"  # the most students first
    _, report = written
    assert "sum instead of mean 2 ex3.q1 ben, chloe" in text_of(report)


@pytest.mark.parametrize("expected, got, label", [
    (EX3, 5 * EX3, "sum instead of mean"),
    (EX5_MSE, math.sqrt(EX5_MSE), "square root taken (RMSE instead of MSE)"),
    (EX3, EX3 / math.log(10), "log10 instead of ln"),
    (EX3, -EX3, "missing minus sign"),
    (reference.sigmoid(7), 7.0, "missing sigmoid"),
    (reference.neuron((0, 1, 4), 2, 3), reference.sigmoid(3), "no bias"),
    (14.918863163724454, 15.29356233175059, "exercise 4's weights in exercise 5"),
    (EX5_MSE, 4 / 3 * EX5_MSE, "divided by n - 1"),
])
def test_mistake_labels(expected, got, label):
    assert mistake(lost("q", f"expected {expected}, got {got}", expected=expected, got=got))[0] == label


def test_an_unknown_mistake_groups_by_its_reason_without_digits():
    one = lost("ex1.q1", "hidden check Neuron(-0.15, 2.81, 1).feedforward(1, 2): expected 0.99, got 0.5 (in a.py)",
               kind="hidden check")
    two = lost("ex1.q1", "hidden check Neuron(1.5, -2, 0.3).feedforward(-3, 2e-3): expected 0.1, got 0.7 (in b.py)",
               kind="hidden check")
    assert mistake(one) == mistake(two)
    assert mistake(one)[0] == "hidden check Neuron(#, ...).feedforward(#, ...): expected #, got #"
    assert mistake(lost("ex5.q2", "no output", expected=1.0, got=0.123))[0] == "wrong value: no output"


# --- near-identical code -------------------------------------------------------------------

def test_the_planted_pair_is_found_across_layouts_and_honest_ones_are_not(klass):
    codes = {s.name: s.files for s in klass[:4]}
    assert len(codes["ada"]) == 5 and len(codes["ben"]) == 1
    pairs = similarity.find_pairs(codes, reporting_class.boilerplate())
    assert [(p.a, p.b) for p in pairs] == [("ada", "ben")]
    assert pairs[0].score >= 0.9 and pairs[0].regions
    everything = similarity.find_pairs(codes, reporting_class.boilerplate(), threshold=0, min_shared=0)
    honest = [p.score for p in everything if (p.a, p.b) != ("ada", "ben")]
    assert len(honest) >= 3 and max(honest) < 0.3


def test_renaming_respacing_and_comments_change_no_token():
    original = reporting_class.ADA[1]
    assert [t.text for t in similarity.tokens(original)] == \
           [t.text for t in similarity.tokens(reporting_class.disguise(original))]
    assert [t.text for t in similarity.tokens("x = 1  # one\n%timeit f()\n")] == ["V", "=", "1"]


def test_the_given_code_does_not_count():
    given = "\n\n".join(reporting_class.given_cells(reporting_class.EXERCISES[0]))
    codes = {"eve": {"ex01.ipynb": given + "\n" + reporting_class.CHLOE[0]},
             "fay": {"ex01.ipynb": given + "\n" + reporting_class.DAN[0]}}
    assert [(p.a, p.b) for p in similarity.find_pairs(codes)] == [("eve", "fay")]  # given code alone matches
    assert similarity.find_pairs(codes, boilerplate=[given]) == []


def test_unreadable_code_is_compared_as_far_as_it_goes():
    broken = reporting_class.ADA[0] + "\ndef oops(:\n    '''never closed\n"
    assert len(similarity.tokens(broken)) >= len(similarity.tokens(reporting_class.ADA[0])) - 1


def test_the_report_shows_the_pair_side_by_side_to_look_at(written):
    _, report = written
    shown = text_of(report)
    assert "Code to look at" in shown and "to look at, not a finding" in shown
    assert re.search(r"ada & ben score (9\d|100)% \(\d+ fingerprints\)", shown)
    assert "tp_reseaux_de_neurones.ipynb" in shown and "ex02_neural_network.ipynb" in shown
    assert "a=self.h1.feedforward(x1,x2)" in shown and "out_h1 = self.h1.feedforward(x1, x2)" in shown
    for word in ("cheat", "plagiar", "guilty", "copied"):
        assert word not in shown.lower()


def test_winnowing_keeps_the_rightmost_smallest_hash_of_every_window():
    """MOSS's rule, written out window by window, against similarity.winnow on random hashes with
    many ties (a wrong tie-break or window edge changes which fingerprints two copies share). A file
    of at most one window keeps its first run."""
    import random
    rng = random.Random(3)
    for _ in range(3000):
        hashes = [(rng.randint(0, rng.choice([1, 4, 10**6])), i) for i in range(rng.randint(0, 30))]
        windows = [hashes[start:start + similarity.W] for start in range(len(hashes) - similarity.W + 1)]
        expected = {max((entry for entry in window if entry[0] == min(window)[0]), key=lambda entry: entry[1])
                    for window in windows} if len(hashes) > similarity.W else set(hashes[:1])
        assert similarity.winnow(hashes) == expected, hashes
