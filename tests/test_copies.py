"""Each notebook stands alone, so shared code is repeated; these tests keep the copies equal."""
import ast
import numpy as np
import pytest

from conftest import NOTEBOOKS, ROOT, code_cells

# Exercise 5's Neuron adds the regression flag on purpose; it is compared by behaviour below.
DIFFERS_ON_PURPOSE = {("Neuron", "ex05")}


def definitions(exercise):
    """{name: source} of the functions and classes a notebook defines at top level."""
    found = {}
    for source in code_cells(ROOT / NOTEBOOKS[exercise]):
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found[node.name] = ast.get_source_segment(source, node)
    return found


def shared_definitions():
    by_name = {}
    for exercise in NOTEBOOKS:
        for name, source in definitions(exercise).items():
            if (name, exercise) not in DIFFERS_ON_PURPOSE:
                by_name.setdefault(name, {})[exercise] = source
    return {name: copies for name, copies in by_name.items() if len(copies) > 1}


def test_the_expected_pieces_are_shared():
    shared = shared_definitions()
    assert set(shared["Neuron"]) == {"ex01", "ex02", "ex04"}
    assert set(shared["sigmoid"]) == {"ex01", "ex02", "ex04", "ex05"}
    assert set(shared["OurNeuralNetwork"]) == {"ex02", "ex04", "ex05"}
    assert set(shared["log_loss_custom"]) == {"ex03", "ex04"}
    assert set(shared["check"]) == set(NOTEBOOKS)


@pytest.mark.parametrize("name, copies", sorted(shared_definitions().items()))
def test_copies_are_identical(name, copies):
    (first, source), *others = copies.items()
    for exercise, other in others:
        assert other == source, f"{name} in {exercise} differs from its copy in {first}"


def test_ex05_neuron_without_regression_is_the_ex01_neuron(notebook):
    Neuron1, Neuron5 = notebook("ex01")["Neuron"], notebook("ex05")["Neuron"]
    rng = np.random.default_rng(7)
    for w1, w2, b, x1, x2 in rng.uniform(-20, 20, (200, 5)):
        expected = Neuron1(w1, w2, b).feedforward(x1, x2)
        assert Neuron5(w1, w2, b).feedforward(x1, x2) == expected
        assert Neuron5(w1, w2, b, False).feedforward(x1, x2) == expected
    neuron = Neuron5(1, 2, 3)
    assert (neuron.weights_1, neuron.weights_2, neuron.bias, neuron.regression) == (1, 2, 3, False)
