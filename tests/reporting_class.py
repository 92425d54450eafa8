"""A synthetic class for the reporting tests: real-looking student code in the student edition's notebooks.

Each student's notebook is the student edition's notebook with the cells to complete replaced by
the student's own code (written here from SPEC.md, in several styles). `ada` is an original;
`ben` is her code with every name changed, re-spaced and re-commented, in one notebook instead
of five; `chloe` and `dan` solved it honestly in their own ways.
"""
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted((ROOT / "exercises").glob("ex0*.ipynb"))

ADA = [
    '''import numpy as np

def sigmoid(z):
    # squash any real number into (0, 1)
    return 1 / (1 + np.exp(-z))

class Neuron:
    def __init__(self, weight1, weight2, bias):
        self.weights_1 = weight1
        self.weights_2 = weight2
        self.bias = bias

    def feedforward(self, x1, x2):
        total = self.weights_1 * x1 + self.weights_2 * x2 + self.bias
        return sigmoid(total)

n = Neuron(0, 1, 4)
print("ex1:", n.feedforward(2, 3))
''',
    '''class OurNeuralNetwork:
    def __init__(self, neuron_h1, neuron_h2, neuron_o1):
        self.h1 = neuron_h1
        self.h2 = neuron_h2
        self.o1 = neuron_o1

    def feedforward(self, x1, x2):
        # hidden layer first, then the output neuron
        out_h1 = self.h1.feedforward(x1, x2)
        out_h2 = self.h2.feedforward(x1, x2)
        return self.o1.feedforward(out_h1, out_h2)

net = OurNeuralNetwork(Neuron(1, 2, -1), Neuron(0.5, 1, 0), Neuron(2, 0, 1))
print("ex2:", net.feedforward(2, 3))
''',
    '''def log_loss_custom(y_true, y_pred):
    y_true = np.array(y_true, dtype=float)
    p = np.clip(np.array(y_pred, dtype=float), 1e-15, 1 - 1e-15)
    losses = y_true * np.log(p) + (1 - y_true) * np.log(1 - p)
    return -np.mean(losses)

print("ex3:", log_loss_custom([0, 1, 1, 0, 1], [0.1, 0.8, 0.6, 0.5, 0.3]))
''',
    '''students = {"Bob": (12, 15, 1), "Eli": (10, 9, 0), "Tom": (18, 18, 1), "Ryan": (13, 14, 1)}
network = OurNeuralNetwork(Neuron(0.05, 0.001, 0), Neuron(0.02, 0.003, 0), Neuron(2, 0, 0))
predictions = []
labels = []
for name, (maths, chem, success) in students.items():
    prediction = network.feedforward(maths, chem)
    predictions.append(prediction)
    labels.append(success)
    print(f"{name}: {prediction}")
print("Log loss:", log_loss_custom(labels, predictions))
''',
    '''class Neuron:
    def __init__(self, weight1, weight2, bias, regression=False):
        self.weights_1 = weight1
        self.weights_2 = weight2
        self.bias = bias
        self.regression = regression

    def feedforward(self, x1, x2):
        total = self.weights_1 * x1 + self.weights_2 * x2 + self.bias
        if self.regression:
            return total
        return sigmoid(total)

grades = {"Bob": (12, 15, 16), "Eli": (10, 9, 10), "Tom": (18, 18, 19), "Ryan": (13, 14, 16)}
network = OurNeuralNetwork(Neuron(0.05, 0.001, 0, False), Neuron(0.002, 0.003, 0, False), Neuron(2, 7, 10, True))
errors = []
for name, (maths, chem, physics) in grades.items():
    prediction = network.feedforward(maths, chem)
    errors.append((physics - prediction) ** 2)
    print(f"{name}: {prediction}")
print("MSE:", sum(errors) / len(errors))
''',
]

RENAMES = [("sigmoid", "activation"), ("total", "s"), ("out_h1", "a"), ("out_h2", "b"), ("losses", "terms"),
           ("predictions", "outs"), ("prediction", "out"), ("labels", "ys"), ("students", "table"),
           ("maths", "m"), ("chem", "c"), ("success", "y"), ("grades", "rows"), ("errors", "sq"),
           ("physics", "target"), ("network", "model"), ("net ", "nn "), ("net.", "nn.")]


