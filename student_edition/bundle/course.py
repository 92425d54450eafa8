"""The two commands of this folder, for machines with or without make.

    python3 course.py lab [JupyterLab options]     open the notebooks in JupyterLab
    python3 course.py check [NOTEBOOK ...]         run the notebooks, print what their check cells say

The first run creates .venv (a virtual environment) and installs requirements.txt into it;
later runs reuse it, and install again only when requirements.txt changes. `make lab` and
`make check` run these same commands.
"""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"
READY = VENV / ".ready"  # holds the hash of the requirements.txt installed
CHECK_TIMEOUT = 120  # seconds for one cell


def venv_python():
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def requirements_hash():
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def set_up():
    """Create .venv and install requirements.txt, unless that is already done."""
    if sys.version_info < (3, 10):
        sys.exit(f"course.py: Python 3.10 or newer is needed, this is {sys.version.split()[0]}")
    if venv_python().exists() and READY.exists() and READY.read_text().strip() == requirements_hash():
        return
    if not venv_python().exists():
        print("Creating .venv, the course's own Python environment (first time only) ...", flush=True)
        if subprocess.call([sys.executable, "-m", "venv", str(VENV)]) != 0:
            shutil.rmtree(VENV, ignore_errors=True)  # a half-made .venv (no pip) would fail later, less clearly
            sys.exit("course.py: could not create .venv. On Debian or Ubuntu, install the venv module "
                     "(sudo apt-get install python3-venv), then run the command again.")
    print("Installing numpy, matplotlib, scikit-learn and JupyterLab into .venv "
          "(a few minutes the first time; needs the internet) ...", flush=True)
    install = [str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "-r", str(REQUIREMENTS)]
    if subprocess.call(install) != 0:
        sys.exit("course.py: pip could not install requirements.txt (see its message above); "
                 "check your internet connection and run the command again.")
    READY.write_text(requirements_hash() + "\n")
    print("Done: .venv is ready.", flush=True)


def in_venv():
    return Path(sys.prefix).resolve() == VENV.resolve()


def replace_process(command):
    """Run command in place of this process (Ctrl-C then goes straight to it); exit with its status."""
    if os.name == "nt":
        sys.exit(subprocess.call(command))
    os.execv(command[0], command)


def lab(options):
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in options:
        options = ["--allow-root", *options]  # Jupyter refuses to run as root without it
    os.chdir(HERE)
    replace_process([sys.executable, "-m", "jupyterlab", *options])


def is_check_cell(cell):
    return cell.cell_type == "code" and any(line.startswith("check(") for line in cell.source.splitlines())


def run_notebook(path):
    """The notebook as saved, run top to bottom in a fresh kernel (in its folder), going on past errors."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CHECK_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(stderr=subprocess.DEVNULL)  # the kernel's own log lines are noise here
    return notebook


def summarize(notebook):
    """(lines to show, checks passed, not done yet, wrong) of a notebook that has been run."""
    shown, passed, to_do, wrong = [], 0, 0, 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [output for output in cell.get("outputs", []) if output.output_type == "error"]
        if is_check_cell(cell):
            for output in cell.outputs:
                if output.output_type == "stream" and output.name == "stdout":
                    for line in filter(str.strip, output.text.splitlines()):
                        shown.append(line)
                        passed += "check passed" in line
                        to_do += "not implemented yet" in line or "not computed yet" in line
                elif output.output_type == "error":  # a wrong answer raises AssertionError
                    shown.append(f"{output.ename}: {output.evalue}")
                    wrong += 1
        elif errors and errors[0].ename not in ("NotImplementedError", "NameError"):
            # a stub raises NotImplementedError, and the cells after it then miss its names:
            # the check cells report those; any other error is worth showing
            shown.append(f"cell [{cell.execution_count}] raised {errors[0].ename}: {errors[0].evalue}")
    return shown, passed, to_do, wrong


def check(names):
    paths = [HERE / name for name in names] or sorted(HERE.glob("ex*.ipynb"))
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        sys.exit(f"course.py: no such notebook: {', '.join(missing)}")
    totals = [0, 0, 0]
    for path in paths:
        print(f"{path.name} (running it in a fresh kernel, as saved on disk)", flush=True)
        shown, *counts = summarize(run_notebook(path))
        for line in shown:
            print(f"    {line}")
        totals = [total + count for total, count in zip(totals, counts)]
    passed, to_do, wrong = totals
    print(f"{passed} of {sum(totals)} checks passed, {to_do} not done yet, {wrong} with a wrong answer or an error.")


def main(argv):
    if not argv or argv[0] not in ("lab", "check"):
        sys.exit(__doc__)
    command, options = argv[0], argv[1:]
    if not in_venv():
        set_up()
        replace_process([str(venv_python()), str(Path(__file__).resolve()), *argv])
    if command == "lab":
        lab(options)
    else:
        check(options)


if __name__ == "__main__":
    main(sys.argv[1:])
