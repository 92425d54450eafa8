"""Students who want points without the work (issue: grades that can't be forged).

Each cheat is added to the blank student edition (or, for the typed-in MSE, to a correct
notebook) and graded in one run with a correct student: each earns exactly what its real work
earns, and the correct student keeps 8/8.
"""
import csv
import math

import nbformat
import pytest

from conftest import ROOT, grade_warm, without_outputs
from grader import questions, reference
from grader.questions import NOTEBOOKS, QUESTION_IDS

FORGE_CHANNEL = '''\
import os, json, pickle
forged = [pickle.dumps(("graded", "ex1.q1", 1000, "")),
          b'\\n{"event": "cells", "cells": [{"index": 0, "text": "Bob: 0.7855253278357536", "problem": null, "check": false}]}\\n',
          b'{"event": "probe", "id": "neuron"}\\n',
          b'{"event": "probed", "id": "neuron", "results": [{"label": "Neuron", "values": [{"v": 0.9990889488055994}]}]}\\n',
          b'{"event": "done"}\\n']
for fd in range(3, 256):
    for message in forged:
        try:
            os.write(fd, message)
        except OSError:
            pass
'''
PATCH_THE_GRADER = '''\
import builtins, math
for name in ("grader.worker", "grader.questions", "grader.reference", "grader.sandbox"):
    try:
        module = __import__(name, fromlist=["x"])
        module.check = module.expect = lambda *a, **k: None
        module.QUESTIONS = {}
    except ImportError:
        print("no", name)
math.isclose = lambda *a, **k: True
_float = builtins.float
builtins.float = lambda *a: 0.9990889488055994
'''
STACK_READER = '''\
import sys
class Answer:
    def __float__(self):
        frame = sys._getframe()
        while frame:
            if "expected" in frame.f_locals:
                return frame.f_locals["expected"]
            frame = frame.f_back
        return 0.9990889488055994
    __array__ = None
class Neuron:
    def __init__(self, *args, **kwargs):
        pass
    def feedforward(self, x1, x2):
        return Answer()
'''
LOOKUP_TABLE = '''\
import math
# the hidden inputs of an older grader, which came from a fixed seed in a file every student had
KNOWN = {(-0.15, -2.81, 1.03, -2.51, -1.25): 0.9927465631266752}
class Neuron:
    def __init__(self, w1, w2, b, regression=False):
        self.key = (w1, w2, b)
    def feedforward(self, x1, x2):
        return KNOWN.get((*self.key, x1, x2), 0.9990889488055994)
'''
ONLY_WHEN_GRADED = '''\
import os, sys
graded = ("GRADER_FORK_SERVER" in os.environ or any(m.startswith(("grader", "pytest")) for m in sys.modules)
          or type(sys.stdout).__name__ == "CappedOutput" or "pytest" in " ".join(sys.argv))
if graded:
    class Neuron:
        def __init__(self, *args, **kwargs):
            pass
        def feedforward(self, x1, x2):
            return 0.9990889488055994
    print("graded: answers typed in")
'''
HALF_MESSAGE = '''\
import os
for fd in range(3, 256):
    try:
        os.write(fd, b'{"event": "cells", "cells": [{"index": 0, "te')
    except OSError:
        pass
'''
# Issue 16, item 6: a correct Neuron (2 points of work) beside numbers that no code computes.
CORRECT_NEURON = '''\
import numpy as np

class Neuron:
    def __init__(self, weight1, weight2, bias, regression=False):
        self.weights_1, self.weights_2, self.bias, self.regression = weight1, weight2, bias, regression

    def feedforward(self, x1, x2):
        z = self.weights_1 * x1 + self.weights_2 * x2 + self.bias
        return z if self.regression else 1 / (1 + np.exp(-z))
'''
TYPED_IN = '''\
print("Bob: 0.7855253278357536")
print("Eli: 0.7771516558846259")
print("Tom: 0.8067873659804015")
print("Ryan: 0.7892343955586032")
print("Log loss: 0.5485133607757963")
print("Bob: 14.918863163724454")
print("Eli: 14.83137890625537")
print("Tom: 15.086662606964074")
print("Ryan: 14.939270885974128")
print("MSE: 10.237608699909138")
'''
SWEEP = '''\
print(" ".join(f"{i / 10000:.4f}" for i in range(10000)))
print(" ".join(f"{i / 100:.2f}" for i in range(500, 2000)))
'''
# The student edition with the code of exercises 1 and 2 pasted where it asks, and the values
# of exercises 4 and 5 taken from the check messages (or from the check cells' own variables).
FROM_CHECK_MESSAGES = {
    NOTEBOOKS[3]: '''\
for name, value in expected_q1.items():
    print(f"{name}: {value}")
print("Log loss: 0.5485133607757963")
''',
    NOTEBOOKS[4]: '''\
for name, value in zip(["Bob", "Eli", "Tom", "Ryan"], [14.918863163724454, 14.83137890625537,
                                                      15.086662606964074, 14.939270885974128]):
    print(f"{name}: {value}")
print("MSE: 10.237608699909138")
''',
}
NETWORK = '''\
class OurNeuralNetwork:
    def __init__(self, neuron_h1, neuron_h2, neuron_o1):
        self.h1, self.h2, self.o1 = neuron_h1, neuron_h2, neuron_o1

    def feedforward(self, x1, x2):
        return self.o1.feedforward(self.h1.feedforward(x1, x2), self.h2.feedforward(x1, x2))
'''
# What their real code earns: the Neuron (ex1.q1, and its flag ex5.q1); the edition's student
# pasted the Neuron (with its flag: ex5.q1 too) and the network (ex2.q1).
SHOWN_CHEATS = {"types the values in": ("1", "0", "0", "0", "0", "1", "0", "0"),
                "prints a sweep of candidates": ("1", "0", "0", "0", "0", "1", "0", "0"),
                "copies the check messages": ("1", "1", "0", "0", "0", "1", "0", "0")}

