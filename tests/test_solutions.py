"""The graded functions, loaded from the notebooks, against independent references.

References: grader/reference.py (plain `math`, itself checked against the statement and
scikit-learn in test_grader.py), sklearn.metrics.log_loss and mean_squared_error; inputs: the
statement's and seeded random ones.
"""
import math
import warnings

import numpy as np
import pytest

import statement as S
from conftest import log_loss, mean_squared_error
from grader import reference


def random_cases(seed, count=50):
    """Seeded random (w1, w2, b, x1, x2) tuples, with weighted sums up to about +-60."""
    rng = np.random.default_rng(seed)
    return [tuple(rng.uniform(-3, 3, 3)) + tuple(rng.uniform(-10, 10, 2)) for _ in range(count)]


# --- exercise 1 -----------------------------------------------------------------------

def test_ex1_graded_value(notebook):
    assert math.isclose(notebook("ex01")["Neuron"](0, 1, 4).feedforward(2, 3), S.EX1, rel_tol=S.REL)


def test_ex1_keeps_weights_and_bias_as_attributes(notebook):
    neuron = notebook("ex01")["Neuron"](0.5, -2, 3)
    assert (neuron.weights_1, neuron.weights_2, neuron.bias) == (0.5, -2, 3)


@pytest.mark.parametrize("exercise", ["ex01", "ex02", "ex04", "ex05"])
def test_neuron_matches_math_on_random_inputs(notebook, exercise):
    Neuron = notebook(exercise)["Neuron"]
    for w1, w2, b, x1, x2 in random_cases(seed=1):
        assert math.isclose(Neuron(w1, w2, b).feedforward(x1, x2), reference.neuron((w1, w2, b), x1, x2),
                            rel_tol=S.REL)


@pytest.mark.parametrize("exercise", ["ex01", "ex05"])
def test_feedforward_takes_columns(notebook, exercise):
    Neuron = notebook(exercise)["Neuron"]
    x1, x2 = np.random.default_rng(2).uniform(-10, 10, (2, 100))
    neuron = Neuron(0.7, -1.3, 0.2)
    column = neuron.feedforward(x1, x2)
    assert column.shape == (100,)
    np.testing.assert_allclose(column, [reference.neuron((0.7, -1.3, 0.2), a, b) for a, b in zip(x1, x2)],
                               rtol=S.REL, atol=0)


def test_feedforward_returns_a_number_for_numbers(notebook):
    y = notebook("ex01")["Neuron"](0, 1, 4).feedforward(2, 3)
    assert np.ndim(y) == 0 and isinstance(y, float)


def test_feedforward_rejects_columns_of_different_lengths(notebook):
    with pytest.raises(ValueError, match="same shape"):
        notebook("ex01")["Neuron"](1, 1, 0).feedforward([1, 2, 3], [1, 2])


@pytest.mark.parametrize("exercise", ["ex01", "ex02", "ex04", "ex05"])
def test_sigmoid_has_no_overflow_or_nan_up_to_1e4(notebook, exercise):
    sigmoid = notebook(exercise)["sigmoid"]
    z = np.concatenate([np.linspace(-1e4, 1e4, 20001), [-1e4, -710.0, 710.0, 1e4]])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        y = sigmoid(z)
    assert not np.isnan(y).any() and ((y >= 0) & (y <= 1)).all()
    assert sigmoid(-1e4) == 0.0 and sigmoid(1e4) == 1.0
    np.testing.assert_allclose(y, [reference.sigmoid(v) for v in z], rtol=S.REL, atol=1e-300)


# --- exercise 2 -----------------------------------------------------------------------

def test_ex2_graded_value(notebook):
    ns = notebook("ex02")
    Neuron = ns["Neuron"]
    network = ns["OurNeuralNetwork"](Neuron(1, 2, -1), Neuron(0.5, 1, 0), Neuron(2, 0, 1))
    assert math.isclose(network.feedforward(2, 3), S.EX2, rel_tol=S.REL)
    assert math.isclose(network.feedforward(2, 3), reference.network((1, 2, -1), (0.5, 1, 0), (2, 0, 1), 2, 3),
                        rel_tol=S.REL)


