"""The committed notebooks carry real, stable outputs (what nbval compares against)."""
import math
import re

import nbformat
import numpy as np
import pytest
from nbval.plugin import get_sanitize_patterns

import statement as S
from conftest import NOTEBOOKS, ROOT

SANITIZE = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text(encoding="utf-8"))
LONG_NUMBER = re.compile(r"-?\d+\.\d{11,}")
# The five exercises and the bonus notebook of exercise 6 (not among the eight graded questions).
CHECKED = {**NOTEBOOKS, "ex06": "ex06_training.ipynb"}


def stored_text(exercise):
    """All text a notebook shows in its stored outputs, cell after cell."""
    notebook = nbformat.read(ROOT / CHECKED[exercise], as_version=4)
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def sanitize(text):
    for regex, replacement in SANITIZE:
        text = re.sub(regex, replacement, text)
    return text


@pytest.mark.parametrize("exercise", CHECKED)
def test_executed_top_to_bottom_without_errors(exercise):
    notebook = nbformat.read(ROOT / CHECKED[exercise], as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]


@pytest.mark.parametrize("exercise", CHECKED)
def test_no_numpy_scalar_reprs(exercise):
    text = stored_text(exercise)
    assert "np.float64(" not in text and "np.True_" not in text and "np.int64(" not in text


@pytest.mark.parametrize("exercise", CHECKED)
def test_sanitized_numbers_survive_a_few_ulps(exercise):
    """A stored number a few ulps from a rounding edge would make nbval depend on the CPU."""
    for token in LONG_NUMBER.findall(stored_text(exercise)):
        value = float(token)
        for direction in (-math.inf, math.inf):
            nearby = value
            for _ in range(4):
                nearby = np.nextafter(nearby, direction)
            assert sanitize(repr(float(nearby))) == sanitize(token), token


def printed(text, label):
    """The number printed after `label: ` or `label = ` (the last such line)."""
    found = re.findall(rf"^{re.escape(label)}(?::| =) (\S+)$", text, flags=re.MULTILINE)
    assert found, f"no line '{label}: ...' in the stored outputs"
    return float(found[-1])


@pytest.mark.parametrize("exercise, label, expected", [
    ("ex01", "Neuron(0, 1, 4).feedforward(2, 3)", S.EX1),
    ("ex02", "network.feedforward(2, 3)", S.EX2),
    ("ex03", "log_loss_custom", S.EX3),
    *[("ex04", name, value) for name, value in S.EX4_Q1.items()],
    ("ex04", "Log loss", S.EX4_Q2),
    *[("ex05", name, value) for name, value in S.EX5_Q2.items()],
    ("ex05", "MSE", S.EX5_Q3),
    *[("ex06", f"dL/d{name}", value) for name, value in zip(S.EX6_PARAMETER_NAMES, S.EX6_Q1)],
    ("ex06", "Loss after 200 steps", S.EX6_Q2),
])
def test_graded_numbers_are_printed(exercise, label, expected):
    assert math.isclose(printed(stored_text(exercise), label), expected, rel_tol=S.REL)


def test_ex5_q1_is_printed():
    assert re.search(r"^Neuron\(0, 1, 4, True\)\.feedforward\(2, 3\) = 7(\.0)?$", stored_text("ex05"), re.MULTILINE)


def test_cross_checks_print_whether_they_agree_not_the_value():
    """A given cell prints no graded number computed by scikit-learn, only whether it agrees."""
    assert re.search(r"^log_loss_custom agrees with sklearn\.metrics\.log_loss .*: True$", stored_text("ex03"), re.MULTILINE)
    assert re.search(r"^agrees with sklearn\.metrics\.mean_squared_error .*: True$", stored_text("ex05"), re.MULTILINE)
    assert "sklearn.metrics.log_loss:" not in stored_text("ex03")
    assert "sklearn.metrics.mean_squared_error:" not in stored_text("ex05")


def test_ex5_sigmoid_output_is_shown_below_1():
    text = stored_text("ex05")
    stuck = re.search(r"^with a sigmoid output neuron: \[(.*)\]$", text, re.MULTILINE).group(1).split()
    assert len(stuck) == 4 and all(0.999 < float(value) < 1 for value in stuck), stuck
    gaps = re.search(r"^their distance to 1: \[(.*)\]$", text, re.MULTILINE).group(1).split()
    assert len(gaps) == 4 and all(0 < float(gap) < 1e-5 for gap in gaps), gaps
