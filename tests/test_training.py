"""Exercise 6 (bonus): gradients() and train(), loaded from the notebook, against independent references.

References: central finite differences of a loss computed with scikit-learn's log_loss on the
grader's plain-`math` network (grader/reference.py), the grader's own gradients and train, and
scikit-learn's MLPClassifier trained from the same start. Inputs: the statement's and seeded
random ones. Also: the student edition of ex06 (in sync, blank, completed).
"""
import contextlib
import io
import math
import os
import warnings

import nbformat
import numpy as np
import pytest

import statement as S
from conftest import ROOT, code_cells, log_loss, off_screen
from grader import reference
from student_edition import BEGIN, END, write_edition

NAME = "ex06_training.ipynb"
MATH, CHEMISTRY, EXAM = (np.array(column, dtype=float) for column in (S.MATH, S.CHEMISTRY, S.EXAM_SUCCESS))
MATH_STD, CHEMISTRY_STD = (np.array(reference.standardised(column)) for column in (S.MATH, S.CHEMISTRY))


@pytest.fixture(scope="module")
def ex06_run(solutions_dir):
    """(namespace, printed text) of the notebook of --solutions DIR, run top to bottom like the grader
    does (a failing cell does not stop the next), so that each test below fails on its own."""
    path = solutions_dir / NAME
    return run_tolerantly(code_cells(path), path.parent)


@pytest.fixture(scope="module")
def ex06(ex06_run):
    return ex06_run[0]


def test_every_cell_runs_and_every_check_passes(ex06_run):
    output = ex06_run[1]
    assert " raised " not in output, output
    assert output.count("check passed.") == 3


def sklearn_loss(params, x1, x2, y):
    """Mean log loss of the reference network, scored by scikit-learn (independent of the notebook)."""
    return log_loss(y, reference.network_outputs(params, x1, x2), labels=[0, 1])


def central_differences(params, x1, x2, y, epsilon=1e-5):
    params = np.asarray(params, dtype=float)
    slopes = []
    for k in range(len(params)):
        step = np.zeros(len(params))
        step[k] = epsilon
        slopes.append((sklearn_loss(params + step, x1, x2, y) - sklearn_loss(params - step, x1, x2, y)) / (2 * epsilon))
    return np.array(slopes)


def relative_error(a, b):
    return np.linalg.norm(np.subtract(a, b)) / (np.linalg.norm(a) + np.linalg.norm(b))


def random_params(seed, count=5):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1, 9) for _ in range(count)]


# --- question 1: the gradient ------------------------------------------------------------

def test_q1_graded_value(ex06):
    got = ex06["gradients"](np.array(S.EX6_EX4_PARAMS), MATH, CHEMISTRY, EXAM)
    assert isinstance(got, np.ndarray) and got.shape == (9,) and got.dtype == float
    np.testing.assert_allclose(got, S.EX6_Q1, rtol=S.REL, atol=1e-12)
    np.testing.assert_allclose(reference.gradients(S.EX6_EX4_PARAMS, S.MATH, S.CHEMISTRY, S.EXAM_SUCCESS), S.EX6_Q1,
                               rtol=S.REL, atol=1e-12)


@pytest.mark.parametrize("params, x1, x2", [
    (S.EX6_EX4_PARAMS, MATH, CHEMISTRY),
    *[(params, MATH, CHEMISTRY) for params in random_params(seed=11)],
    *[(params, MATH_STD, CHEMISTRY_STD) for params in random_params(seed=12)],
])
def test_gradients_match_central_differences(ex06, params, x1, x2):
    got = ex06["gradients"](np.array(params), x1, x2, EXAM)
    assert relative_error(got, central_differences(params, x1, x2, EXAM)) < 1e-6


def test_gradients_match_central_differences_on_random_tables(ex06):
    rng = np.random.default_rng(13)
    for n in [1, 3, 10]:
        x1, x2 = rng.normal(0, 1.5, (2, n))
        y = rng.integers(0, 2, n).astype(float)
        params = rng.normal(0, 1, 9)
        got = ex06["gradients"](params, x1, x2, y)
        assert relative_error(got, central_differences(params, x1, x2, y)) < 1e-6
        np.testing.assert_allclose(got, reference.gradients(params, x1, x2, y), rtol=S.REL, atol=1e-12)


