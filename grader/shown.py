"""Reading the values a notebook shows: every number it printed or displayed, with its line.

A student may show an answer as `Bob: 0.7855...`, `bob :  0.78552533`, `np.float64(0.78...)`,
an element of `array([0.78552533, 0.77715166, ...])`, or rounded for display (`0.7855`).
`find` says whether an expected value is among the numbers shown, exactly (relative 1e-9) or
as rounded (at least 4 significant digits, and the expected value rounded the same way), and if
not, what the notebook showed under the answer's label instead.

Reading is linear in what a cell printed, and bounded: at most MAX_PER_CELL numbers of one cell
are kept (its first and its last ones: an answer printed after a long array still counts), at
most MAX_PER_FILE of one file; the values' `where` and the list's `note` say what was skipped.
"""
import math
import re
from dataclasses import dataclass, field
from itertools import islice

REL_TOL, ABS_TOL = 1e-9, 1e-12
MIN_SIGNIFICANT = 4  # a rounded value must show at least this many significant digits
# A number not glued to a word or another number: "ex4.q1" and "x2" hold none.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")
MAX_PER_CELL = 4000    # numbers kept of one cell: the first half and the last half
MAX_PER_FILE = 100_000  # numbers kept of one file: later cells are not read
MAX_TEXT = 40        # characters of a number read (400 digits are no answer, and float() of them is slow)
MAX_LINE = 300       # characters of a line kept around a number, for the label and the reasons
TAIL_WINDOW = 1 << 16  # characters of a cell's end read first for its last numbers (doubled if too few)


@dataclass(frozen=True)
class Shown:
    value: float
    text: str        # as it was shown: "0.7855"
    line: str        # the line it was on (at most MAX_LINE characters of it, around the number)
    where: str       # "code cell 12"
    digits: int = field(init=False, compare=False)  # significant digits of text, counted once

    def __post_init__(self):
        object.__setattr__(self, "digits", significant_digits(self.text))


class Numbers(list):
    """The Shown values of one file, and `note`: what was not read, "" when everything was."""
    note = ""


def numbers(cells, parsed=None):
    """Every number shown by the cells that are not check cells, in order, within the caps.
    `parsed`: a dict shared by calls over the same cells, so that each cell is read once."""
    found, skipped = Numbers(), []
    parsed = {} if parsed is None else parsed
    for cell in cells:
        if cell["check"]:  # a check cell's messages hold the expected values: never an answer
            continue
        if len(found) >= MAX_PER_FILE:
            skipped.append(f"the numbers {cell['where']} showed were not read: the file showed more than "
                           f"{MAX_PER_FILE} numbers before it")
            break
        key = (cell["where"], cell["text"])
        if key not in parsed:
            parsed[key] = cell_numbers(cell["text"], cell["where"])
        values, complete = parsed[key]
        found += values
        if not complete:
            skipped.append(f"{cell['where']} showed more than {MAX_PER_CELL} numbers: only its first and last "
                           f"{MAX_PER_CELL // 2} were read")
    found.note = "; ".join(skipped)
    return found


def cell_numbers(text, where):
    """(the Shown of one cell's output, whether all were read): its first and last MAX_PER_CELL // 2 at most."""
    half = MAX_PER_CELL // 2
    first = list(islice(NUMBER.finditer(text), half))
    last = last_matches(text, first[-1].end(), half + 1) if len(first) == half else []
    complete = len(last) <= half
    if not complete:
        last = last[1:]
        where = f"{where}, of which only the first and last {half} numbers were read"
    return [shown for match in (*first, *last) if (shown := read(match, text, where)) is not None], complete


def last_matches(text, start, count):
    """The last `count` matches of NUMBER in text[start:] (all of them if fewer), as one scan from
    `start` finds them, read from the end: a cell of a million numbers is not scanned whole.

    A scan that begins inside a number can find a part of it first ("5" of "1e-5", "12" of "-12"),
    which ends where the number ends; from there on it finds what the scan from `start` finds. So
    a scan of a tail is trusted from its second match on, and the tail doubles until it holds more
    than `count` matches or begins at `start`."""
    size = TAIL_WINDOW
    while True:
        begin = max(start, len(text) - size)
        found = list(NUMBER.finditer(text, begin))
        if begin == start:
            return found[-count:]
        if len(found) > count:
            return found[-count:]
        size *= 2


def read(match, text, where):
    """The Shown of one match, with its line (cut around the number when very long)."""
    number = match.group()
    if len(number) > MAX_TEXT:
        return None
    try:
        value = float(number)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return Shown(value, number, line_around(text, match.start(), match.end()), where)


def line_around(text, start, end):
    """The line holding text[start:end], stripped; at most MAX_LINE characters of it, the number's start inside."""
    first = max(0, start - MAX_LINE // 2)
    first = text.rfind("\n", first, start) + 1 or first  # searched within the window only: linear in all
    found = text.find("\n", end, first + MAX_LINE)
    last = min(len(text), first + MAX_LINE) if found < 0 else found
    return text[first:last].strip()


def significant_digits(text):
    mantissa = text.lstrip("+-").partition("e")[0].partition("E")[0].replace(".", "").lstrip("0")
    return len(mantissa)


def decimals(text):
    mantissa, _, exponent = text.lower().partition("e")
    places = len(mantissa.partition(".")[2])
    return places - int(exponent or 0)


def matches(shown, expected):
    """'exact', 'rounded' or None."""
    if math.isclose(shown.value, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL):
        return "exact"
    if shown.digits >= MIN_SIGNIFICANT:
        half_unit = 0.5 * 10.0 ** -decimals(shown.text)
        if abs(shown.value - expected) <= half_unit * (1 + 1e-9):
            return "rounded"
    return None


def too_rounded(shown, expected):
    """Equal to the expected value rounded like it, but with too few digits to tell."""
    return "." in shown.text and abs(shown.value - expected) <= 0.5 * 10.0 ** -decimals(shown.text) * (1 + 1e-9)


def find(all_shown, expected, label):
    """(how, the Shown that matches) or (None, the last labelled Shown or None);
    how is "exact", "rounded", or "too rounded" for a value right but with too few digits.

    The label is searched for last, and once per distinct line: a file may show 100,000 numbers,
    and a long printed line gives thousands of them the same line."""
    pattern = re.compile(label, flags=re.IGNORECASE)
    seen_lines = {}

    def under_label(shown):
        if shown.line not in seen_lines:
            seen_lines[shown.line] = pattern.search(shown.line) is not None
        return seen_lines[shown.line]

    rounded = coarse = None
    for shown in all_shown:
        how = matches(shown, expected)
        if how == "exact":
            return "exact", shown
        if how == "rounded" and rounded is None:
            rounded = shown
        if how is None and coarse is None and too_rounded(shown, expected) and under_label(shown):
            coarse = shown
    if rounded is not None:
        return "rounded", rounded
    if coarse is not None:
        return "too rounded", coarse
    last = next((shown for shown in reversed(all_shown) if "." in shown.text and shown.digits >= 3
                 and under_label(shown)), None)  # not a grade, an index or a tolerance
    return None, last
