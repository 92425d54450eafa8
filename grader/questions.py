"""The eight graded questions (SPEC.md): what each checks, on the statement's inputs and on hidden ones.

A check runs inside the student's notebook process, after the notebook has run. It gets the
notebook's namespace and everything it printed, and raises `Lost(reason)` to take the point
away. The statement's values are computed by `reference`, never typed in here.
"""
import csv
import math
import random
import re
from pathlib import Path

import numpy as np

from grader import reference

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
REL_TOL, ABS_TOL = 1e-9, 1e-12


class Lost(Exception):
    """The point is lost; the message is the one-line reason."""


def statement_table(file_name, target):
    """[(name, math, chemistry, target)] from one of the project's CSV files."""
    with open(DATA_DIR / file_name, newline="", encoding="utf-8") as handle:
        return [(row["name"], float(row["math"]), float(row["chemistry"]), float(row[target]))
                for row in csv.DictReader(handle)]


EX2_NETWORK = ((1, 2, -1), (0.5, 1, 0), (2, 0, 1))
EX3_Y_TRUE, EX3_Y_PRED = [0, 1, 1, 0, 1], [0.1, 0.8, 0.6, 0.5, 0.3]
EX4_NETWORK = ((0.05, 0.001, 0), (0.02, 0.003, 0), (2, 0, 0))
EX5_NETWORK = ((0.05, 0.001, 0, False), (0.002, 0.003, 0, False), (2, 7, 10, True))
EX4_TABLE = statement_table("exam_success.csv", "exam_success")
EX5_TABLE = statement_table("physics_grades.csv", "physics")

# Hidden inputs: the same for every student (fixed seed), short decimals for readable reasons.
_rng = random.Random(20261126)


def _numbers(count, low, high):
    return tuple(round(_rng.uniform(low, high), 2) for _ in range(count))


HIDDEN_NEURONS = [_numbers(5, -3, 3) for _ in range(5)]
HIDDEN_NETWORKS = [(_numbers(3, -2, 2), _numbers(3, -2, 2), _numbers(3, -2, 2), _numbers(2, -5, 5))
                   for _ in range(4)]
HIDDEN_REGRESSION_NETWORKS = [((*h1, False), (*h2, False), (*o1, True), x)
                              for h1, h2, o1, x in HIDDEN_NETWORKS]
HIDDEN_LOG_LOSS = [([_rng.randint(0, 1) for _ in range(n)], list(_numbers(n, 0.02, 0.98)))
                   for n in (1, 3, 7, 12)]


# --- small helpers ---------------------------------------------------------------------

def one_line(error):
    text = " ".join(str(error).split())
    return text if len(text) <= 160 else text[:157] + "..."


def defined(namespace, name):
    if name not in namespace:
        raise Lost(f"`{name}` is not defined by the notebook")
    return namespace[name]


def call(what, function):
    try:
        return function()
    except Lost:
        raise
    except NotImplementedError:
        raise Lost(f"{what} raised NotImplementedError: not implemented yet") from None
    except MemoryError:
        raise Lost(f"{what} ran out of memory (MemoryError)") from None
    except Exception as error:  # any failure of the student's code is a reason, not a crash
        raise Lost(f"{what} raised {type(error).__name__}: {one_line(error)}") from None


def number(what, value):
    """A student's return value as a float, or Lost if it is not one number."""
    if isinstance(value, (str, bytes)):
        raise Lost(f"{what} returned the text {one_line(repr(value))}, not a number")
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Lost(f"{what} returned {type(value).__name__} {one_line(repr(value))}, not a number") from None
    if array.size != 1:
        raise Lost(f"{what} returned an array of shape {array.shape}, not one number")
    return float(array.reshape(-1)[0])


def expect(what, got, expected):
    got = number(what, got)
    if not math.isclose(got, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL):
        raise Lost(f"{what}: expected {expected!r}, got {got!r}")


def args(values):
    return ", ".join(f"{value:g}" if isinstance(value, float) else repr(value) for value in values)


NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
VALUE = rf"(?:np\.float64\(|numpy\.float64\(|array\(|\[|\()*\s*({NUMBER})"


def printed(output, label, example):
    """The number on the last printed line that starts with `label` followed by ':' or '='."""
    found = re.findall(rf"^[^\S\n]*['\"]?{label}[^\n:=]*[:=][^\S\n]*{VALUE}", output,
                       flags=re.MULTILINE | re.IGNORECASE)
    if not found:
        raise Lost(f"no printed line like '{example}' found")
    return float(found[-1])


# --- checks shared by several questions --------------------------------------------------

def check_neurons(Neuron, cases, regression=None):
    """Neuron(w1, w2, b[, regression]) keeps its numbers and computes like the reference."""
    for w1, w2, b, x1, x2 in cases:
        weights = (w1, w2, b) if regression is None else (w1, w2, b, regression)
        made = f"hidden check Neuron({args(weights)})"
        neuron = call(made, lambda: Neuron(*weights))
        for attribute, value in zip(("weights_1", "weights_2", "bias"), (w1, w2, b)):
            kept = getattr(neuron, attribute, None)
            if not math.isclose(number(f"{made}.{attribute}", kept), value, rel_tol=REL_TOL):
                raise Lost(f"{made}: attribute {attribute} is {kept!r}, expected {value!r}")
        what = f"{made}.feedforward({args((x1, x2))})"
        expect(what, call(what, lambda: neuron.feedforward(x1, x2)), reference.neuron(weights, x1, x2))


