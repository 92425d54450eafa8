"""Every solution notebook, run as a student runs it: JupyterLab in a real (headless) Chromium.

For each ex0*.ipynb at the top level: open it, Edit > Clear Outputs of All Cells, Run > Run All
Cells, wait until every cell has run and the kernel is idle, then check what the page shows:
every check cell says "check passed"; every printed line is there (the stored outputs of the
committed notebook, numbers cut to 10 decimals as nbval does); nothing went to stderr (no
traceback); every formula has been typeset by MathJax; every figure has loaded. The student
edition of exercise 1 must say "not implemented yet" in its first check cell.

Screenshots of each whole notebook (and the server's log) are in build/browser-screenshots/.
"""
import configparser
import re
import time

import nbformat
import pytest

from lab_server import ROOT, SCREENSHOTS

SOLUTIONS = sorted(path.name for path in ROOT.glob("ex0*.ipynb"))
STUDENT_EX01 = "exercises/ex01_neuron.ipynb"
RUN_SECONDS = 180  # Run All of one notebook: ~5 s on an idle machine
RENDER_SECONDS = 30  # MathJax and images, after the run
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")


# --- what the committed notebook says the page must show ---------------------------------------

def nbval_sanitizers():
    """The regexes of tests/nbval_sanitize.cfg: the browser and `make test` agree on 'the same output'."""
    config = configparser.ConfigParser()
    config.read(ROOT / "tests" / "nbval_sanitize.cfg", encoding="utf-8")
    return [(re.compile(config[section]["regex"]), config[section]["replace"]) for section in config.sections()]


SANITIZERS = nbval_sanitizers()


def sanitize(text):
    for regex, replace in SANITIZERS:
        text = regex.sub(replace, text)
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def count_formulas(markdown):
    """The $...$ and $$...$$ formulas of one markdown cell (not inside code), as MathJax counts them."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)  # fenced code
    text = re.sub(r"`[^`]*`", "", text)  # inline code
    text = text.replace(r"\$", "")  # an escaped dollar is not a delimiter
    display = re.findall(r"\$\$.+?\$\$", text, flags=re.S)
    text = re.sub(r"\$\$.+?\$\$", "", text, flags=re.S)
    inline = re.findall(r"\$[^$\n]+?\$", text.replace("\n", " "))
    return len(display) + len(inline)


def is_check_cell(source):
    return any(line.startswith("check(") for line in source.splitlines())


def stream_text(outputs, name):
    return "".join(output.text for output in outputs if output.output_type == "stream" and output.name == name)


def expected_page(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return {
        "code_cells": len(code),
        "check_cells": [index for index, cell in enumerate(code) if is_check_cell(cell.source)],
        "stdout": [sanitize(stream_text(cell.outputs, "stdout")) for cell in code],
        "stderr": [sanitize(stream_text(cell.outputs, "stderr")) for cell in code],
        "figures": sum(1 for cell in code for output in cell.outputs
                       if any(kind in output.get("data", {}) for kind in IMAGE_TYPES)),
        "formulas": sum(count_formulas(cell.source) for cell in notebook.cells if cell.cell_type == "markdown"),
    }


# --- what the browser shows ----------------------------------------------------------------------

READ_PAGE = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const outputs = (cell, mime) => Array.from(
      cell.querySelectorAll(`.jp-OutputArea-output[data-mime-type="${mime}"]`)).map(o => o.innerText).join('');
  return {
    cells: Array.from(panel.querySelectorAll('.jp-CodeCell')).map(cell => ({
      prompt: cell.querySelector('.jp-InputArea-prompt').textContent.trim(),
      stdout: outputs(cell, 'application/vnd.jupyter.stdout'),
      stderr: outputs(cell, 'application/vnd.jupyter.stderr'),
      text: cell.querySelector('.jp-OutputArea').innerText,
    })),
    formulas: panel.querySelectorAll('.jp-MarkdownCell mjx-container').length,
    formula_errors: Array.from(panel.querySelectorAll('mjx-merror'), e => e.getAttribute('data-mjx-error') || e.textContent),
    images: Array.from(panel.querySelectorAll('img')).map(img => ({
      complete: img.complete, width: img.naturalWidth, output: !!img.closest('.jp-OutputArea'),
      src: (img.getAttribute('src') || '').slice(0, 60)})),
    height: panel.querySelector('.jp-WindowedPanel-outer').scrollHeight,
  };
}"""

RUN_FINISHED = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const status = panel.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
  const prompts = Array.from(panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'), p => p.textContent);
  return status === 'idle' && !prompts.some(p => p.includes('*')) && prompts.some(p => /\\d/.test(p));
}"""


CLEARED = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell'))
    .every(cell => !/\\d/.test(cell.querySelector('.jp-InputArea-prompt').textContent)
                   && !cell.querySelector('.jp-OutputArea-output'))"""


