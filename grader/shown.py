"""Reading the values a notebook shows: every number it printed or displayed, with its line.

A student may show an answer as `Bob: 0.7855...`, `bob :  0.78552533`, `np.float64(0.78...)`,
an element of `array([0.78552533, 0.77715166, ...])`, or rounded for display (`0.7855`).
`find` says whether an expected value is among the numbers shown, exactly (relative 1e-9) or
as rounded (at least 4 significant digits, and the expected value rounded the same way), and if
not, what the notebook showed under the answer's label instead.
"""
import math
import re
from dataclasses import dataclass

REL_TOL, ABS_TOL = 1e-9, 1e-12
MIN_SIGNIFICANT = 4  # a rounded value must show at least this many significant digits
# A number not glued to a word or another number: "ex4.q1" and "x2" hold none.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")


@dataclass(frozen=True)
class Shown:
    value: float
    text: str        # as it was shown: "0.7855"
    line: str        # the whole line it was on
    where: str       # "code cell 12"


def numbers(cells):
    """Every number shown by the cells that are not check cells, in order."""
    found = []
    for cell in cells:
        if cell["check"]:  # a check cell's messages hold the expected values: never an answer
            continue
        where = cell["where"]
        for line in cell["text"].splitlines():
            for match in NUMBER.finditer(line):
                try:
                    value = float(match.group())
                except ValueError:
                    continue
                if math.isfinite(value):
                    found.append(Shown(value, match.group(), line.strip(), where))
    return found


def significant_digits(text):
    mantissa = re.split(r"[eE]", text.lstrip("+-"))[0].replace(".", "").lstrip("0")
    return len(mantissa)


def decimals(text):
    mantissa, _, exponent = text.lower().partition("e")
    places = len(mantissa.partition(".")[2])
    return places - int(exponent or 0)


def matches(shown, expected):
    """'exact', 'rounded' or None."""
    if math.isclose(shown.value, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL):
        return "exact"
    if significant_digits(shown.text) >= MIN_SIGNIFICANT:
        half_unit = 0.5 * 10.0 ** -decimals(shown.text)
        if abs(shown.value - expected) <= half_unit * (1 + 1e-9):
            return "rounded"
    return None


def labelled(shown, label):
    return re.search(label, shown.line, flags=re.IGNORECASE) is not None


def too_rounded(shown, expected):
    """Equal to the expected value rounded like it, but with too few digits to tell."""
    return "." in shown.text and abs(shown.value - expected) <= 0.5 * 10.0 ** -decimals(shown.text) * (1 + 1e-9)


def find(all_shown, expected, label):
    """(how, the Shown that matches) or (None, the last labelled Shown or None);
    how is "exact", "rounded", or "too rounded" for a value right but with too few digits."""
    rounded = coarse = None
    for shown in all_shown:
        how = matches(shown, expected)
        if how == "exact":
            return "exact", shown
        if how == "rounded" and rounded is None:
            rounded = shown
        if how is None and coarse is None and labelled(shown, label) and too_rounded(shown, expected):
            coarse = shown
    if rounded is not None:
        return "rounded", rounded
    if coarse is not None:
        return "too rounded", coarse
    under_label = [shown for shown in all_shown if labelled(shown, label) and "." in shown.text
                   and significant_digits(shown.text) >= 3]  # not a grade, an index or a tolerance
    return None, (under_label[-1] if under_label else None)