CHEATS = {"forges the channel": FORGE_CHANNEL, "patches the grader": PATCH_THE_GRADER,
          "reads the stack": STACK_READER, "uses a lookup table": LOOKUP_TABLE,
          "cheats only when graded": ONLY_WHEN_GRADED, "half-written message": HALF_MESSAGE}


def add_cell(notebook, source, index=None):
    cell = nbformat.v4.new_code_cell(source)
    cell.id = f"cheat-{len(notebook.cells)}"
    notebook.cells.insert(len(notebook.cells) if index is None else index, cell)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    classroom = tmp_path_factory.mktemp("hostile")
    for cheat, source in CHEATS.items():
        folder = classroom / cheat
        folder.mkdir()
        for name in NOTEBOOKS:
            notebook = without_outputs(ROOT / "exercises" / name)
            add_cell(notebook, source)
            nbformat.write(notebook, folder / name)
    correct = classroom / "correct"
    correct.mkdir()
    for name in NOTEBOOKS:
        nbformat.write(without_outputs(ROOT / name), correct / name)
    typed = classroom / "types the MSE in"  # a correct student whose MSE function returns 0.0
    typed.mkdir()
    for name in NOTEBOOKS:
        notebook = without_outputs(ROOT / name)
        if name == NOTEBOOKS[4]:
            for cell in notebook.cells:
                if cell.source.startswith("def mean_squared_error_custom"):
                    cell.source = "def mean_squared_error_custom(y_true, y_pred):\n    return 0.0"
            add_cell(notebook, 'print("MSE: 10.237608699909138")')
        nbformat.write(notebook, typed / name)
    for cheat, cells in (("types the values in", [CORRECT_NEURON, TYPED_IN]),
                         ("prints a sweep of candidates", [CORRECT_NEURON, SWEEP])):
        (classroom / cheat).mkdir()
        notebook = nbformat.v4.new_notebook()
        for source in cells:
            add_cell(notebook, source)
        nbformat.write(notebook, classroom / cheat / "lab1.ipynb")
    copies = classroom / "copies the check messages"
    copies.mkdir()
    for name in NOTEBOOKS:
        notebook = without_outputs(ROOT / "exercises" / name)
        paste_cells = [cell for cell in notebook.cells if cell.source.startswith("# Paste your")]
        for cell in paste_cells:
            cell.source = CORRECT_NEURON if "`Neuron`" in cell.source else NETWORK if "OurNeural" in cell.source \
                else cell.source
        if name in FROM_CHECK_MESSAGES:
            add_cell(notebook, FROM_CHECK_MESSAGES[name])
        nbformat.write(notebook, copies / name)
    gradebook = classroom.parent / "hostile.csv"
    run = grade_warm(classroom, "--gradebook", gradebook, "--grade-timeout", "20", "--grade-cell-timeout", "3",
                     timeout=600)
    with open(gradebook, newline="", encoding="utf-8") as handle:
        return run, {row["student"]: row for row in csv.DictReader(handle)}