def test_reference_gradients_match_central_differences():
    for params in random_params(seed=14):
        got = reference.gradients(params, MATH_STD, CHEMISTRY_STD, EXAM)
        assert relative_error(got, central_differences(params, MATH_STD, CHEMISTRY_STD, EXAM)) < 1e-6


def test_gradients_takes_lists_and_leaves_params_alone(ex06):
    params = np.array(S.EX6_EX4_PARAMS, dtype=float)
    got = ex06["gradients"](list(params), S.MATH, S.CHEMISTRY, S.EXAM_SUCCESS)
    np.testing.assert_allclose(got, S.EX6_Q1, rtol=S.REL, atol=1e-12)
    ex06["gradients"](params, MATH, CHEMISTRY, EXAM)
    assert params.tolist() == S.EX6_EX4_PARAMS


def test_the_notebooks_own_gradient_check_passes(ex06):
    params = np.random.default_rng(15).normal(0, 1, 9)
    for x1, x2 in [(MATH, CHEMISTRY), (MATH_STD, CHEMISTRY_STD)]:
        numerical = ex06["numerical_gradient"](params, x1, x2, EXAM)
        assert ex06["relative_error"](ex06["gradients"](params, x1, x2, EXAM), numerical) < 1e-6


# --- question 2: training ------------------------------------------------------------------

def test_q2_graded_value(ex06):
    start = np.array(S.EX6_START)
    trained = ex06["train"](start, MATH_STD, CHEMISTRY_STD, EXAM, S.EX6_LEARNING_RATE, S.EX6_STEPS)
    assert start.tolist() == S.EX6_START, "train() modified its start"
    assert math.isclose(sklearn_loss(trained, MATH_STD, CHEMISTRY_STD, EXAM), S.EX6_Q2, rel_tol=S.REL)
    assert math.isclose(ex06["network_loss"](trained, MATH_STD, CHEMISTRY_STD, EXAM), S.EX6_Q2, rel_tol=S.REL)
    reference_trained = reference.train(S.EX6_START, MATH_STD, CHEMISTRY_STD, S.EXAM_SUCCESS, 0.5, 200)
    assert math.isclose(reference.network_loss(reference_trained, MATH_STD, CHEMISTRY_STD, S.EXAM_SUCCESS),
                        S.EX6_Q2, rel_tol=S.REL)


def test_the_statement_start_and_table():
    assert np.round(np.random.default_rng(0).normal(0, 1, 9), 2).tolist() == S.EX6_START
    np.testing.assert_allclose(MATH_STD, (MATH - MATH.mean()) / MATH.std(), rtol=S.REL)
    np.testing.assert_allclose(CHEMISTRY_STD, (CHEMISTRY - CHEMISTRY.mean()) / CHEMISTRY.std(), rtol=S.REL, atol=1e-15)


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_train_matches_the_reference_on_hidden_like_inputs(ex06, seed):
    rng = np.random.default_rng(seed)
    for steps, learning_rate, n in [(0, 0.5, 4), (1, 0.5, 4), (7, 1.0, 3), (50, 0.1, 6), (200, 0.5, 4)]:
        params = np.round(rng.normal(0, 1, 9), 2)
        x1, x2 = np.round(rng.normal(0, 1, (2, n)), 2)
        y = rng.integers(0, 2, n).astype(float)
        kept = params.copy()
        got = ex06["train"](params, x1, x2, y, learning_rate, steps)
        assert np.array_equal(params, kept), "train() modified its input"
        assert isinstance(got, np.ndarray) and got.shape == (9,)
        np.testing.assert_allclose(got, reference.train(params, x1, x2, y, learning_rate, steps), rtol=S.REL, atol=1e-12)


