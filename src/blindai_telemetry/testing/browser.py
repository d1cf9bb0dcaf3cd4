"""Debian's headless Chromium, launched as the dashboard's and the published report's tests (and the README's
screenshot script) open it; imported by name: it needs the `test` extra (Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Debian's package rather than Playwright's own download: nothing downloads at run time.
CHROMIUM = "/usr/bin/chromium"
#: No sandbox (containers run as root) and none of Chromium's own background traffic, so that every request
#: a test sees is the page's.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def available() -> bool:
    """Whether Debian's chromium is installed."""
    return shutil.which(CHROMIUM) is not None


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium (Playwright's sync `Browser`), closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