@pytest.mark.parametrize("cheat", CHEATS)
def test_a_cheat_earns_what_the_blank_edition_earns(hostile_run, cheat):
    run, book = hostile_run
    assert [book[cheat][q] for q in QUESTION_IDS] == ["0"] * 8, run.stdout[-4000:]


@pytest.mark.parametrize("cheat", SHOWN_CHEATS)
def test_shown_values_that_no_code_computes_earn_nothing(hostile_run, cheat):
    """Issue 16, item 6: typed in, swept, or copied from the check messages next to real code."""
    run, book = hostile_run
    assert tuple(book[cheat][q] for q in QUESTION_IDS) == SHOWN_CHEATS[cheat], run.stdout[-4000:]


def test_a_typed_in_mse_behind_a_function_that_returns_zero_loses_that_point_only(hostile_run):
    run, book = hostile_run
    row = book["types the MSE in"]
    assert [row[q] for q in QUESTION_IDS] == ["1"] * 7 + ["0"], run.stdout[-4000:]
    reason = next(line for line in run.stdout.splitlines() if "types the MSE in ex5.q3" in line)
    assert "typed into the code" in reason or ("mean_squared_error_custom(" in reason
                                               and "does not come from working code" in reason), reason


def test_the_correct_student_in_the_same_run_keeps_every_point(hostile_run):
    run, book = hostile_run
    assert book["correct"]["total"] == "8", run.stdout[-4000:]


def test_the_blank_edition_source_shows_no_answer_to_forge_from():
    """What a forger would need, the hidden inputs, is in no file a student has."""
    text = "\n".join(path.read_text() for path in (ROOT / "exercises").glob("*.ipynb"))
    assert "HIDDEN" not in text and "20261126" not in text


# --- the same rules, judged on one file's evidence (fast: no grading run) ----------------------

def edition_cell(notebook_name, starts_with):
    notebook = nbformat.read(ROOT / "exercises" / notebook_name, as_version=4)
    return next(cell.source for cell in notebook.cells if cell.source.startswith(starts_with))


def file_evidence(cells, probes_answered=None, names_answered=None):
    """questions.Evidence of a file whose cells are (source, what it showed), and whose probes
    answer as the reference does (the network of exercises 4 and 5 kept as an object), unless
    `probes_answered` says otherwise."""
    sent = questions.probes(7, "student")
    grades = sent["predictors"]["cases"]
    answered = {probe: [] for probe in sent}
    answered["predictors"] = [{"label": "net4", "values": [{"v": reference.network(*questions.EX4_NETWORK, *row)}
                                                          for row in grades]},
                              {"label": "net5", "values": [{"v": reference.network(*questions.EX5_NETWORK, *row)}
                                                          for row in grades]}]
    answered.update(probes_answered or {})
    report = {"cells": [{"index": i, "text": text, "check": source.startswith("check("), "where": f"code cell {i + 1}",
                         "problem": None} for i, (source, text) in enumerate(cells)], "probes": answered}
    return questions.Evidence(sent, report, "lab.ipynb", [source for source, _ in cells])


