"""What each graded question requires: the one place to read or change a question.

For each student the grader draws hidden inputs (`draw`), asks every file of the student to call
its own functions on them (the probes, plain data), and then judges each question here, in the
grader's process, against `reference` (plain `math`). A question passes on one file:

- ex1.q1, ex2.q1, ex3.q1, ex5.q1 name code (SPEC.md): `Neuron`, `OurNeuralNetwork`,
  `log_loss_custom`, the `regression` flag. It must give the statement's value AND the
  reference's value on hidden inputs. Only behaviour counts, not attribute names.
- ex5.q1 is judged against the student's own neuron: True gives the weighted sum, False gives
  what their exercise-1 `Neuron` gives (a wrong sigmoid costs ex1.q1, not ex5.q1 again).
- ex4.q1, ex4.q2, ex5.q2, ex5.q3 name no code: the value must be shown (shown.py) by the student's
  own cells, and the network with the statement's weights must be in the file: something that
  computes it on hidden grades (an object with `feedforward`, kept after any cell, a function of
  the two grades or of a table), or its three neurons. Typed-in numbers earn nothing: a value the
  file's own code holds as a literal, one shown by the edition's given cells or read from a check
  cell's expected values, and a rounded value among a sweep of candidates do not count. Every
  function the student wrote whose name says log loss or MSE must compute it on hidden inputs
  (the edition's untouched stub, still raising NotImplementedError, is "not written", not wrong).
"""
import ast
import csv
import functools
import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

from grader import reference, shown

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
EDITION_DIR = PROJECT_DIR / "exercises"  # the student edition: its given cells are no student's answer
REL_TOL, ABS_TOL = 1e-9, 1e-12

NOTEBOOKS = ("ex01_neuron.ipynb", "ex02_neural_network.ipynb", "ex03_log_loss.ipynb",
             "ex04_forward_propagation.ipynb", "ex05_regression.ipynb")
BONUS_NOTEBOOKS = ("ex06_training.ipynb",)
ALL_NOTEBOOKS = NOTEBOOKS + BONUS_NOTEBOOKS
QUESTION_IDS = ("ex1.q1", "ex2.q1", "ex3.q1", "ex4.q1", "ex4.q2", "ex5.q1", "ex5.q2", "ex5.q3")
BONUS_IDS = ("ex6.q1", "ex6.q2")  # exercise 6 (bonus): own columns, not in the total of eight
EXERCISE_OF = {question: int(question[2]) for question in QUESTION_IDS + BONUS_IDS}
TOPICS = {1: "the neuron", 2: "the network", 3: "log loss", 4: "forward propagation", 5: "regression",
          6: "training"}

# What a label near a shown value looks like, for the reason when the value is wrong.
LOSS_LABEL = r"log.?loss|logloss|loss|entropy"
MSE_LABEL = r"\bmse\b|mean.?squared|squared.?error"
# A function of the student's whose name says it computes one of the losses.
LOG_LOSS_NAME = r"log.?loss|logloss|cross.?entropy|\bbce\b"
MSE_NAME = r"mse|mean.?squared|squared.?error"


def statement_table(file_name, target):
    """[(name, math, chemistry, target)] from one of the project's CSV files."""
    with open(DATA_DIR / file_name, newline="", encoding="utf-8") as handle:
        return [(row["name"], float(row["math"]), float(row["chemistry"]), float(row[target]))
                for row in csv.DictReader(handle)]


EX1_NEURON, EX1_INPUT = (0, 1, 4), (2, 3)
EX2_NETWORK, EX2_INPUT = ((1, 2, -1), (0.5, 1, 0), (2, 0, 1)), (2, 3)
EX3_Y_TRUE, EX3_Y_PRED = [0, 1, 1, 0, 1], [0.1, 0.8, 0.6, 0.5, 0.3]
EX4_NETWORK = ((0.05, 0.001, 0), (0.02, 0.003, 0), (2, 0, 0))
EX5_NETWORK = ((0.05, 0.001, 0, False), (0.002, 0.003, 0, False), (2, 7, 10, True))
EX4_TABLE = statement_table("exam_success.csv", "exam_success")
EX6_GRADIENT_AT = [0.05, 0.001, 0, 0.02, 0.003, 0, 2, 0, 0]  # exercise 4's weights, raw grades
EX6_START = [0.13, -0.13, 0.64, 0.1, -0.54, 0.36, 1.3, 0.95, -0.7]  # then 200 steps at 0.5, standardised
EX6_LEARNING_RATE, EX6_STEPS = 0.5, 200
EX6_LABEL = r"after\s*200"
EX5_TABLE = statement_table("physics_grades.csv", "physics")


