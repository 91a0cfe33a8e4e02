"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) for the browser
tests, driven through Selenium; ``.ci/setup`` installs both when missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

#: Where Debian puts the browser and its driver (one package version, so they always match).
CHROMIUM = os.environ.get("BEATCORE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BEATCORE_CHROMEDRIVER", "/usr/bin/chromedriver")
#: A directory to write the documentation's screenshots to (docs/_static when refreshing
#: them); unset, they go to the test's own temporary directory.
SCREENSHOTS = os.environ.get("BEATCORE_WEB_SCREENSHOTS")

ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--window-size=1360,1250",
)


def chromium(profile: Path) -> Any:
    """Return a Selenium driver of a fresh headless Chromium (skip when it is not installed)."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian's chromium, chromium-driver)")
    pytest.importorskip("selenium", reason="the test extra's browser driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    return driver


@contextmanager
def screenshot_on_failure(driver: Any, where: Path) -> Iterator[None]:
    """Save the page (PNG and HTML) to ``where`` when the block fails, and say where."""
    try:
        yield
    except BaseException as exc:
        where.mkdir(parents=True, exist_ok=True)
        png, html = where / "failure.png", where / "failure.html"
        try:
            driver.save_screenshot(str(png))
            html.write_text(driver.page_source)
        except Exception:  # the browser itself may be what failed
            pass
        exc.add_note(f"browser at {driver.current_url}; screenshot {png}, page {html}")
        raise
