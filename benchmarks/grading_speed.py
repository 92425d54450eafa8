"""How much faster the grader is than a fresh Jupyter kernel per notebook, measured side by side.

    .venv/bin/python benchmarks/grading_speed.py [--students 100] [--sample 20]

1. Builds a synthetic class in a temporary folder: N students, each a copy of one of the
   fixture students of tests/fixtures/submissions (correct, scalar, hard-coded, broken...).
2. Grades the whole class the way an instructor does: `python -m grader CLASS` (all
   notebooks, all checks, the gradebook), and times it end to end.
3. In the same run, executes a sample of the same notebooks the classic way: each in a fresh
   Jupyter kernel with nbclient (as nbval and nbgrader do), followed by the same checks in
   that kernel, two at a time on the two cores.
4. Prints both rates and their ratio. Only the ratio means much: the machine is shared.

Left out of the class: the fixture students that exist to hit a limit (an endless loop, a
memory hog, a flood of output, a hard exit). They measure the limits, not the speed, and in a
plain kernel, which has no limits, some of them would never finish.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
LIMIT_CASES = {"infinite loops", "memory hog", "exception and output flood", "hard exit"}
PARTIAL_CASES = {"missing notebooks"}  # hands in 2 of 5: left out so that the class has 5 per student

CHECKS_CELL = """\
import signal
from grader import questions, shown, worker
signal.signal(signal.SIGALRM, worker.interrupt)
_versions = {{name: [(name, globals()[name])] for name in ("Neuron", "OurNeuralNetwork", "log_loss_custom")
             if name in globals()}}
for _spec in questions.probes(0, "benchmark").values():
    worker.run_probe(_spec, globals(), _versions, 10)
shown.numbers([{{"text": {printed!r}, "check": False, "where": "cell"}}])
"""


def build_class(folder, students):
    kinds = sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name not in LIMIT_CASES | PARTIAL_CASES)
    for number in range(students):
        kind = kinds[number % len(kinds)]
        shutil.copytree(kind, folder / f"student {number:03d} ({kind.name})")
    return sorted(folder.glob("*/ex0*.ipynb"))


def grade_with_grader(folder, *options):
    started = time.perf_counter()
    gradebook = folder.parent / "grades.csv"
    gradebook.unlink(missing_ok=True)
    run = subprocess.run([sys.executable, "-m", "grader", str(folder), "-q", "--gradebook", str(gradebook), *options],
                         cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if not gradebook.exists():
        sys.exit(f"the grader failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return seconds


def kernel_manager(sockets):
    """A python3 kernel that talks over Unix sockets in the folder `sockets` instead of TCP ports.

    Only this user can open those socket files, and ipykernel no longer warns, once per kernel,
    that TCP is unencrypted. The kernel's start-up, which is what is measured, is the same.
    """
    return AsyncKernelManager(kernel_name="python3", transport="ipc",
                              connection_file=str(sockets / f"kernel-{uuid.uuid4().hex[:12]}.json"))


def run_in_kernel(path, sockets):
    """One notebook in a fresh kernel, then the grader's checks in that kernel; seconds taken."""
    started = time.perf_counter()
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception:
        return time.perf_counter() - started  # the grader rejects it without running anything too
    client = NotebookClient(notebook, km=kernel_manager(sockets), timeout=60, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel(cleanup_kc=True):  # cleanup_kc: shut the kernel down, although we made its manager
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                          for output in cell.outputs if output.output_type == "stream")
        checks = nbformat.v4.new_code_cell(CHECKS_CELL.format(notebook=path.name, printed=printed))
        notebook.cells.append(checks)
        client.execute_cell(checks, len(notebook.cells) - 1)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--sample", type=int, default=20, help="notebooks run in fresh kernels")
    options = parser.parse_args()
    os.environ["PYTHONPATH"] = f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    os.environ["COURSE_DATA_DIR"] = str(ROOT / "data")
    with tempfile.TemporaryDirectory() as temporary, tempfile.TemporaryDirectory(prefix="kernels-") as sockets:
        folder = Path(temporary) / "class"
        folder.mkdir()
        notebooks = build_class(folder, options.students)
        print(f"class: {options.students} students, {len(notebooks)} notebooks")

        grader_seconds = grade_with_grader(folder)
        grader_rate = grader_seconds / len(notebooks)
        print(f"grader (python -m grader, contained): {grader_seconds:.1f} s for {len(notebooks)} notebooks, "
              f"{1000 * grader_rate:.0f} ms per notebook")
        plain_seconds = grade_with_grader(folder, "--grade-no-contain")
        print(f"grader without containment (--grade-no-contain): {plain_seconds:.1f} s, "
              f"{1000 * plain_seconds / len(notebooks):.0f} ms per notebook; containment costs "
              f"{100 * (grader_seconds / plain_seconds - 1):.0f}%")

        step = max(1, len(notebooks) // options.sample)
        sample = notebooks[::step][:options.sample]
        started = time.perf_counter()
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(run_in_kernel, sample, [Path(sockets)] * len(sample)))
        kernel_seconds = time.perf_counter() - started
        kernel_rate = kernel_seconds / len(sample)
        print(f"kernel per notebook (nbclient): {kernel_seconds:.1f} s for {len(sample)} notebooks, "
              f"{1000 * kernel_rate:.0f} ms per notebook; the class would take about "
              f"{kernel_rate * len(notebooks):.0f} s")
        print(f"ratio: the grader (contained) is {kernel_rate / grader_rate:.1f}x faster per notebook")


if __name__ == "__main__":
    main()