def statement_outputs(table, weights):
    """The reference network's output for each student of a statement table."""
    return [reference.network(*weights, m, c) for _, m, c, _ in table]


# --- hidden inputs ---------------------------------------------------------------------------

class Draw:
    """The hidden inputs of one student in one run: short decimals, so reasons stay readable."""

    def __init__(self, seed, student):
        self.rng = random.Random(f"{seed}/{student}")

    def numbers(self, count, low, high):
        return [round(self.rng.uniform(low, high), 2) for _ in range(count)]

    def neurons(self, count, regression=None):
        cases = []
        for _ in range(count):
            w1, w2, b, x1, x2 = self.numbers(5, -3, 3)
            args = [w1, w2, b] if regression is None else [w1, w2, b, regression]
            cases.append({"args": args, "call": [x1, x2]})
        return cases

    def networks(self, count, regression=False):
        cases = []
        for _ in range(count):
            h1, h2, o1 = (self.numbers(3, -2, 2) for _ in range(3))
            if regression:
                h1, h2, o1 = [*h1, False], [*h2, False], [*o1, True]
            cases.append({"neurons": [h1, h2, o1], "call": self.numbers(2, -5, 5)})
        return cases

    def labels_and_probabilities(self, count):
        cases = []
        for n in (1, 3, 7, 12)[:count]:
            y_true = [float(self.rng.randint(0, 1)) for _ in range(n)]
            cases.append({"args": [y_true, self.numbers(n, 0.02, 0.98)]})
        return cases

    def targets_and_predictions(self, count):
        return [{"args": [self.numbers(n, 0, 20), self.numbers(n, 0, 20)]} for n in (2, 5, 9)[:count]]

    def grades(self, count):
        return [self.numbers(2, 0, 20) for _ in range(count)]

    def training_tables(self, count):
        """(params, x1, x2, y): random weights and a small standardised-looking table."""
        cases = []
        for n in (3, 5, 4)[:count]:
            y = [float(self.rng.randint(0, 1)) for _ in range(n - 1)]
            y.append(1.0 - y[0])  # both classes present
            cases.append({"args": [self.numbers(9, -1.5, 1.5), self.numbers(n, -2, 2), self.numbers(n, -2, 2), y]})
        return cases


def probes(seed, student):
    """The probes every file of this student runs: plain data, sent to its process."""
    draw = Draw(seed, student)
    statement_neuron = {"args": list(EX1_NEURON), "call": list(EX1_INPUT)}
    statement_regression = {"args": [*EX1_NEURON, True], "call": list(EX1_INPUT)}
    statement_network = {"neurons": [list(n) for n in EX2_NETWORK], "call": list(EX2_INPUT)}
    statement_log_loss = {"args": [[float(y) for y in EX3_Y_TRUE], EX3_Y_PRED]}
    hidden_neurons = draw.neurons(5)
    grades = draw.grades(4)
    # regression=False on the inputs of the exercise-1 probe: compared with the student's own neuron
    own_flag_false = [{"args": [*case["args"], False], "call": case["call"]} for case in hidden_neurons[:2]]
    return {
        "neuron": {"kind": "construct", "name": "Neuron", "method": "feedforward",
                   "cases": [statement_neuron, *hidden_neurons]},
        "regression": {"kind": "construct", "name": "Neuron", "method": "feedforward",
                       "cases": [statement_regression, *draw.neurons(3, True), *own_flag_false]},
        "network": {"kind": "network", "name": "OurNeuralNetwork", "neuron": "Neuron",
                    "cases": [statement_network, *draw.networks(4)]},
        "log_loss_custom": {"kind": "function", "name": "log_loss_custom",
                            "cases": [statement_log_loss, *draw.labels_and_probabilities(4)]},
        "log_loss_named": {"kind": "matching", "pattern": LOG_LOSS_NAME,
                           "cases": draw.labels_and_probabilities(2)},
        "mse_named": {"kind": "matching", "pattern": MSE_NAME, "cases": draw.targets_and_predictions(2)},
        "predictors": {"kind": "predictors", "cases": grades},
        # the inputs an output neuron o1 gets from h1 and h2 on those grades: finds three loose neurons
        "output_neurons": {"kind": "predictors", "cases": [*hidden_layer(EX4_NETWORK, grades),
                                                           *hidden_layer(EX5_NETWORK, grades)]},
        "gradients": {"kind": "function", "name": "gradients",
                      "cases": [{"args": [EX6_GRADIENT_AT, *statement_columns()]}, *draw.training_tables(3)]},
        "train": {"kind": "function", "name": "train",
                  "cases": [{"args": [*case["args"], learning_rate, steps]}
                            for case, learning_rate, steps in zip(draw.training_tables(2), (0.3, 1.0), (7, 3))]},
    }


