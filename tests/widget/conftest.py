"""Browser fixtures for the widget tests: one Debian chromium per session, a fresh context per test.

The server under test is the `live_server` fixture from tests/conftest.py (a real uvicorn running the
real app on a loopback port). Setting STRIDE_TEST_BASE_URL points the tests at an already-running
server instead (handy while developing the widget).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "widget"
CHROMIUM = os.environ.get("STRIDE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api")


def _missing(reason: str):
    # In CI a missing browser is a failure (make test installs it); on a laptop it is a skip.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def stride_url(request) -> str:
    url = os.environ.get("STRIDE_TEST_BASE_URL")
    if not url:
        url = request.getfixturevalue("live_server")
    return str(url).rstrip("/")


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _missing(f"{CHROMIUM} not found: apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def context_options() -> dict:
    """Override (or parametrize) per test for viewport, colour scheme, reduced motion..."""
    return {}


@pytest.fixture
def context(browser, context_options):
    opts = {"viewport": {"width": 1280, "height": 800}, "locale": "en-GB"}
    opts.update(context_options)
    ctx = browser.new_context(**opts)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


class PageProblems:
    """Console errors, CSP violations, uncaught exceptions and dialogs seen on a page."""

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []

    @property
    def csp_violations(self) -> list[str]:
        return [m for m in self.console_errors if re.search(r"Content Security Policy|Refused to", m)]


@pytest.fixture
def page(context):
    pg = context.new_page()
    problems = PageProblems()

    def on_console(msg):
        if msg.type == "error":
            problems.console_errors.append(msg.text)

    def on_dialog(dialog):
        problems.dialogs.append(dialog.message)
        dialog.dismiss()

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: problems.page_errors.append(str(exc)))
    pg.on("dialog", on_dialog)
    pg.problems = problems  # type: ignore[attr-defined]
    yield pg


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core from a package on disk (never a CDN)."""
    try:
        import axe_playwright_python
    except ImportError:  # pragma: no cover
        _missing("axe-playwright-python is not installed (it ships axe.min.js)")
    path = Path(axe_playwright_python.__file__).parent / "axe.min.js"
    return path.read_text(encoding="utf-8")