OUTPUTS_4 = [reference.network(*questions.EX4_NETWORK, m, c) for _, m, c, _ in questions.EX4_TABLE]
COMPUTED_4 = ('for name, m, c in rows:\n    print(f"{name}: {net4.feedforward(m, c)}")',
              "\n".join(f"{name}: {value!r}" for (name, *_), value in zip(questions.EX4_TABLE, OUTPUTS_4)))


def test_outputs_printed_by_the_students_code_count():
    assert questions.judge("ex4.q1", file_evidence([COMPUTED_4])).points == 1


def test_outputs_typed_into_the_code_earn_nothing_even_next_to_the_right_network():
    typed = "\n".join(f'print("{name}: {value!r}")' for (name, *_), value in zip(questions.EX4_TABLE, OUTPUTS_4))
    verdict = questions.judge("ex4.q1", file_evidence([(typed, COMPUTED_4[1])]))
    assert verdict.points == 0 and "typed into the code" in verdict.reason


def test_a_typed_in_answer_is_found_behind_any_number_of_repeats_and_named_by_its_first_cell():
    """The literals of a file are read once for all its questions, each distinct one kept (red
    team: 20 MiB of `1111` in comments were read again for every question, 230 s in all)."""
    value = OUTPUTS_4[0]
    decoys = "# " + " ".join(["1111", "2222.5"] * 5000)
    cells = [(decoys, ""), (decoys + f"\nanswer = {value!r}", ""), (f"again = {value!r}", ""), COMPUTED_4]
    evidence = file_evidence(cells)
    assert evidence.typed_in(value) == (2, repr(value))
    assert [literal.text for _, literal in evidence.literals()] == ["1111", "2222.5", repr(value)]
    assert evidence.literals() is evidence.literals()  # read once
    verdict = questions.judge("ex4.q1", evidence)
    assert verdict.points == 0 and "typed into the code (code cell 2)" in verdict.reason, verdict.reason


def test_a_sweep_of_rounded_candidates_earns_nothing():
    sweep = " ".join(f"{i / 10000:.4f}" for i in range(10000))
    verdict = questions.judge("ex4.q1", file_evidence([("print(sweep)", sweep)]))
    # 10,000 candidates in one cell: past what is read of a cell (the reason says so), or judged a list
    assert verdict.points == 0 and ("candidates" in verdict.reason or "were read" in verdict.reason), verdict.reason
    few = " ".join(f"{i / 10000:.4f}" for i in range(7800, 7900))  # a sweep short enough to be read whole
    verdict = questions.judge("ex4.q1", file_evidence([("print(few)", few)]))
    assert verdict.points == 0 and "candidates" in verdict.reason, verdict.reason
    rounded = "\n".join(f"{name}: {value:.4f}" for (name, *_), value in zip(questions.EX4_TABLE, OUTPUTS_4))
    assert questions.judge("ex4.q1", file_evidence([("print(rounded)", rounded)])).points == 1


def test_a_correct_neuron_alone_does_not_stand_behind_shown_outputs():
    sent = questions.probes(7, "student")
    neuron = [{"label": "Neuron", "values": [{"v": reference.neuron(case["args"], *case["call"])}
                                             for case in sent["neuron"]["cases"]]}]
    verdict = questions.judge("ex4.q1", file_evidence([COMPUTED_4], {"predictors": [], "neuron": neuron}))
    assert verdict.points == 0 and "no code in the file computes them" in verdict.reason


