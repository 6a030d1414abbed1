"""Real Chromium (Debian's package) through Playwright, against a real server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.live import Server

CHROMIUM = os.environ.get("COMMONGROUND_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required under CI=true but {CHROMIUM} is missing")
        pytest.skip("Chromium is not installed here (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def server(browser: Any, tmp_path: Path) -> Iterator[Server]:
    running = Server(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'browser.db'}")
    running.start()
    try:
        yield running
    finally:
        # The test's pages hold live streams open; close them first so the server stops at
        # once rather than after its shutdown grace.
        for context in browser.contexts:
            context.close()
        running.stop()


def screenshot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")
