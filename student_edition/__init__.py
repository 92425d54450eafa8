"""Make the student edition (exercises/) from the solution notebooks, nbgrader-style.

Every region between `### BEGIN SOLUTION` and `### END SOLUTION` in a code cell becomes one
line, `raise NotImplementedError("<hint>")`, at the region's indentation. The hint says what
to compute (the function and its docstring's first paragraph, or the names the region assigns) and about how
many lines it takes. Prose, formulas, figures, data loading and check cells stay; no output
is kept, so nothing computed by the solution shows. Run it with `make exercises`.

A region between `### BEGIN PASTE` and `### END PASTE` holds code the student wrote in an
earlier notebook and pastes again (its first line, above the region, says what to paste): in
the edition it is removed, so the cell keeps only that line.
"""
import ast
import copy
from pathlib import Path

import nbformat

from grader.questions import ALL_NOTEBOOKS as NOTEBOOKS

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_PASTE, END_PASTE = "### BEGIN PASTE", "### END PASTE"
BANNER_ID = "student-edition"
BANNER = """\
> **Student edition.** Wherever a cell says `raise NotImplementedError(...)`, replace that line
> with your own code: the message says what to compute and about how many lines it takes. A
> cell that starts with `# Paste your ...` wants your own code from an earlier exercise: copy
> those cells from your notebook and paste them there. Run the cells from the top; the check
> cell after each exercise tells you whether your answer is right. When you are done, compare
> with the solution, `../{name}`."""


class MarkerError(ValueError):
    """The solution markers of a cell do not pair up."""


def solution_regions(source, where, begin_marker=BEGIN, end_marker=END):
    """[(begin line, end line)] of the cell's solution (or paste) regions (indices of the marker lines)."""
    kind = "solution" if begin_marker == BEGIN else "paste"
    regions, begin = [], None
    for number, line in enumerate(source.splitlines()):
        marker = line.strip()
        if marker == begin_marker:
            if begin is not None:
                raise MarkerError(f"{where}: line {number + 1}: {begin_marker} inside another {kind} region")
            begin = number
        elif marker == end_marker:
            if begin is None:
                raise MarkerError(f"{where}: line {number + 1}: {end_marker} without a {begin_marker} before it")
            regions.append((begin, number))
            begin = None
    if begin is not None:
        raise MarkerError(f"{where}: line {begin + 1}: {begin_marker} without an {end_marker} after it")
    return regions


def paste_regions(source, where):
    """[(begin line, end line)] of the cell's paste regions; a paste region holds no solution region."""
    regions = solution_regions(source, where, BEGIN_PASTE, END_PASTE)
    lines = source.splitlines()
    for begin, end in regions:
        for number in range(begin, end):
            if lines[number].strip() in (BEGIN, END):
                raise MarkerError(f"{where}: line {number + 1}: a solution marker inside a paste region")
    return regions


def enclosing_function(tree, line):
    """(qualified name, docstring) of the innermost function around a 1-based line, or None."""
    found = None

    def visit(node, prefix):
        nonlocal found
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if isinstance(child, ast.ClassDef):
                    visit(child, f"{name}.")
                elif child.lineno <= line <= child.end_lineno:
                    found = (name, ast.get_docstring(child))
                    visit(child, f"{name}.")

    visit(tree, "")
    return found


def hint(source, begin, end):
    """What the region computes and about how many lines it takes."""
    lines = source.splitlines()[begin + 1:end]
    code = [line for line in lines if line.strip() and not line.strip().startswith("#")]
    count = f"about {len(code)} line{'s' if len(code) != 1 else ''}"
    function = enclosing_function(ast.parse(source), begin + 1)
    if function:
        name, docstring = function
        # the docstring's first paragraph: it may go on to say what the checks will try
        what = " ".join(docstring.split("\n\n")[0].split()).rstrip(".") if docstring else "write the body"
        return f"{name}: {what[:1].lower()}{what[1:]} ({count})"
    region = ast.parse("\n".join(line[len(lines[0]) - len(lines[0].lstrip()):] for line in lines))
    targets = [ast.unparse(target) for node in ast.walk(region) if isinstance(node, ast.Assign)
               for target in node.targets]
    return f"compute {', '.join(targets) or 'this step'} ({count})"


def student_source(source, where):
    """The cell's source with each solution region replaced by a NotImplementedError stub, and
    each paste region removed (the student pastes their own code there)."""
    for begin, end in reversed(paste_regions(source, where)):
        lines = source.splitlines()
        source = "\n".join(lines[:begin] + lines[end + 1:])
    lines = source.splitlines()
    regions = solution_regions(source, where)
    for begin, end in reversed(regions):  # from the bottom, so that earlier indices stay valid
        indent = lines[begin][:len(lines[begin]) - len(lines[begin].lstrip())]
        lines[begin:end + 1] = [f"{indent}raise NotImplementedError({hint(source, begin, end)!r})"]
    return "\n".join(lines)


def student_notebook(solution, name):
    """The student edition of one solution notebook (a new notebook; the solution is untouched)."""
    notebook = copy.deepcopy(solution)
    code_number = 0
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        code_number += 1
        cell.source = student_source(cell.source, f"{name}, code cell {code_number}")
        cell.outputs, cell.execution_count = [], None
    banner = nbformat.v4.new_markdown_cell(BANNER.format(name=name))
    banner.id = BANNER_ID
    notebook.cells.insert(1, banner)
    return notebook


def write_edition(solutions_dir, edition_dir, names=NOTEBOOKS):
    """Write the student edition of each notebook into edition_dir; return the paths."""
    edition_dir = Path(edition_dir)
    edition_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        solution = nbformat.read(Path(solutions_dir) / name, as_version=4)
        path = edition_dir / name
        nbformat.write(student_notebook(solution, name), path)
        written.append(path)
    return written
