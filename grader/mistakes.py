"""The kind of mistake behind a lost point, guessed from the expected and the wrong value on the statement's input.

`mistake(result)` gives a short label the class report groups by ("sum instead of mean") and a
sentence for the student, or a label made from the result's kind and its reason with the digits
replaced by '#' when no known mistake explains the numbers. Known mistakes are tried in order;
the first whose value matches `got` (relative 1e-6) wins.
"""
import math
import re

from grader import reference

REL = 1e-6
NUMBER = re.compile(r"(?<![A-Za-z_\d.])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def _close(a, b):
    return a is not None and b is not None and math.isfinite(a) and math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def _logit(p):
    return math.log(p / (1 - p)) if 0 < p < 1 else None


def _ex5_outputs(h2_weight=0.002, regression=True):
    """The exercise 5 network's outputs for the statement's four students, with a variant's weights."""
    rows = ((12, 15, 16), (10, 9, 10), (18, 18, 19), (13, 14, 16))
    h1, h2, o1 = (0.05, 0.001, 0, False), (h2_weight, 0.003, 0, False), (2, 7, 10, regression)
    return [(reference.network(h1, h2, o1, m, c), target) for m, c, target in rows]


def _ex5_variants():
    """(label, sentence, correct value, wrong value) for the per-student outputs and the MSE of exercise 5."""
    found = []
    for label, sentence, outputs in (
            ("exercise 4's weights in exercise 5", "h2 uses exercise 4's weight 0.02; exercise 5 uses 0.002",
             _ex5_outputs(h2_weight=0.02)),
            ("sigmoid on the regression output", "the output neuron still applies the sigmoid; "
             "for regression it must use the identity (regression=True)", _ex5_outputs(regression=False))):
        right = _ex5_outputs()
        found += [(label, sentence, good, bad) for (good, _), (bad, _) in zip(right, outputs)]
        mse = lambda pairs: sum((t - p) ** 2 for p, t in pairs) / len(pairs)  # noqa: E731
        found.append((label, sentence, mse(right), mse(outputs)))
    return found


SPECIFIC = _ex5_variants() + [
    ("no bias", "the bias is not added to the weighted sum",
     reference.neuron((0, 1, 4), 2, 3), reference.sigmoid(3)),
    ("no bias", "the bias is not added to the weighted sum",
     reference.neuron((0, 1, 4, True), 2, 3), 3.0),
]


def _generic(expected, got):
    """(label, sentence) of a mistake that relates got to expected whatever the question."""
    if _close(got, -expected):
        return "missing minus sign", "the result has the wrong sign: a minus sign is missing (or one too many)"
    for n in range(2, 13):
        if _close(got, n * expected):
            return "sum instead of mean", f"the result is {n} times too large: a sum where the mean is asked"
        if _close(got, expected / n):
            return "divided once too often", f"the result is {n} times too small: divided by n once too often"
        if _close(got, expected * n / (n - 1)):
            return "divided by n - 1", "divided by n - 1 instead of n"
    if expected > 0 and _close(got, math.sqrt(expected)):
        return "square root taken (RMSE instead of MSE)", "the square root of the expected value: RMSE where MSE is asked"
    if _close(got, expected / math.log(10)):
        return "log10 instead of ln", "log10 where the natural logarithm (np.log) is asked"
    if _close(got, expected / math.log(2)):
        return "log2 instead of ln", "log2 where the natural logarithm (np.log) is asked"
    if _close(reference.sigmoid(got) if abs(got) < 700 else None, expected):
        return "missing sigmoid", "the weighted sum is right, but the sigmoid is not applied to it"
    if _close(got, _logit(expected) if expected is not None else None):
        return "missing sigmoid", "the weighted sum is right, but the sigmoid is not applied to it"
    if 0 < expected < 1 and _close(got, 1 - expected):
        return "1 - p instead of p", "the result is 1 minus the expected one: the two classes are swapped"
    if _close(got, expected ** 2):
        return "squared once too often", "the result is the square of the expected value"
    return None


def mistake(result):
    """(label, sentence or ''); label groups the results of the same kind of mistake."""
    expected, got = result.expected, result.got
    if result.kind == "wrong value" and isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        for label, sentence, right, wrong in SPECIFIC:
            if _close(expected, right) and _close(got, wrong):
                return label, sentence
        known = _generic(float(expected), float(got))
        if known:
            return known
    text = pattern(result.reason)
    return (text if text.startswith(result.kind) else f"{result.kind}: {text}"), ""


def pattern(reason):
    """The reason without its numbers, its file and its notebook notes, so that alike reasons group."""
    text = re.sub(r"\s*\[the notebook:.*$", "", reason or "")
    text = re.sub(r"\s*\(in [^)]*\)\s*$", "", text)
    text = NUMBER.sub("#", text)
    text = re.sub(r"#(?:\s*,\s*#)+", "#, ...", text)
    return text.strip() or "(no reason given)"