def check_networks(namespace, cases):
    """OurNeuralNetwork of the notebook's own Neurons computes like the reference."""
    Neuron, Network = defined(namespace, "Neuron"), defined(namespace, "OurNeuralNetwork")
    for h1, h2, o1, (x1, x2) in cases:
        made = f"hidden check OurNeuralNetwork(Neuron({args(h1)}), Neuron({args(h2)}), Neuron({args(o1)}))"
        neurons = call(made, lambda: (Neuron(*h1), Neuron(*h2), Neuron(*o1)))
        network = call(made, lambda: Network(*neurons))
        what = f"{made}.feedforward({args((x1, x2))})"
        expect(what, call(what, lambda: network.feedforward(x1, x2)), reference.network(h1, h2, o1, x1, x2))


def check_log_loss(namespace):
    log_loss_custom = defined(namespace, "log_loss_custom")
    for y_true, y_pred in HIDDEN_LOG_LOSS:
        what = f"hidden check log_loss_custom(np.array({y_true}), np.array({y_pred}))"
        got = call(what, lambda: log_loss_custom(np.array(y_true), np.array(y_pred)))
        expect(what, got, reference.log_loss(y_true, y_pred))


def statement_outputs(table, weights):
    """The reference network's output for each student of a statement table."""
    return [reference.network(*weights, math_grade, chemistry_grade) for _, math_grade, chemistry_grade, _ in table]


def check_printed_outputs(output, table, weights):
    for (name, *_), expected in zip(table, statement_outputs(table, weights)):
        got = printed(output, re.escape(name), f"{name}: {expected!r}")
        expect(f"printed '{name}: ...'", got, expected)


# --- the eight questions ---------------------------------------------------------------

def ex1_q1(namespace, output):
    Neuron = defined(namespace, "Neuron")
    what = "Neuron(0, 1, 4).feedforward(2, 3)"
    expect(what, call(what, lambda: Neuron(0, 1, 4).feedforward(2, 3)), reference.neuron((0, 1, 4), 2, 3))
    check_neurons(Neuron, HIDDEN_NEURONS)


def ex2_q1(namespace, output):
    Neuron, Network = defined(namespace, "Neuron"), defined(namespace, "OurNeuralNetwork")
    what = "OurNeuralNetwork(Neuron(1, 2, -1), Neuron(0.5, 1, 0), Neuron(2, 0, 1)).feedforward(2, 3)"
    got = call(what, lambda: Network(*(Neuron(*weights) for weights in EX2_NETWORK)).feedforward(2, 3))
    expect(what, got, reference.network(*EX2_NETWORK, 2, 3))
    check_networks(namespace, HIDDEN_NETWORKS)


def ex3_q1(namespace, output):
    log_loss_custom = defined(namespace, "log_loss_custom")
    what = f"log_loss_custom(np.array({EX3_Y_TRUE}), np.array({EX3_Y_PRED}))"
    got = call(what, lambda: log_loss_custom(np.array(EX3_Y_TRUE), np.array(EX3_Y_PRED)))
    expect(what, got, reference.log_loss(EX3_Y_TRUE, EX3_Y_PRED))
    check_log_loss(namespace)


def ex4_q1(namespace, output):
    check_printed_outputs(output, EX4_TABLE, EX4_NETWORK)
    check_networks(namespace, HIDDEN_NETWORKS)


def ex4_q2(namespace, output):
    expected = reference.log_loss([row[3] for row in EX4_TABLE], statement_outputs(EX4_TABLE, EX4_NETWORK))
    expect("printed log loss", printed(output, r"[^\n]*?loss", f"Log loss: {expected!r}"), expected)
    check_log_loss(namespace)


def ex5_q1(namespace, output):
    Neuron = defined(namespace, "Neuron")
    what = "Neuron(0, 1, 4, True).feedforward(2, 3)"
    expect(what, call(what, lambda: Neuron(0, 1, 4, True).feedforward(2, 3)), reference.neuron((0, 1, 4, True), 2, 3))
    check_neurons(Neuron, HIDDEN_NEURONS, regression=True)
    check_neurons(Neuron, HIDDEN_NEURONS, regression=False)


def ex5_q2(namespace, output):
    check_printed_outputs(output, EX5_TABLE, EX5_NETWORK)
    check_networks(namespace, HIDDEN_REGRESSION_NETWORKS)


def ex5_q3(namespace, output):
    expected = reference.mean_squared_error([row[3] for row in EX5_TABLE], statement_outputs(EX5_TABLE, EX5_NETWORK))
    label = r"[^\n]*?(?:mse|mean[ _]squared[ _]error)"
    expect("printed MSE", printed(output, label, f"MSE: {expected!r}"), expected)
    try:  # the MSE counts only when the outputs it comes from are computed, not typed in
        check_networks(namespace, HIDDEN_REGRESSION_NETWORKS)
    except Lost as lost:
        raise Lost(f"the printed MSE is right, but the network behind it fails: {lost}") from None


NOTEBOOKS = ("ex01_neuron.ipynb", "ex02_neural_network.ipynb", "ex03_log_loss.ipynb",
             "ex04_forward_propagation.ipynb", "ex05_regression.ipynb")
QUESTIONS = {  # question id -> (notebook, check), in gradebook order
    "ex1.q1": (NOTEBOOKS[0], ex1_q1),
    "ex2.q1": (NOTEBOOKS[1], ex2_q1),
    "ex3.q1": (NOTEBOOKS[2], ex3_q1),
    "ex4.q1": (NOTEBOOKS[3], ex4_q1),
    "ex4.q2": (NOTEBOOKS[3], ex4_q2),
    "ex5.q1": (NOTEBOOKS[4], ex5_q1),
    "ex5.q2": (NOTEBOOKS[4], ex5_q2),
    "ex5.q3": (NOTEBOOKS[4], ex5_q3),
}


def questions_of(notebook):
    return [question for question, (name, _) in QUESTIONS.items() if name == notebook]