def menu(page, menu_name, item):
    page.locator("li.lm-MenuBar-item", has_text=menu_name).first.click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def run_all(page, lab, name):
    """Open the notebook, clear the stored outputs, Run All, and wait until the kernel is done."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=120_000)
    page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator')", timeout=60_000)
    menu(page, "Edit", "Clear Outputs of All Cells")
    # No execution count left from the file: every number seen after Run All comes from this run.
    page.wait_for_function(CLEARED, timeout=30_000)
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(RUN_FINISHED, timeout=RUN_SECONDS * 1000, polling=500)


def read_page(page, expected_formulas):
    """The page, once MathJax has typeset what it will and the images have loaded."""
    deadline = time.monotonic() + RENDER_SECONDS
    while True:
        shown = page.evaluate(READ_PAGE)
        settled = shown["formulas"] >= expected_formulas and all(image["complete"] for image in shown["images"])
        if settled or time.monotonic() > deadline:
            return shown
        time.sleep(0.5)


def screenshot(page, path, height):
    """The whole notebook in one picture: a window tall enough for every cell, scrolled to the top."""
    window = page.viewport_size
    page.set_viewport_size({"width": window["width"], "height": min(height + 200, 16000)})
    page.evaluate("() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')"
                  ".scrollTo(0, 0)")
    time.sleep(1)  # let JupyterLab lay out the taller window
    page.screenshot(path=str(path))
    page.set_viewport_size(window)


def open_run_and_look(browser, lab, name, expected_formulas):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    picture = SCREENSHOTS / (name.replace("/", "_").removesuffix(".ipynb") + ".png")
    try:
        run_all(page, lab, name)
        shown = read_page(page, expected_formulas)
        screenshot(page, picture, shown["height"])
    except Exception:
        page.screenshot(path=str(picture))  # what the page showed when it went wrong
        raise
    finally:
        page.close()
        lab.shut_down_kernels()
    shown["page_errors"] = errors
    return shown, picture


# --- the tests -----------------------------------------------------------------------------------

def problems_on_page(expected, shown):
    """Everything the page shows that differs from what the committed notebook says it should."""
    cells = shown["cells"]
    if len(cells) != expected["code_cells"]:
        return [f"{len(cells)} code cells on the page, {expected['code_cells']} in the file"]
    problems = []
    if not expected["check_cells"]:
        problems.append("no check cell (a code cell with a line starting 'check(') in the file")
    for index in expected["check_cells"]:
        if "check passed" not in cells[index]["stdout"]:  # printed, not quoted in a traceback
            said = (cells[index]["text"].strip().splitlines() or ["nothing"])[-1]
            problems.append(f"check cell {index + 1} does not say 'check passed': {said!r}")
    for index, cell in enumerate(cells):
        if sanitize(cell["stderr"]) != expected["stderr"][index]:
            problems.append(f"code cell {index + 1}: error output {cell['stderr'].strip()[-600:]!r}")
        if sanitize(cell["stdout"]) != expected["stdout"][index]:
            problems.append(f"code cell {index + 1}: printed {cell['stdout']!r}, the committed notebook "
                            f"{expected['stdout'][index]!r} (numbers cut to 10 decimals)")
    not_run = [index + 1 for index, cell in enumerate(cells) if not re.search(r"\d", cell["prompt"])]
    if not_run:
        problems.append(f"Run All did not reach code cells {not_run}")
    if shown["formulas"] != expected["formulas"]:
        problems.append(f"MathJax typeset {shown['formulas']} formulas, the markdown has {expected['formulas']}")
    if shown["formula_errors"]:
        problems.append(f"MathJax could not typeset: {shown['formula_errors']}")
    figures = sum(1 for image in shown["images"] if image["output"])
    if figures != expected["figures"]:
        problems.append(f"{figures} figures on the page, {expected['figures']} in the committed notebook")
    broken = [image["src"] for image in shown["images"] if not image["width"]]
    if broken:
        problems.append(f"images that did not load (naturalWidth 0): {broken}")
    if shown["page_errors"]:
        problems.append(f"JavaScript errors in the page: {shown['page_errors']}")
    return problems


@pytest.mark.parametrize("name", SOLUTIONS)
def test_solution_notebook_in_jupyterlab(name, lab, browser):
    expected = expected_page(ROOT / name)
    shown, picture = open_run_and_look(browser, lab, name, expected["formulas"])
    problems = problems_on_page(expected, shown)
    assert not problems, f"{name} in JupyterLab (screenshot: {picture}):\n- " + "\n- ".join(problems)


def test_student_edition_says_not_implemented_yet(lab, browser):
    expected = expected_page(ROOT / STUDENT_EX01)
    shown, picture = open_run_and_look(browser, lab, STUDENT_EX01, expected["formulas"])
    first_check = shown["cells"][expected["check_cells"][0]]
    assert re.search(r"\d", first_check["prompt"]), f"{STUDENT_EX01}: the first check cell did not run ({picture})"
    assert "not implemented yet" in first_check["stdout"], \
        f"{STUDENT_EX01}: the first check cell says {first_check['text']!r}, not 'not implemented yet' ({picture})"
    assert "check passed" not in first_check["stdout"]
    assert shown["formulas"] == expected["formulas"], \
        f"{STUDENT_EX01}: MathJax typeset {shown['formulas']} formulas, the markdown has {expected['formulas']}"