@pytest.mark.parametrize("exercise", ["ex02", "ex04", "ex05"])
def test_network_matches_math_on_random_weights(notebook, exercise):
    ns = notebook(exercise)
    Neuron, Network = ns["Neuron"], ns["OurNeuralNetwork"]
    rng = np.random.default_rng(3)
    for _ in range(50):
        h1, h2, o1 = (tuple(rng.uniform(-3, 3, 3)) for _ in range(3))
        x1, x2 = rng.uniform(-10, 10, 2)
        network = Network(Neuron(*h1), Neuron(*h2), Neuron(*o1))
        assert math.isclose(network.feedforward(x1, x2), reference.network(h1, h2, o1, x1, x2), rel_tol=S.REL)


def test_network_keeps_its_neurons(notebook):
    ns = notebook("ex02")
    h1, h2, o1 = (ns["Neuron"](1, 1, 1) for _ in range(3))
    network = ns["OurNeuralNetwork"](h1, h2, o1)
    assert network.h1 is h1 and network.h2 is h2 and network.o1 is o1


# --- exercise 3 -----------------------------------------------------------------------

@pytest.mark.parametrize("exercise", ["ex03", "ex04"])
def test_log_loss_graded_value(notebook, exercise):
    log_loss_custom = notebook(exercise)["log_loss_custom"]
    assert math.isclose(log_loss_custom(S.EX3_Y_TRUE, S.EX3_Y_PRED), S.EX3, rel_tol=S.REL)
    assert math.isclose(log_loss_custom(np.array(S.EX3_Y_TRUE), np.array(S.EX3_Y_PRED)), S.EX3, rel_tol=S.REL)
    assert math.isclose(log_loss(S.EX3_Y_TRUE, S.EX3_Y_PRED), S.EX3, rel_tol=S.REL)


@pytest.mark.parametrize("exercise", ["ex03", "ex04"])
def test_log_loss_matches_sklearn_on_random_inputs(notebook, exercise):
    log_loss_custom = notebook(exercise)["log_loss_custom"]
    rng = np.random.default_rng(4)
    for n in [1, 2, 5, 50, 1000]:
        y_true = rng.integers(0, 2, n)
        y_true[0] = 0
        if n > 1:
            y_true[1] = 1  # scikit-learn needs both classes unless told the labels
        y_pred = rng.uniform(0, 1, n)
        expected = log_loss(y_true, y_pred, labels=[0, 1])
        assert math.isclose(log_loss_custom(y_true, y_pred), expected, rel_tol=S.REL)
        assert math.isclose(log_loss_custom(list(y_true), list(y_pred)), expected, rel_tol=S.REL)


def test_log_loss_matches_a_hand_computed_case(notebook):
    # one positive example predicted 0.5: -log(0.5) = log 2
    assert math.isclose(notebook("ex03")["log_loss_custom"]([1], [0.5]), math.log(2), rel_tol=S.REL)


