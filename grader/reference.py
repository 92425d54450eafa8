"""The grader's reference implementation, in plain Python floats and `math` (no NumPy)."""
import math

EPSILON = 2.220446049250313e-16  # float64 machine epsilon: the clipping margin of log loss


def sigmoid(z):
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    return math.exp(z) / (1 + math.exp(z))


def neuron(weights, x1, x2):
    """weights = (w1, w2, b) or (w1, w2, b, regression)."""
    w1, w2, b, *regression = weights
    z = w1 * x1 + w2 * x2 + b
    return z if regression and regression[0] else sigmoid(z)


def network(h1, h2, o1, x1, x2):
    return neuron(o1, neuron(h1, x1, x2), neuron(h2, x1, x2))


def log_loss(y_true, y_pred):
    total = 0.0
    for y, p in zip(y_true, y_pred):
        p = min(max(p, EPSILON), 1 - EPSILON)
        total += y * math.log(p) + (1 - y) * math.log(1 - p)
    return -total / len(y_true)


def mean_squared_error(y_true, y_pred):
    return sum((y - p) ** 2 for y, p in zip(y_true, y_pred)) / len(y_true)