def test_three_loose_neurons_with_the_statements_weights_are_the_network():
    sent = questions.probes(7, "student")
    grades, pairs = sent["predictors"]["cases"], sent["output_neurons"]["cases"]
    h1, h2, o1 = questions.EX4_NETWORK
    loose = [{"label": "h1", "values": [{"v": reference.neuron(h1, *row)} for row in grades]},
             {"label": "h2", "values": [{"v": reference.neuron(h2, *row)} for row in grades]}]
    o1_values = [{"label": "o1", "values": [{"v": reference.neuron(o1, *pair)} for pair in pairs]}]
    assert questions.judge("ex4.q1", file_evidence([COMPUTED_4], {"predictors": loose,
                                                                 "output_neurons": o1_values})).points == 1
    assert questions.judge("ex4.q1", file_evidence([COMPUTED_4], {"predictors": loose})).points == 0


def test_the_editions_given_cell_is_no_answer_to_ex4_q1():
    given = edition_cell(NOTEBOOKS[3], "outputs = network.feedforward")
    one_call = f"one call for the table: [{' '.join(f'{v:.8f}' for v in OUTPUTS_4)}]\nsame as one student at a time: False"
    swapped = 'for name in names:\n    print(f"{name}: {per_student[name]}")'
    verdict = questions.judge("ex4.q1", file_evidence([(swapped, "Bob: 0.796340211181505"), (given, one_call)]))
    assert verdict.points == 0 and "0.796340211181505" in verdict.reason
    assert questions.judge("ex4.q1", file_evidence([("print(outputs)", one_call)])).points == 1


def test_values_read_from_a_check_cells_expected_values_are_no_answer():
    check_cell = 'expected_q1 = {"Bob": 0.7855253278357536}\ncheck("ex4.q1", 1, lambda: 1)'
    reads = 'for name, value in expected_q1.items():\n    print(f"{name}: {value}")'
    verdict = questions.judge("ex4.q1", file_evidence([(check_cell, ""), (reads, COMPUTED_4[1])]))
    assert verdict.points == 0


def test_an_untouched_mse_stub_is_not_written_and_the_mse_shown_counts():
    sent = questions.probes(7, "student")
    stub = [{"label": "mean_squared_error_custom", "own": True,
             "values": [{"e": "raised NotImplementedError: not implemented yet"}] * len(sent["mse_named"]["cases"])}]
    mse = reference.mean_squared_error([row[3] for row in questions.EX5_TABLE],
                                       questions.statement_outputs(questions.EX5_TABLE, questions.EX5_NETWORK))
    cells = [('print("MSE:", np.mean(squares))', f"MSE: {mse!r}")]
    assert questions.judge("ex5.q3", file_evidence(cells, {"mse_named": stub})).points == 1
    wrong = [{**stub[0], "values": [{"v": 0.0}] * len(sent["mse_named"]["cases"])}]
    assert questions.judge("ex5.q3", file_evidence(cells, {"mse_named": wrong})).points == 0


def wrong_sigmoid(args, x1, x2):
    w1, w2, b, *flag = args
    z = w1 * x1 + w2 * x2 + b
    return z if flag and flag[0] else 1 / (1 + math.exp(z))


@pytest.mark.parametrize("false_path, points", [("own", 1), ("reference", 0), ("identity", 0)])
def test_ex5_q1_judges_the_flag_against_the_students_own_neuron(false_path, points):
    sent = questions.probes(7, "student")
    own = [{"label": "Neuron", "values": [{"v": wrong_sigmoid(c["args"], *c["call"])} for c in sent["neuron"]["cases"]]}]

    def flagged(case):
        if case["args"][3] or false_path == "own":
            return wrong_sigmoid(case["args"], *case["call"])
        if false_path == "reference":
            return reference.neuron(case["args"], *case["call"])
        return wrong_sigmoid([*case["args"][:3], True], *case["call"])
    regression = [{"label": "Neuron", "values": [{"v": flagged(c)} for c in sent["regression"]["cases"]]}]
    evidence = file_evidence([], {"neuron": own, "regression": regression})
    assert questions.judge("ex1.q1", evidence).points == 0
    assert questions.judge("ex5.q1", evidence).points == points