@pytest.mark.parametrize("y_true, y_pred", [([1, 0, 0], [1.0, 0.0, 1.0]), ([1, 0], [0.0, 1.0]), ([0, 1], [0, 1])])
def test_log_loss_clips_like_sklearn(notebook, y_true, y_pred):
    got = notebook("ex03")["log_loss_custom"](y_true, y_pred)
    assert math.isfinite(got)
    assert math.isclose(got, log_loss(y_true, y_pred, labels=[0, 1]), rel_tol=S.REL, abs_tol=1e-15)


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([], [], "empty"),
    (np.array([]), np.array([]), "empty"),
    ([0, 1, 1], [0.5, 0.5], "same length"),
    ([0, 1], [0.5, 0.5, 0.5], "same length"),
    ([0, 2], [0.5, 0.5], "labels 0 and 1"),
    ([-1, 1], [0.5, 0.5], "labels 0 and 1"),
    ([0, 0.5], [0.5, 0.5], "labels 0 and 1"),
    ([0, 1], [0.5, 1.5], r"probabilities in \[0, 1\]"),
    ([0, 1], [-0.1, 0.5], r"probabilities in \[0, 1\]"),
    ([0, 1], [float("nan"), 0.5], r"probabilities in \[0, 1\]"),
])
@pytest.mark.parametrize("exercise", ["ex03", "ex04"])
def test_log_loss_rejects_bad_input(notebook, exercise, y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        notebook(exercise)["log_loss_custom"](y_true, y_pred)


# --- exercise 4 -----------------------------------------------------------------------

def test_ex4_outputs_and_log_loss(notebook):
    ns = notebook("ex04")
    for name, expected in S.EX4_Q1.items():
        assert math.isclose(ns["per_student"][name], expected, rel_tol=S.REL), name
    np.testing.assert_allclose(ns["outputs"], list(S.EX4_Q1.values()), rtol=S.REL, atol=0)
    assert math.isclose(ns["loss"], S.EX4_Q2, rel_tol=S.REL)
    assert math.isclose(log_loss(S.EXAM_SUCCESS, list(S.EX4_Q1.values())), S.EX4_Q2, rel_tol=S.REL)


def test_ex4_matches_math(notebook):
    ns = notebook("ex04")
    for name, m, c in zip(S.STUDENTS, S.MATH, S.CHEMISTRY):
        expected = reference.network((0.05, 0.001, 0), (0.02, 0.003, 0), (2, 0, 0), m, c)
        assert math.isclose(ns["per_student"][name], expected, rel_tol=S.REL)


# --- exercise 5 -----------------------------------------------------------------------

def test_ex5_regression_flag(notebook):
    Neuron = notebook("ex05")["Neuron"]
    assert Neuron(0, 1, 4, True).feedforward(2, 3) == pytest.approx(S.EX5_Q1, rel=S.REL)
    assert math.isclose(Neuron(0, 1, 4).feedforward(2, 3), S.EX1, rel_tol=S.REL)  # default: sigmoid
    assert math.isclose(Neuron(0, 1, 4, False).feedforward(2, 3), S.EX1, rel_tol=S.REL)
    for w1, w2, b, x1, x2 in random_cases(seed=5):
        assert math.isclose(Neuron(w1, w2, b, True).feedforward(x1, x2),
                            reference.neuron((w1, w2, b, True), x1, x2), rel_tol=S.REL, abs_tol=1e-12)


def test_ex5_outputs_and_mse(notebook):
    ns = notebook("ex05")
    for output, name, m, c in zip(ns["outputs"], S.STUDENTS, S.MATH, S.CHEMISTRY):
        expected = reference.network((0.05, 0.001, 0), (0.002, 0.003, 0), (2, 7, 10, True), m, c)
        assert math.isclose(output, S.EX5_Q2[name], rel_tol=S.REL), name
        assert math.isclose(output, expected, rel_tol=S.REL), name
    assert list(ns["names"]) == list(S.STUDENTS) and ns["outputs"].shape == (4,)
    assert math.isclose(ns["mse"], S.EX5_Q3, rel_tol=S.REL)
    assert math.isclose(mean_squared_error(S.PHYSICS, list(S.EX5_Q2.values())), S.EX5_Q3, rel_tol=S.REL)


def test_ex5_mse_matches_sklearn_on_random_inputs(notebook):
    mse = notebook("ex05")["mean_squared_error_custom"]
    rng = np.random.default_rng(6)
    for n in [1, 3, 100]:
        y_true, y_pred = rng.uniform(0, 20, (2, n))
        assert math.isclose(mse(y_true, y_pred), mean_squared_error(y_true, y_pred), rel_tol=S.REL)
    with pytest.raises(ValueError, match="same length"):
        mse([1, 2], [1])
    with pytest.raises(ValueError, match="non-empty"):
        mse([], [])
