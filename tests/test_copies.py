"""Each notebook stands alone, so code is repeated; these tests keep the copies equal.

Two kinds of copies: given helpers (the check cells' helpers, the data helpers, the input check
of log loss) are repeated as they are; a piece the student wrote in an earlier notebook is
pasted again (a `### BEGIN PASTE` region), and the solution's paste equals the earlier solution.
"""
import ast

import numpy as np
import pytest

from conftest import NOTEBOOKS, ROOT, code_cells
from student_edition import BEGIN, BEGIN_PASTE, END, END_PASTE


def without_solution_markers(source):
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))


def definitions(exercise, pasted):
    """{name: source} of the top-level functions and classes of a notebook, inside paste regions
    (pasted=True) or outside them (pasted=False), solution markers left out."""
    found = {}
    for source in code_cells(ROOT / NOTEBOOKS[exercise]):
        is_paste = BEGIN_PASTE in source
        if is_paste != pasted:
            continue
        if is_paste:
            source = source.split(BEGIN_PASTE, 1)[1].split(END_PASTE, 1)[0]
        source = without_solution_markers(source)
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found.setdefault(node.name, ast.get_source_segment(source, node))
    return found


def given_copies():
    by_name = {}
    for exercise in NOTEBOOKS:
        for name, source in definitions(exercise, pasted=False).items():
            by_name.setdefault(name, {})[exercise] = source
    return {name: copies for name, copies in by_name.items() if len(copies) > 1}


def test_the_expected_pieces_are_pasted():
    expected = {"ex01": set(), "ex02": {"sigmoid", "Neuron"}, "ex03": set(),
                "ex04": {"sigmoid", "Neuron", "OurNeuralNetwork", "log_loss_custom"},
                "ex05": {"sigmoid", "Neuron", "OurNeuralNetwork"}}
    assert {exercise: set(definitions(exercise, pasted=True)) for exercise in expected} == expected


def test_the_expected_helpers_are_given_in_each_notebook():
    given = given_copies()
    for helper in ("check", "raised_where", "CheckFailed"):
        assert set(given[helper]) == set(NOTEBOOKS), helper
    assert set(given["data_file"]) == set(given["read_table"]) == {"ex04", "ex05"}
    assert set(given["validated_labels_and_probabilities"]) == {"ex03", "ex04"}


@pytest.mark.parametrize("name, copies", sorted(given_copies().items()))
def test_given_copies_are_identical(name, copies):
    if name == "Neuron":  # exercise 5's Neuron(Neuron) is new work, built on the pasted one
        return
    (first, source), *others = copies.items()
    for exercise, other in others:
        assert other == source, f"{name} in {exercise} differs from its copy in {first}"


@pytest.mark.parametrize("exercise", [exercise for exercise in NOTEBOOKS if exercise != "ex01"])
def test_pasted_code_is_the_earlier_solution(exercise):
    earlier = {}
    for before in NOTEBOOKS:
        if before == exercise:
            break
        for name, source in definitions(before, pasted=False).items():
            earlier.setdefault(name, (before, source))
    for name, source in definitions(exercise, pasted=True).items():
        assert name in earlier, f"{exercise} pastes {name}, which no earlier notebook asks for"
        before, original = earlier[name]
        assert source == original, f"{name} pasted in {exercise} differs from the solution of {before}"


def test_ex05_neuron_without_regression_is_the_ex01_neuron(notebook):
    Neuron1, Neuron5 = notebook("ex01")["Neuron"], notebook("ex05")["Neuron"]
    rng = np.random.default_rng(7)
    for w1, w2, b, x1, x2 in rng.uniform(-20, 20, (200, 5)):
        expected = Neuron1(w1, w2, b).feedforward(x1, x2)
        assert Neuron5(w1, w2, b).feedforward(x1, x2) == expected
        assert Neuron5(w1, w2, b, False).feedforward(x1, x2) == expected
    neuron = Neuron5(1, 2, 3)
    assert (neuron.weights_1, neuron.weights_2, neuron.bias, neuron.regression) == (1, 2, 3, False)