def test_train_matches_sklearn_mlpclassifier_from_the_same_start(ex06):
    """MLPClassifier with plain full-batch gradient descent, warm-started from the statement's start."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    X = np.column_stack([MATH_STD, CHEMISTRY_STD])
    mlp = MLPClassifier(hidden_layer_sizes=(2,), activation="logistic", solver="sgd", learning_rate_init=0.5,
                        momentum=0, batch_size=4, alpha=0, max_iter=1, shuffle=False, tol=0,
                        n_iter_no_change=1000, random_state=0, warm_start=True)
    p = S.EX6_START
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, EXAM)  # creates the layers; replaced by the start below
        mlp.coefs_ = [np.array([[p[0], p[3]], [p[1], p[4]]]), np.array([[p[6]], [p[7]]])]
        mlp.intercepts_ = [np.array([p[2], p[5]]), np.array([p[8]])]
        mlp.set_params(max_iter=S.EX6_STEPS)
        mlp.fit(X, EXAM)
    (W, V), (b, c) = mlp.coefs_, mlp.intercepts_
    sklearn_params = [W[0, 0], W[1, 0], b[0], W[0, 1], W[1, 1], b[1], V[0, 0], V[1, 0], c[0]]
    got = ex06["train"](np.array(p), MATH_STD, CHEMISTRY_STD, EXAM, 0.5, S.EX6_STEPS)
    np.testing.assert_allclose(got, sklearn_params, rtol=1e-9, atol=1e-12)
    assert math.isclose(log_loss(EXAM, mlp.predict_proba(X)[:, 1]), S.EX6_Q2, rel_tol=1e-9)


def test_the_notebooks_sklearn_cross_check_is_comparable(ex06):
    assert 0.5 < ex06["mlp"].loss_ / S.EX6_Q2 < 2


def test_the_notebooks_loss_matches_sklearn(ex06):
    for params in random_params(seed=31):
        assert math.isclose(ex06["network_loss"](params, MATH, CHEMISTRY, EXAM), sklearn_loss(params, MATH, CHEMISTRY, EXAM),
                            rel_tol=S.REL)


def test_the_experiments_show_what_the_text_says(ex06):
    assert ex06["raw_losses"][-1] > 0.56 and ex06["std_losses"][-1] < 0.01  # saturated raw grades stay stuck
    after = ex06["after_symmetric"]
    assert np.array_equal(after[0:3], after[3:6])  # symmetric hidden neurons stay equal
    assert ex06["all_four"][-1] < 0.01 and ex06["eli_held_out"][-1] > ex06["eli_held_out"][0]


# --- the student edition of ex06 ---------------------------------------------------------

def run_tolerantly(sources, cwd):
    """Run cells like the grader does: a failing cell does not stop the next; return (namespace, output)."""
    namespace, output = {"__name__": "__main__"}, io.StringIO()
    plt = off_screen()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(output):
            warnings.simplefilter("ignore")
            for index, source in enumerate(sources):
                try:
                    exec(compile(source, f"cell {index + 1}", "exec"), namespace)
                except Exception as error:  # noqa: BLE001 - a student's cell may fail in any way
                    print(f"cell {index + 1} raised {type(error).__name__}: {error}")
    finally:
        os.chdir(previous)
        plt.close("all")
    return namespace, output.getvalue()


def completed(edition_sources, solution_sources):
    """The edition with each stub replaced by the solution's region (as a student would complete it)."""
    done = []
    for edition, solution in zip(edition_sources, solution_sources):
        if "raise NotImplementedError(" not in edition and not edition.startswith("# Paste your"):
            done.append(edition)
            continue
        done.append("\n".join(line for line in solution.splitlines()
                               if line.strip() not in (BEGIN, END, "### BEGIN PASTE", "### END PASTE")))
    return done


def test_the_edition_is_in_sync(tmp_path):
    write_edition(ROOT, tmp_path, [NAME])
    assert (tmp_path / NAME).read_bytes() == (ROOT / "exercises" / NAME).read_bytes(), \
        f"exercises/{NAME} is out of date: regenerate it (see README, Exercise 6)"


