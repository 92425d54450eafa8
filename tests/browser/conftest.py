"""Fixtures of the browser test: JupyterLab (as `make lab` starts it) and a headless Chromium.

Only `make test-browser` (pytest tests/browser) collects this folder; pytest.ini keeps it out of
`pytest --nbval` / `make test`. The server is stopped at the end, whatever happened.
"""
import os
import shutil

import pytest

from lab_server import SCREENSHOTS, LabError, running_lab

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Debian's Chromium, not Playwright's own download (`playwright install` cannot work offline).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def screenshots():
    """build/browser-screenshots/, emptied at the start of each run."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def lab(screenshots, tmp_path_factory):
    """A running JupyterLab on the project folder; stopped at the end of the session."""
    try:
        with running_lab(tmp_path_factory.mktemp("jupyterlab"), screenshots / "jupyterlab.log") as running:
            yield running
    except LabError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless Debian Chromium with a fresh profile (--user-data-dir), driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: `make test-browser` installs tests/browser/requirements.txt",
                    pytrace=False)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set CHROMIUM=/path/to/chromium",
                    pytrace=False)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport=VIEWPORT)
        try:
            yield context
        finally:
            context.close()


def pytest_report_header(config):
    return f"browser test: screenshots of each notebook and the JupyterLab log go to {SCREENSHOTS}"