def hidden_layer(weights, grades):
    """(h1, h2) of the network with these weights on each row of grades: what its o1 receives."""
    h1, h2, _ = weights
    return [[reference.neuron(h1, *row), reference.neuron(h2, *row)] for row in grades]


def statement_columns():
    """The exam table as the three columns of exercise 6: maths, chemistry, exam_success."""
    return [[row[1] for row in EX4_TABLE], [row[2] for row in EX4_TABLE], [row[3] for row in EX4_TABLE]]


# --- what a file answered -------------------------------------------------------------------

@dataclass
class Verdict:
    points: int
    reason: str = ""             # one line; for a point earned, a note such as "accepted as rounded"
    kind: str = "ok"             # ok, missing, not implemented, error, wrong value, not shown, hidden check, ...
    expected: float | None = None  # on the statement's input
    got: float | None = None


class Lost(Exception):
    """The point is lost: reason, kind, and the statement's expected/got where known."""

    def __init__(self, reason, kind="wrong value", expected=None, got=None):
        super().__init__(reason)
        self.verdict = Verdict(0, reason, kind, expected, got)


def fmt(values):
    return ", ".join(f"{v:g}" if isinstance(v, float) else repr(v) for v in values)


def close(got, expected):
    return math.isclose(got, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def value_error(what, value, expected, statement):
    """Lost for one returned value that is not the expected number."""
    where = "" if statement else "hidden check "
    if "e" in value:
        kind = "not implemented" if "NotImplementedError" in value["e"] else "error"
        raise Lost(f"{where}{what} {value['e']}", kind)
    if "a" in value:
        shape = "x".join(str(n) for n in value["shape"])
        raise Lost(f"{where}{what} returned an array of shape ({shape}), not one number", "wrong value")
    got = value["v"]
    raise Lost(f"{where}{what}: expected {expected!r}, got {got!r}",
               "wrong value" if statement else "hidden check",
               expected if statement else None, got if statement else None)


def first_failure(values, expected):
    """The index of the first value that is not its expected number (or is missing), or None."""
    for index, (value, wanted) in enumerate(zip(values, expected)):
        if "v" not in value or not close(value["v"], wanted):
            return index
    return None if len(values) >= len(expected) else len(values)


def passing_version(results, expected, describe, missing):
    """The label of a version whose every value is right; else Lost with the most useful reason."""
    if not isinstance(results, list):
        raise Lost(f"the check could not run: {results.get('error', 'no result')}", "crash")
    if not results:
        raise Lost(missing, "missing")
    failures = []
    for result in results:
        index = first_failure(result["values"], expected)
        if index is None:
            return result["label"]
        failures.append((index, result))
    index, result = max(failures, key=lambda failure: failure[0])  # the one that got furthest
    value_error(describe(index), result["values"][index], expected[index], statement=index == 0)


def neuron_call(case):
    return f"Neuron({fmt(case['args'])}).feedforward({fmt(case['call'])})"


def network_call(case):
    h1, h2, o1 = (fmt(n) for n in case["neurons"])
    return f"OurNeuralNetwork(Neuron({h1}), Neuron({h2}), Neuron({o1})).feedforward({fmt(case['call'])})"


def function_call(name, case):
    return f"{name}({', '.join('np.array([' + fmt(a) + '])' for a in case['args'])})"


def expected_neurons(cases):
    return [reference.neuron(case["args"], *case["call"]) for case in cases]


def expected_networks(cases):
    return [reference.network(*case["neurons"], *case["call"]) for case in cases]


# --- judging one file -------------------------------------------------------------------------

CHECK_CELL = re.compile(r"^check\(", re.MULTILINE)  # as worker.py marks a check cell
MIN_TYPED_DIGITS = shown.MIN_SIGNIFICANT  # a literal with fewer digits is a weight or a grade, not an answer


@functools.cache
def given_code():
    """The code cells of the student edition that every student is given (no stub in them), in
    order. Our own notebooks, read as the JSON they are: nbformat's import alone costs about 3 s
    of CPU (jsonschema's URI grammar), once per grading run."""
    cells = []
    for path in sorted(EDITION_DIR.glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            if cell["cell_type"] == "code" and "NotImplementedError" not in source:
                cells.append(source)
    return tuple(cells)


@functools.cache
def given_cells():
    """given_code(), as a set of stripped sources."""
    return frozenset(source.strip() for source in given_code())


def assigned_names(source):
    """The names a cell assigns at its top level (a check cell's `expected_q1 = {...}`)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # IPython magics, or a cell that does not parse
        return set()
    return {target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)}


def reads_any(source, names):
    """Whether `source` has one of the identifiers `names` as a whole word: one pass over the
    source, whatever the number of names (a search per name cost names x cells: a notebook with
    20000 names in a check cell and 150 cells stalled the whole run for two minutes)."""
    return bool(names) and not names.isdisjoint(re.findall(r"\w+", source))


class Evidence:
    """One file's run, as the questions read it: its probes and the numbers its own cells showed.

    `sources`: the file's code cells (by index), when the grader has them. Never an answer: what a
    cell shows that reads a check cell's expected values (`print(expected_q1)`). Not an answer to
    exercises 4 and 5 (`own_numbers`): what the edition's given cells show, such as exercise 4's
    one call for the whole table, which is not the student's per-student answer."""

    def __init__(self, probes_sent, result, name, sources=None):
        self.sent = probes_sent
        self.probes = result["probes"]
        self.sources = sources or []
        self.own_cells = [source for source in self.sources
                          if source.strip() not in given_cells() and not CHECK_CELL.search(source)]
        self.expected_names = set().union(*(assigned_names(source) for source in self.sources
                                            if CHECK_CELL.search(source)))
        cells = [cell for cell in result["cells"] if not self.reads_expected(cell["index"])]
        parsed = {}  # each cell's output read once, for both lists
        self.numbers = shown.numbers(cells, parsed)
        self.own_numbers = shown.numbers([cell for cell in cells if not self.given(cell["index"])], parsed)
        self.name = name  # the file's relative path, for reasons
        self._literals = None  # literals(), once asked

    def reads_expected(self, index):
        return index < len(self.sources) and reads_any(self.sources[index], self.expected_names)

    def given(self, index):
        return index < len(self.sources) and self.sources[index].strip() in given_cells()

    def typed_in(self, expected):
        """(cell number, literal) of the expected value written into the file's own code, or None."""
        for number, literal in self.literals():
            if shown.matches(literal, expected):
                return number, literal.text
        return None

    def literals(self):
        """(cell number, Shown) of each distinct literal of enough digits in the file's own code, in
        order (a repeat matches where its first did), read once for all the questions (red team:
        reading every literal again for each question took 230 s for a 20 MiB notebook of numbers)."""
        if self._literals is None:
            self._literals, seen = [], set()
            for source in self.own_cells:
                number = self.sources.index(source) + 1
                for match in shown.NUMBER.finditer(source):
                    text = match.group()
                    if text not in seen:
                        seen.add(text)
                        if shown.significant_digits(text) >= MIN_TYPED_DIGITS:
                            self._literals.append((number, shown.Shown(float(text), text, "", "")))
        return self._literals

    def results(self, probe):
        return self.probes.get(probe, {"error": "the file's process ended before this check"})

    def cases(self, probe):
        return self.sent[probe]["cases"]


def named_code(evidence, probe, expected, describe, missing):
    return passing_version(evidence.results(probe), expected, describe,
                           f"{missing}: this question checks the code the statement names, a printed value does not count")


def ex1_q1(evidence):
    cases = evidence.cases("neuron")
    named_code(evidence, "neuron", expected_neurons(cases), lambda i: neuron_call(cases[i]),
               "`Neuron` is not defined")


def ex2_q1(evidence):
    cases = evidence.cases("network")
    named_code(evidence, "network", expected_networks(cases), lambda i: network_call(cases[i]),
               "`OurNeuralNetwork` (or the `Neuron` it is built from) is not defined")


def ex3_q1(evidence):
    cases = evidence.cases("log_loss_custom")
    expected = [reference.log_loss(*case["args"]) for case in cases]
    named_code(evidence, "log_loss_custom", expected, lambda i: function_call("log_loss_custom", cases[i]),
               "`log_loss_custom` is not defined")


def ex5_q1(evidence):
    """True: the weighted sum. False: what the student's own exercise-1 neuron gives on the same
    inputs (its sigmoid, right or wrong, is ex1.q1's business), and not the weighted sum."""
    cases = evidence.cases("regression")
    expected = expected_neurons(cases)
    flag_false = [index for index, case in enumerate(cases) if case["args"][3] is False]
    own = own_neuron_values(evidence, [cases[index]["args"][:3] for index in flag_false])
    for index, value in zip(flag_false, own):
        if value is not None:
            expected[index] = value
    named_code(evidence, "regression", expected, lambda i: neuron_call(cases[i]), "`Neuron` is not defined")
    for index in flag_false:
        case = cases[index]
        w1, w2, b, _ = case["args"]
        weighted_sum = w1 * case["call"][0] + w2 * case["call"][1] + b
        if close(expected[index], weighted_sum):
            raise Lost(f"hidden check {neuron_call(case)} gives the weighted sum {weighted_sum!r}: with "
                       f"regression=False the neuron must keep its activation", "hidden check")


def own_neuron_values(evidence, args):
    """What the file's first `Neuron` (its exercise-1 neuron) gives on the exercise-1 probe's
    cases with these (w1, w2, b); None where it gives no number."""
    cases = evidence.cases("neuron")
    results = evidence.results("neuron")
    first = results[0]["values"] if isinstance(results, list) and results else []
    values = []
    for wanted in args:
        index = next((i for i, case in enumerate(cases) if case["args"] == list(wanted)), None)
        value = first[index] if index is not None and index < len(first) else {}
        values.append(value.get("v"))
    return values


MAX_NEARBY = 20  # distinct values shown within 50 rounding steps of an answer: more is a sweep of candidates


def must_show(evidence, what, expected, label, computed=False):
    """The note for a value shown (exactly or as rounded); Lost if the file does not show it.
    `computed` (exercises 4 and 5): shown by the student's own cells, not typed into the file's
    code, and not found among a sweep of candidates."""
    if computed and (typed := evidence.typed_in(expected)):
        cell, text = typed
        raise Lost(f"{what}: {text} is typed into the code (code cell {cell}), not computed: a typed-in "
                   f"number earns nothing", "hidden check", expected)
    numbers = evidence.own_numbers if computed else evidence.numbers
    how, seen = shown.find(numbers, expected, label)
    if how == "exact":
        return ""
    if how == "rounded":
        if computed and (nearby := shown_nearby(numbers, seen)) > MAX_NEARBY:
            raise Lost(f"{what}: the file shows {nearby} different numbers within 50 steps of "
                       f"{seen.text}: a list of candidates is not an answer", "hidden check", expected)
        return f"{what} accepted as rounded ({seen.text} in {seen.where})"
    if how == "too rounded":
        raise Lost(f"{what}: shown as {seen.text} ({seen.where}), rounded to {seen.digits} "
                   f"significant digits; show at least {shown.MIN_SIGNIFICANT} (expected {expected!r})",
                   "wrong value", expected, seen.value)
    if seen is not None:
        raise Lost(f"{what}: expected {expected!r}, shown {seen.text} ({seen.where}: '{shown_line(seen)}')",
                   "wrong value", expected, seen.value)
    skipped = f" ({numbers.note})" if getattr(numbers, "note", "") else ""  # a cap of shown.py was hit
    raise Lost(f"{what} is not shown: no printed or displayed value equals {expected!r}{skipped}", "not shown", expected)


def shown_nearby(numbers, seen):
    """How many different values are shown within 50 steps of the last digit of `seen`."""
    step = 10.0 ** -shown.decimals(seen.text)
    return len({number.value for number in numbers if abs(number.value - seen.value) <= 50 * step})


def shown_line(seen):
    return seen.line if len(seen.line) <= 80 else seen.line[:77] + "..."


def network_behind(evidence, weights, neuron_probe):
    """Lost unless the network with these weights is in the file: something that computes it on
    hidden grades, or three neurons that make it (h1 and h2 on the grades, o1 on their outputs)."""
    rows = evidence.cases("predictors")
    expected = [reference.network(*weights, *row) for row in rows]
    candidates = evidence.results("predictors")
    candidates = candidates if isinstance(candidates, list) else []
    for candidate in candidates:
        values = candidate["values"]
        if len(values) == 1 and "a" in values[0]:  # a function of the whole table
            got = values[0]["a"]
            if len(got) == len(expected) and all(close(g, e) for g, e in zip(got, expected)):
                return
        elif first_failure(values, expected) is None:
            return
    if three_neurons(evidence, weights, candidates):
        return
    try:  # a more useful reason when the student's neuron is what is wrong
        ex1_q1(evidence) if neuron_probe == "neuron" else ex5_q1(evidence)
    except Lost as lost:
        if lost.verdict.kind != "missing":
            raise Lost(f"the values are shown, but the code behind them fails: {lost.verdict.reason}",
                       "hidden check") from None
    raise Lost("the values are shown, but no code in the file computes them: no network with the statement's "
               "weights (an object with feedforward, a function of the grades, or its three neurons) was found",
               "hidden check")


def three_neurons(evidence, weights, candidates):
    """True if the file holds the network's neurons, not joined in a network: h1 and h2 right on
    the hidden grades, and o1 right on what h1 and h2 give there."""
    rows = evidence.cases("predictors")
    h1, h2, o1 = weights
    output_cases = evidence.cases("output_neurons")
    first = 0 if weights == EX4_NETWORK else len(rows)  # the probe holds exercise 4's inputs, then 5's
    o1_expected = [reference.neuron(o1, *pair) for pair in output_cases[first:first + len(rows)]]
    o1_results = evidence.results("output_neurons")

    def found(results, expected, offset=0):
        return any(first_failure(result["values"][offset:offset + len(expected)], expected) is None
                   and len(result["values"]) >= offset + len(expected) for result in results)
    return (found(candidates, [reference.neuron(h1, *row) for row in rows])
            and found(candidates, [reference.neuron(h2, *row) for row in rows])
            and found(o1_results if isinstance(o1_results, list) else [], o1_expected, first))


def own_losses_right(evidence, probe, compute, what):
    """Every function the student wrote whose name says it computes this loss must compute it."""
    results = evidence.results(probe)
    cases = evidence.cases(probe)
    expected = [compute(*case["args"]) for case in cases]
    for result in results if isinstance(results, list) else []:
        if not result.get("own", True):
            continue  # scikit-learn's own log_loss or mean_squared_error, imported: nothing to check
        if all("NotImplementedError" in value.get("e", "") for value in result["values"]):
            continue  # the edition's stub, left as it was: not written, and the value comes from elsewhere
        index = first_failure(result["values"], expected)
        if index is not None:
            describe = function_call(result["label"], cases[index])
            try:
                value_error(describe, result["values"][index], expected[index], statement=False)
            except Lost as lost:
                raise Lost(f"the {what} shown does not come from working code: {lost.verdict.reason}",
                           "hidden check") from None


def outputs_shown(evidence, table, weights):
    notes = []
    for (name, *_), expected in zip(table, statement_outputs(table, weights)):
        notes.append(must_show(evidence, f"{name}'s output", expected, rf"\b{name}\b", computed=True))
    return "; ".join(note for note in notes if note)


def outputs_question(evidence, table, weights, neuron_probe):
    """The network's output for each student shown, and working code behind them."""
    note = outputs_shown(evidence, table, weights)
    network_behind(evidence, weights, neuron_probe)
    return note


def loss_question(evidence, name, label, compute, named_probe, table, weights, neuron_probe):
    """The loss of the statement's outputs shown, the code behind the outputs, and the student's
    own function for that loss, if any, right on hidden inputs."""
    expected = compute([row[3] for row in table], statement_outputs(table, weights))
    note = must_show(evidence, f"the {name}", expected, label, computed=True)
    network_behind(evidence, weights, neuron_probe)
    own_losses_right(evidence, named_probe, compute, name)
    return note


def ex4_q1(evidence):
    return outputs_question(evidence, EX4_TABLE, EX4_NETWORK, "neuron")


def ex4_q2(evidence):
    return loss_question(evidence, "log loss", LOSS_LABEL, reference.log_loss, "log_loss_named",
                         EX4_TABLE, EX4_NETWORK, "neuron")


def ex5_q2(evidence):
    return outputs_question(evidence, EX5_TABLE, EX5_NETWORK, "regression")


def ex5_q3(evidence):
    return loss_question(evidence, "MSE", MSE_LABEL, reference.mean_squared_error, "mse_named",
                         EX5_TABLE, EX5_NETWORK, "regression")


def close_arrays(got, expected):
    """Nine numbers each; an absolute margin scaled to the largest, since some are exactly 0."""
    scale = max(1.0, max(abs(e) for e in expected))
    return len(got) == len(expected) and all(
        math.isclose(g, e, rel_tol=1e-7, abs_tol=1e-9 * scale) for g, e in zip(got, expected))


def nine_numbers(evidence, probe, expected, describe, missing):
    """A version of the named function whose every result is the expected array."""
    results = evidence.results(probe)
    if not isinstance(results, list):
        raise Lost(f"the check could not run: {results.get('error', 'no result')}", "crash")
    if not results:
        raise Lost(missing, "missing")
    worst = None
    for result in results:
        for index, (value, wanted) in enumerate(zip(result["values"], expected)):
            got = value.get("a") or ([value["v"]] if "v" in value else None)
            if got is None:
                worst = worst or (index, f"{describe(index)} {value['e']}", "error")
                break
            if not close_arrays(got, wanted):
                shown = ", ".join(f"{g:.6g}" for g in got[:9])
                worst = worst or (index, f"{describe(index)}: expected [{', '.join(f'{e:.6g}' for e in wanted)}], "
                                         f"got [{shown}]", "wrong value" if index == 0 else "hidden check")
                break
        else:
            return result["label"]
    index, reason, kind = worst
    raise Lost(("" if index == 0 else "hidden check ") + reason,
               "not implemented" if "NotImplementedError" in reason else kind)


def call_text(name, args):
    return f"{name}(" + ", ".join("[" + fmt(a) + "]" if isinstance(a, list) else fmt([a]) for a in args) + ")"


def ex6_q1(evidence):
    cases = evidence.cases("gradients")
    expected = [reference.gradients(*case["args"]) for case in cases]
    nine_numbers(evidence, "gradients", expected, lambda i: call_text("gradients", cases[i]["args"]),
                 "`gradients` is not defined")


@functools.cache
def statement_loss_after_training():
    """The loss the statement's 200 steps end at: the same for every file, computed once."""
    math_grades, chemistry_grades, passed = statement_columns()
    x1, x2 = reference.standardised(math_grades), reference.standardised(chemistry_grades)
    trained = reference.train(EX6_START, x1, x2, passed, EX6_LEARNING_RATE, EX6_STEPS)
    return reference.network_loss(trained, x1, x2, passed)


def ex6_q2(evidence):
    note = must_show(evidence, "the loss after 200 steps", statement_loss_after_training(), EX6_LABEL)
    cases = evidence.cases("train")
    wanted = [reference.train(*case["args"]) for case in cases]
    nine_numbers(evidence, "train", wanted, lambda i: call_text("train", cases[i]["args"]),
                 "`train` is not defined")
    return note


QUESTIONS = {  # question id -> (the statement's notebook name, the judge), in gradebook order
    "ex1.q1": (NOTEBOOKS[0], ex1_q1),
    "ex2.q1": (NOTEBOOKS[1], ex2_q1),
    "ex3.q1": (NOTEBOOKS[2], ex3_q1),
    "ex4.q1": (NOTEBOOKS[3], ex4_q1),
    "ex4.q2": (NOTEBOOKS[3], ex4_q2),
    "ex5.q1": (NOTEBOOKS[4], ex5_q1),
    "ex5.q2": (NOTEBOOKS[4], ex5_q2),
    "ex5.q3": (NOTEBOOKS[4], ex5_q3),
    "ex6.q1": (BONUS_NOTEBOOKS[0], ex6_q1),
    "ex6.q2": (BONUS_NOTEBOOKS[0], ex6_q2),
}


def judge(question, evidence):
    """The Verdict of one question on one file's evidence."""
    _, judge_function = QUESTIONS[question]
    try:
        note = judge_function(evidence)
    except Lost as lost:
        return lost.verdict
    return Verdict(1, note or "")
