"""The two commands of this folder, for machines with or without make.

    python3 course.py lab [JupyterLab options]     open the notebooks in JupyterLab
    python3 course.py check [NOTEBOOK ...]         run the notebooks, print what their check cells say
    python3 course.py handin "First Last"          run the checks, then zip your notebooks to hand in

The first run creates .venv (a virtual environment) and installs requirements.txt into it;
later runs reuse it, and install again only when requirements.txt changes. `make lab`,
`make check` and `make handin NAME="First Last"` run these same commands.
"""
import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"
READY = VENV / ".ready"  # holds the hash of the requirements.txt installed
CHECK_TIMEOUT = 120  # seconds for one cell
CHECK_CALL = re.compile(r"""^check\(\s*(?:["']([^"'\n]*)["'])?""", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


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
    return cell.cell_type == "code" and bool(check_labels(cell.source))


def check_labels(source):
    """The label of each top-level `check(...)` call of a cell, in order ('?' if not a plain string)."""
    return [match.group(1) or "?" for match in CHECK_CALL.finditer(source)]


def run_notebook(path):
    """The notebook as saved, run top to bottom in a fresh kernel (in its folder), going on past errors."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CHECK_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(stderr=subprocess.DEVNULL)  # the kernel's own log lines are noise here
    return notebook


def bound_names(source):
    """The names a cell binds at its top level (assignments, loops, def, class, import)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                names.add(child.name)
            elif isinstance(child, ast.alias):
                names.add((child.asname or child.name).split(".")[0])
    return names


def used_names(source):
    """The names a cell reads."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def awaited_names(notebook):
    """Names that are missing for a known reason: bound by a cell that stopped with an error, named
    by a stub's message (`compute network`), or in the label of a paste cell that is still empty
    (`# Paste your `sigmoid` ...`)."""
    names = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        errors = [output for output in cell.get("outputs", []) if output.output_type == "error"]
        if errors:
            names |= bound_names(cell.source)
        for error in errors:  # a stub at a cell's top level names what it is to compute
            if error.ename == "NotImplementedError":
                names |= set(re.findall(r"\w+", error.evalue))
        lines = [line for line in cell.source.splitlines() if line.strip()]
        if lines and lines[0].startswith("# Paste your") and all(line.lstrip().startswith("#") for line in lines):
            names |= set(re.findall(r"`(\w+)`", lines[0]))
    return names


def where(error):
    """' (cell [k], line m)' of the innermost notebook line in an error's traceback, or ''."""
    text = ANSI.sub("", "\n".join(error.get("traceback", [])))
    found = re.findall(r"Cell In\[(\d+)\], line (\d+)", text)
    return f" (cell [{found[-1][0]}], line {found[-1][1]})" if found else ""


def stopped(cell, error):
    """One line for a cell that stopped with an error: the error and where it was raised."""
    return f"cell [{cell.execution_count}] stopped: {error.ename}: {error.evalue}{where(error)}"


def is_consequence(error, awaited):
    """True for the errors a blank notebook gives: a stub's NotImplementedError, and a NameError
    for a name that a stub or an empty paste cell was to define. Any other error is real."""
    if error.ename == "NotImplementedError":
        return True
    missing = re.match(r"name '(\w+)' is not defined", error.evalue)
    return error.ename == "NameError" and bool(missing) and missing.group(1) in awaited


def summarize(notebook):
    """(lines to show, checks passed, not done yet, failed) of a notebook that has been run.

    Every check call is counted, even one that did not run because the check before it in the
    same cell failed (as not done yet). A real error is shown once, with its cell and line; a
    check that could not compute because of it counts as failed."""
    awaited = awaited_names(notebook)
    shown, counts = [], [0, 0, 0]
    error_above = None  # the cell of the first real error so far
    repeated = {}  # (ename, evalue, where) of a real error: the cells that stopped with it
    left_incomplete = {}  # name: the cell that was to bind it and stopped with a real error
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if check_labels(cell.source):
            lines, *cell_counts = check_results(cell, error_above)
            shown += lines
            counts = [total + count for total, count in zip(counts, cell_counts)]
            continue
        real = [error for error in cell.get("outputs", [])
                if error.output_type == "error" and not is_consequence(error, awaited)]
        if real:
            error_above = error_above or f"cell [{cell.execution_count}]"
            after = sorted((used_names(cell.source) - bound_names(cell.source)) & set(left_incomplete))
            for name in bound_names(cell.source):
                left_incomplete.setdefault(name, cell.execution_count)
            if after:  # most likely a consequence: say so, next to the error itself
                shown.append(f"cell [{cell.execution_count}] stopped: {real[0].ename}: {real[0].evalue} - it uses "
                             f"{after[0]}, which cell [{left_incomplete[after[0]]}] left incomplete")
                continue
            same = (real[0].ename, real[0].evalue, where(real[0]))
            if same not in repeated:  # one line per error: a broken function stops many cells
                shown.append(same)
            repeated.setdefault(same, []).append(cell.execution_count)
    shown = [error_line(line, repeated) if isinstance(line, tuple) else line for line in shown]
    return (shown, *counts)


def check_results(cell, error_above):
    """(lines, passed, not done yet, failed) of one check cell; error_above: a real error before it."""
    lines, passed, to_do, failed = [], 0, 0, 0
    outputs = cell.get("outputs", [])
    for output in outputs:
        if output.output_type == "stream" and output.name == "stdout":
            for line in filter(str.strip, output.text.splitlines()):
                if "check passed" in line:
                    passed += 1
                elif ("not computed" in line or "not implemented yet" in line) and error_above is None:
                    to_do += 1  # a blank notebook: its own errors are not shown either
                elif "not computed" in line:  # blocked by the real error shown above
                    line += "" if "stopped with" in line else f" (see the error in {error_above} above)"
                    failed += 1
                else:
                    failed += 1
                lines.append(line)
        elif output.output_type == "error":
            failed += 1
            lines.append(output.evalue if output.ename in ("CheckFailed", "AssertionError") else stopped(cell, output))
    for label in check_labels(cell.source)[len(lines):]:  # counted too, so that the total never changes
        lines.append(f"{label}: not run yet" + (" - the check before it in the same cell failed" if outputs else ""))
        to_do += 1
    return lines, passed, to_do, failed


def error_line(error, repeated):
    """'cell [n] stopped: Error: ... (cell [k], line m)', and the other cells it stopped, if any."""
    (first, *others), (ename, evalue, place) = repeated[error], error
    also = f"; it also stopped {', '.join(f'cell [{number}]' for number in others)}" if others else ""
    return f"cell [{first}] stopped: {ename}: {evalue}{place}{also}"


def notebooks(names=()):
    """The paths of the named notebooks of this folder, or of all of them (ex*.ipynb)."""
    paths = [HERE / name for name in names] or sorted(HERE.glob("ex*.ipynb"))
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        sys.exit(f"course.py: no such notebook: {', '.join(missing)}")
    return paths


def check(names):
    """Run each notebook and print what its checks say; return (passed, not done yet, failed)."""
    totals = [0, 0, 0]
    for path in notebooks(names):
        print(f"{path.name} (running it in a fresh kernel, as saved on disk)", flush=True)
        shown, *counts = summarize(run_notebook(path))
        for line in shown:
            print(f"    {line}")
        totals = [total + count for total, count in zip(totals, counts)]
    passed, to_do, failed = totals
    print(f"{passed} of {sum(totals)} checks passed, {to_do} not done yet, "
          f"{failed} with a wrong answer or an error.")
    return passed, to_do, failed


def handin_name(words):
    """The student's name from the command line, or asked for; letters, spaces, - and ' only."""
    name = " ".join(words).strip()
    if not name and sys.stdin.isatty():
        name = input("Your name, as your teacher knows it (First Last): ").strip()
    name = " ".join(name.split())
    if not name or not re.fullmatch(r"[^\W\d_]+(?:[ '-][^\W\d_]+)*", name):
        sys.exit('course.py: give your name, letters only: python3 course.py handin "First Last" '
                 '(or make handin NAME="First Last")')
    return name


def zip_stem(name):
    """The name in plain ASCII letters, words joined by _, for a file name every LMS accepts."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z'-]+", "_", plain).strip("_") or "handin"


def handin(words):
    """Run every check, then write NAME.zip: a folder named for the student with their notebooks."""
    name = handin_name(words)
    paths = notebooks()
    print("Running every notebook first, in a fresh kernel as the grader will (save them first: Ctrl-S) ...",
          flush=True)
    passed, to_do, failed = check([])
    archive = HERE / f"{zip_stem(name)}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in paths:
            zipped.write(path, f"{name}/{path.name}")
    print(f"\nWrote {archive.name}: your {len(paths)} notebooks, in a folder named {name!r}, and nothing "
          "else. Upload this one file to your course page.")
    if to_do or failed:
        print(f"Not everything passes yet ({to_do} not done, {failed} failing): you may hand this in "
              "as it is, or fix them and run `make handin` again (it writes the zip anew).")


def main(argv):
    if not argv or argv[0] not in ("lab", "check", "handin"):
        sys.exit(__doc__)
    command, options = argv[0], argv[1:]
    if not in_venv():
        set_up()
        replace_process([str(venv_python()), str(Path(__file__).resolve()), *argv])
    if command == "lab":
        lab(options)
    elif command == "check":
        check(options)
    else:
        handin(options)


if __name__ == "__main__":
    main(sys.argv[1:])