def disguise(code):
    """Ada's code as a copier hands it in: other names, other spacing, other comments."""
    for old, new in RENAMES:
        code = code.replace(old, new)
    code = code.replace("# squash any real number into (0, 1)", "# fonction d'activation").replace(
        "# hidden layer first, then the output neuron", "# couche cachee puis sortie")
    code = code.replace(" * ", "*").replace(" + ", "+").replace(" = ", "=").replace(", ", ",")
    code = code.replace("    ", "  ").replace("\n\n", "\n\n\n")
    return code.replace("def feedforward", "# calcul de la sortie\n  def feedforward")


CHLOE = [
    '''import math

class Neuron:
    """Weighted sum plus bias, then the logistic function."""
    def __init__(self, weight1, weight2, bias):
        self.weights_1, self.weights_2, self.bias = weight1, weight2, bias

    def feedforward(self, x1, x2):
        z = x1 * self.weights_1 + x2 * self.weights_2 + self.bias
        if z < 0:
            return math.exp(z) / (1.0 + math.exp(z))
        return 1.0 / (1.0 + math.exp(-z))

print(Neuron(0, 1, 4).feedforward(2, 3))
''',
    '''class OurNeuralNetwork:
    def __init__(self, neuron_h1, neuron_h2, neuron_o1):
        self.h1, self.h2, self.o1 = neuron_h1, neuron_h2, neuron_o1

    def feedforward(self, x1, x2):
        hidden = [neuron.feedforward(x1, x2) for neuron in (self.h1, self.h2)]
        return self.o1.feedforward(*hidden)

print(OurNeuralNetwork(Neuron(1, 2, -1), Neuron(0.5, 1, 0), Neuron(2, 0, 1)).feedforward(2, 3))
''',
    '''def log_loss_custom(y_true, y_pred):
    total = 0.0
    for y, p in zip(y_true, y_pred):
        p = min(max(p, 1e-15), 1 - 1e-15)
        if y == 1:
            total -= math.log(p)
        else:
            total -= math.log(1 - p)
    return total / len(y_true)

print(log_loss_custom([0, 1, 1, 0, 1], [0.1, 0.8, 0.6, 0.5, 0.3]))
''',
    '''import csv
rows = list(csv.DictReader(open("data/exam_success.csv")))
nn = OurNeuralNetwork(Neuron(0.05, 0.001, 0), Neuron(0.02, 0.003, 0), Neuron(2, 0, 0))
outputs = {row["name"]: nn.feedforward(float(row["math"]), float(row["chemistry"])) for row in rows}
for who in outputs:
    print(who + ":", outputs[who])
print("log loss =", log_loss_custom([int(r["exam_success"]) for r in rows], list(outputs.values())))
''',
    '''class Neuron:
    def __init__(self, weight1, weight2, bias, regression=False):
        self.weights_1, self.weights_2, self.bias = weight1, weight2, bias
        self.regression = regression

    def feedforward(self, x1, x2):
        z = x1 * self.weights_1 + x2 * self.weights_2 + self.bias
        return z if self.regression else 1.0 / (1.0 + math.exp(-z))

rows = list(csv.DictReader(open("data/physics_grades.csv")))
nn = OurNeuralNetwork(Neuron(0.05, 0.001, 0), Neuron(0.002, 0.003, 0), Neuron(2, 7, 10, True))
squares = 0
for row in rows:
    guess = nn.feedforward(float(row["math"]), float(row["chemistry"]))
    print(f'{row["name"]}: {guess}')
    squares += (float(row["physics"]) - guess) ** 2
print("mean squared error:", squares / len(rows))
''',
]

