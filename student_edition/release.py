"""python -m student_edition.release [--out DIR]: the students' bundle, as a folder and a zip.

DIR/neural-networks-day1/ gets the student edition's notebooks (exercises/*.ipynb) at its top,
data/*.csv, the students' README.md, Makefile and course.py (student_edition/bundle/), and a
requirements.txt cut from the project's; DIR/neural-networks-day1.zip holds the same folder.
Nothing else goes in: no solution, no grader, no tests. The build stops, writing nothing, if
exercises/ is out of date or if a line of a solution region shows anywhere in the bundle.
Run it with `make release`.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat

from student_edition import BANNER_ID, BEGIN, END, write_edition
from grader.questions import ALL_NOTEBOOKS as NOTEBOOKS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "bundle"
NAME = "neural-networks-day1"
STUDENT_PACKAGES = ["numpy", "scikit-learn", "matplotlib", "jupyterlab", "ipykernel", "ipython", "nbformat", "nbclient"]
# The edition's banner points at the solution beside exercises/; the bundle has none. The
# sentence may wrap onto the banner's next line, after its "> " quote mark.
SOLUTION_POINTER = re.compile(r"[ \t]*" + r"(?:\s|>)+".join(
    map(re.escape, "When you are done, compare with the solution,".split())) + r"(?:\s|>)+`[^`]*`\.")
MIN_LEAK_LENGTH = 12  # shorter solution lines (`return z`) may honestly appear elsewhere


class ReleaseError(RuntimeError):
    """The bundle cannot be built as it stands; the message says why and what to do."""


def student_requirements(text, packages=STUDENT_PACKAGES):
    """The lines of the project's requirements.txt that students need, ranges unchanged."""
    lines = {re.split(r"[<>=!~ \[;]", line, maxsplit=1)[0].lower(): line.strip()
             for line in text.splitlines() if line.strip() and not line.startswith("#")}
    missing = [package for package in packages if package not in lines]
    if missing:
        raise ReleaseError(f"requirements.txt has no line for {', '.join(missing)}")
    return ("# What the notebooks and `make check` need (the course's tested ranges).\n"
            + "".join(f"{lines[package]}\n" for package in packages))


def bundled_notebook(path):
    """A student notebook as it goes into the bundle: the banner no longer points at a solution."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.get("id") == BANNER_ID:
            cell.source = SOLUTION_POINTER.sub("", cell.source)
    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"  # as nbformat.write ends a file


def check_edition_is_current(root):
    """Refuse an exercises/ that does not match what `make exercises` makes of the solutions."""
    with tempfile.TemporaryDirectory() as fresh:
        for path in write_edition(root, fresh, [name for name in NOTEBOOKS if (root / name).exists()]):
            current = root / "exercises" / path.name
            if not current.exists() or current.read_bytes() != path.read_bytes():
                raise ReleaseError(f"exercises/{path.name} is out of date with {path.name}: run `make exercises`")


NOTEBOOK_ROWS = "<!-- one row per notebook, written by student_edition/release.py -->\n"


def students_readme(notebooks):
    """The README template with a table row per notebook: its file name and its title."""
    rows = []
    for path in notebooks:
        title = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].lstrip("# ").strip()
        rows.append(f"| `{path.name}` | {title} |\n")
    template = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    if NOTEBOOK_ROWS not in template:
        raise ReleaseError(f"{TEMPLATES / 'README.md'} has lost the line {NOTEBOOK_ROWS.strip()}")
    return template.replace(NOTEBOOK_ROWS, "".join(rows))


def bundle_files(root=ROOT):
    """{path inside the bundle: content} of everything the bundle holds."""
    notebooks = sorted((root / "exercises").glob("*.ipynb"))
    if not notebooks:
        raise ReleaseError(f"no notebook in {root / 'exercises'}: run `make exercises`")
    files = {path.name: bundled_notebook(path).encode("utf-8") for path in notebooks}
    files.update({f"data/{path.name}": path.read_bytes() for path in sorted((root / "data").glob("*.csv"))})
    files["README.md"] = students_readme(notebooks).encode("utf-8")
    for name in ("Makefile", "course.py"):
        files[name] = (TEMPLATES / name).read_bytes()
    files["requirements.txt"] = student_requirements((root / "requirements.txt").read_text()).encode("utf-8")
    return files


def solution_lines(root=ROOT):
    """The lines (stripped) inside the solution regions of the top-level notebooks."""
    lines = set()
    for path in sorted(root.glob("ex*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            inside = False
            for line in cell.source.splitlines():
                if line.strip() in (BEGIN, END):
                    inside = line.strip() == BEGIN
                elif inside and len(line.strip()) >= MIN_LEAK_LENGTH:
                    lines.add(line.strip())
    return lines


def leaks(files, lines):
    """[(bundle path, solution line)] for each solution line found in a bundled file."""
    found = []
    for name, content in files.items():
        text = content.decode("utf-8", errors="replace")
        if name.endswith(".ipynb"):  # also the cells' text, without JSON's escapes
            text += "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        found += [(name, line) for line in sorted(lines) if line in text]
        found += [(name, marker) for marker in (BEGIN, END) if marker in text]
    return found


def zip_date():
    """The date the zip gives its files: now, or $SOURCE_DATE_EPOCH's for a reproducible zip.

    Not a fixed old date: JupyterLab shows it to students ("modified 46 years ago")."""
    return time.gmtime(max(int(os.environ.get("SOURCE_DATE_EPOCH", time.time())), 315532800))[:6]


def write_zip(files, path):
    """A zip of the bundle under NAME/, files in sorted order, all with the same date."""
    partial = path.with_name(path.name + ".partial")
    date = zip_date()
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder in sorted({f"{NAME}/"} | {f"{NAME}/{name.rsplit('/', 1)[0]}/" for name in files if "/" in name}):
            entry = zipfile.ZipInfo(folder, date_time=date)
            entry.external_attr = (0o40755 << 16) | 0x10
            archive.writestr(entry, b"")
        for name in sorted(files):
            entry = zipfile.ZipInfo(f"{NAME}/{name}", date_time=date)
            entry.external_attr = 0o100644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, files[name])
    partial.replace(path)


def build(out, root=ROOT):
    """Write out/NAME/ and out/NAME.zip; return both paths."""
    check_edition_is_current(root)
    files = bundle_files(root)
    found = leaks(files, solution_lines(root))
    if found:
        where = "; ".join(f"{name}: {line!r}" for name, line in found[:5])
        raise ReleaseError(f"{len(found)} solution line(s) would go into the bundle, e.g. {where}")
    out = Path(out)
    folder, archive = out / NAME, out / f"{NAME}.zip"
    if folder.exists():
        shutil.rmtree(folder)
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    write_zip(files, archive)
    return folder, archive


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m student_edition.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=ROOT / "dist", type=Path, help="folder for the bundle (default: dist/)")
    options = parser.parse_args(argv)
    try:
        folder, archive = build(options.out)
    except (ReleaseError, FileNotFoundError) as error:
        sys.exit(f"release: {error}")
    print(f"wrote {folder}/ ({sum(1 for path in folder.rglob('*') if path.is_file())} files) and {archive}")


if __name__ == "__main__":
    main()
