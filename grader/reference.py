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


# --- exercise 6 (bonus): training ------------------------------------------------------
# params: 9 numbers in the order (h1.w1, h1.w2, h1.b, h2.w1, h2.w2, h2.b, o1.w1, o1.w2, o1.b);
# x1, x2, y: equal-length sequences (the grades and the 0/1 labels).

def network_outputs(params, x1, x2):
    """The network's output p for each row."""
    h1, h2, o1 = params[0:3], params[3:6], params[6:9]
    return [network(h1, h2, o1, a, b) for a, b in zip(x1, x2)]


def network_loss(params, x1, x2, y):
    """Mean log loss of the network with these parameters on the rows (x1, x2, y)."""
    return log_loss(y, network_outputs(params, x1, x2))


def gradients(params, x1, x2, y):
    """The 9 partial derivatives of the mean log loss (backpropagation, one row at a time)."""
    w1, w2, b1, w3, w4, b2, v1, v2, c = params
    total = [0.0] * 9
    for a, b, target in zip(x1, x2, y):
        h1, h2 = sigmoid(w1 * a + w2 * b + b1), sigmoid(w3 * a + w4 * b + b2)
        delta_o = sigmoid(v1 * h1 + v2 * h2 + c) - target
        delta_1, delta_2 = delta_o * v1 * h1 * (1 - h1), delta_o * v2 * h2 * (1 - h2)
        row = (delta_1 * a, delta_1 * b, delta_1, delta_2 * a, delta_2 * b, delta_2,
               delta_o * h1, delta_o * h2, delta_o)
        total = [t + r for t, r in zip(total, row)]
    return [t / len(y) for t in total]


def train(params, x1, x2, y, learning_rate, steps):
    """The 9 parameters after `steps` full-batch gradient-descent steps from params."""
    params = [float(p) for p in params]
    for _ in range(steps):
        params = [p - learning_rate * g for p, g in zip(params, gradients(params, x1, x2, y))]
    return params


def standardised(column):
    """(x - mean) / standard deviation over the column (population form, like np.std)."""
    mean = sum(column) / len(column)
    spread = math.sqrt(sum((x - mean) ** 2 for x in column) / len(column))
    return [(x - mean) / spread for x in column]