def test_the_blank_edition_checks_say_not_implemented():
    edition = code_cells(ROOT / "exercises" / NAME)
    assert sum("raise NotImplementedError(" in source for source in edition) == 2
    namespace, output = run_tolerantly(edition, ROOT / "exercises")
    assert "check passed" not in output
    assert "ex6.q1: not computed yet" in output and "ex6.q2: not computed yet" in output
    with pytest.raises(NotImplementedError):
        namespace["gradients"](S.EX6_EX4_PARAMS, MATH, CHEMISTRY, EXAM)
    with pytest.raises(NotImplementedError):
        namespace["train"](S.EX6_START, MATH_STD, CHEMISTRY_STD, EXAM, 0.5, 1)


def test_the_completed_edition_passes_its_checks():
    edition = code_cells(ROOT / "exercises" / NAME)
    namespace, output = run_tolerantly(completed(edition, code_cells(ROOT / NAME)), ROOT / "exercises")
    assert "raised" not in output, output
    assert "ex6.q1: check passed." in output and "ex6.q2: check passed." in output


def test_the_edition_shows_no_solution_line():
    edition = nbformat.read(ROOT / "exercises" / NAME, as_version=4)
    text = "\n".join(cell.source for cell in edition.cells if cell.cell_type == "code")
    assert all(cell.outputs == [] for cell in edition.cells if cell.cell_type == "code")
    inside = False
    for source in code_cells(ROOT / NAME):
        for line in source.splitlines():
            if line.strip() in (BEGIN, END):
                inside = line.strip() == BEGIN
            elif inside and line.strip():
                assert line.strip() not in text, line


def test_a_name_error_inside_student_code_is_reported_as_such(ex06):
    def broken():
        return undefined_name  # noqa: F821 - the student's own mistake

    with pytest.raises(AssertionError, match=r"^q: your code raised NameError: name 'undefined_name' is not "
                                             r"defined \(in broken, line \d+ of its cell\)$") as failed:
        ex06["check"]("q", 1.0, lambda: broken())
    assert type(failed.value).__name__ == "CheckFailed"  # one line in JupyterLab, as in exercises 1-5
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        ex06["check"]("q", 1.0, lambda: not_yet_computed)  # noqa: F821 - a cell above did not run
    assert output.getvalue().startswith("q: not computed yet (NameError")


def test_a_check_fails_on_a_warning_as_in_exercises_1_to_5(ex06):
    def warns():
        warnings.warn("overflow", RuntimeWarning)
        return 1.0

    with pytest.raises(AssertionError, match=r"^q: your code gave a warning \(RuntimeWarning: overflow\)$"):
        ex06["check"]("q", 1.0, warns)


def gradient_report(ex06, mistake):
    """What the notebook's gradient comparison prints for a gradients() changed by `mistake`."""
    right = ex06["gradients"]
    output = io.StringIO()
    try:
        ex06["gradients"] = lambda *args: mistake(right(*args), args)
        with contextlib.redirect_stdout(output):
            ex06["compare_gradients"]("random", np.random.default_rng(3).normal(0, 1, 9), MATH_STD, CHEMISTRY_STD, EXAM)
    finally:
        ex06["gradients"] = right
    return output.getvalue()


def test_the_gradient_table_names_each_entry_and_the_likely_mistake(ex06):
    right = gradient_report(ex06, lambda g, args: g)
    assert "likely cause" not in right and "differs" not in right
    assert all(f"    {name} " in right for name in ex06["PARAMETER_NAMES"])
    flipped = gradient_report(ex06, lambda g, args: -g)
    assert "relative error 1.0e+00" in flipped and "the opposite sign" in flipped
    summed = gradient_report(ex06, lambda g, args: 4 * g)
    assert "4 times too large" in summed and "a sum where the mean is asked" in summed

    def without_h1_slope(g, args):  # step 3 for h1 without its factor h1 (1 - h1)
        params = args[0]
        delta_o = ex06["forward"](params, MATH_STD, CHEMISTRY_STD)[2] - EXAM
        wrong = g.copy()
        wrong[:3] = [np.mean(delta_o * params[6] * x) for x in (MATH_STD, CHEMISTRY_STD, 1.0)]
        return wrong

    missing = gradient_report(ex06, without_h1_slope)
    assert "likely cause: h1.w1, h1.w2, h1.b" in missing and "h2.w1" not in missing.split("likely cause")[1]
    assert missing.count("<- differs") == 3