DAN = [
    '''import numpy as np

class Neuron:
    def __init__(self, weight1, weight2, bias):
        self.weights_1 = weight1; self.weights_2 = weight2; self.bias = bias
        self.w = np.array([weight1, weight2])

    def feedforward(self, x1, x2):
        x = np.stack([np.asarray(x1, float), np.asarray(x2, float)], axis=-1)
        return 1 / (1 + np.exp(-(x @ self.w + self.bias)))

assert abs(Neuron(0, 1, 4).feedforward(2, 3) - 0.9990889488055994) < 1e-12
''',
    '''class OurNeuralNetwork:
    def __init__(self, neuron_h1, neuron_h2, neuron_o1):
        self.h1 = neuron_h1; self.h2 = neuron_h2; self.o1 = neuron_o1

    def feedforward(self, x1, x2):
        return self.o1.feedforward(self.h1.feedforward(x1, x2), self.h2.feedforward(x1, x2))
''',
    '''log_loss_custom = lambda y_true, y_pred: float(-np.mean(
    np.where(np.asarray(y_true) == 1, np.log(np.asarray(y_pred)), np.log(1 - np.asarray(y_pred)))))
''',
    '''import pandas as pd
df = pd.read_csv("data/exam_success.csv")
model = OurNeuralNetwork(Neuron(0.05, 0.001, 0), Neuron(0.02, 0.003, 0), Neuron(2, 0, 0))
df["p"] = model.feedforward(df["math"].to_numpy(), df["chemistry"].to_numpy())
for n, p in zip(df["name"], df["p"]):
    print(f"{n}: {p}")
print(f"Log loss: {log_loss_custom(df['exam_success'], df['p'])}")
''',
    '''class Neuron(Neuron):
    def __init__(self, weight1, weight2, bias, regression=False):
        super().__init__(weight1, weight2, bias)
        self.regression = regression

    def feedforward(self, x1, x2):
        if not self.regression:
            return super().feedforward(x1, x2)
        return np.stack([np.asarray(x1, float), np.asarray(x2, float)], axis=-1) @ self.w + self.bias

df = pd.read_csv("data/physics_grades.csv")
model = OurNeuralNetwork(Neuron(0.05, 0.001, 0), Neuron(0.002, 0.003, 0), Neuron(2, 7, 10, True))
df["pred"] = model.feedforward(df["math"].to_numpy(), df["chemistry"].to_numpy())
print(*(f"{n}: {p}" for n, p in zip(df["name"], df["pred"])), sep="\\n")
print("MSE =", ((df["physics"] - df["pred"]) ** 2).mean())
''',
]


def given_cells(notebook):
    """The code cells a student is given: every code cell of the student edition but the ones to complete."""
    cells = [cell.source for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]
    return [source for source in cells if "NotImplementedError" not in source]


def boilerplate():
    return [source for notebook in EXERCISES for source in given_cells(notebook)]


def filled_cells(exercise_index, own_code):
    """The student edition's code cells of one exercise, with the student's code (cells) where the stubs were."""
    cells = [c.source for c in nbformat.read(EXERCISES[exercise_index], as_version=4).cells if c.cell_type == "code"]
    first_stub = next(i for i, source in enumerate(cells) if "NotImplementedError" in source)
    kept = [source for source in cells if "NotImplementedError" not in source]
    return kept[:first_stub] + list(own_code) + kept[first_stub:]


def write_notebook(path, cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def write_class(folder):
    """ada, chloe, dan: five notebooks each; ben: one notebook with all five exercises (his code once, the
    given cells of the five). Returns the folder."""
    folder = Path(folder)
    for name, codes in (("ada", ADA), ("chloe", CHLOE), ("dan", DAN)):
        for index, code in enumerate(codes):
            # each notebook of the edition repeats the earlier ones' code (Neuron...): so does the student's
            write_notebook(folder / name / EXERCISES[index].name, filled_cells(index, codes[:index + 1]))
    all_cells = [cell for index, code in enumerate(ADA) for cell in filled_cells(index, [disguise(code)])]
    write_notebook(folder / "ben" / "tp_reseaux_de_neurones.ipynb", all_cells)
    return folder


def code_of(folder):
    """relative path -> the notebook's code cells joined, as grading hands it to the report."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): "\n\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells
                                                     if cell.cell_type == "code")
            for path in sorted(folder.rglob("*.ipynb"))}
