"""A person at a browser: real web, beat and worker processes on the SQLite store, driven by
a real headless Chromium.

The list shows the entries; one opens; disabling it with a reason stops beat sending it;
triggering it makes the worker run it; a cron entry added through the form is picked up by
beat; a bad cron field shows its error beside the field. Screenshots of the list and the entry
page are saved (to docs/_static with ``BEATCORE_WEB_SCREENSHOTS=docs/_static``).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import beatcore
from beatcore.errors import EntryNotFound
from beatcore.store import Store
from tests.e2e.processes import (
    beat_command,
    celery_command,
    project_env,
    running,
    runs,
    wait_for,
    worker_command,
)
from tests.support.servers import free_port

from .browser import SCREENSHOTS, chromium, screenshot_on_failure

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

STATIC = "hello-every-few-seconds"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # 503 before beat ticked: the server is up
    except OSError:
        return False


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    browser = chromium(tmp_path / "profile")
    try:
        yield browser
    finally:
        browser.quit()


def sent(store: Store, name: str) -> list[str]:
    """The task ids beat sent for ``name``, oldest first (from the run history); none while
    beat has created its store but not yet written its static entries into it."""
    try:
        runs = store.history(name, 1000)
    except EntryNotFound:
        return []
    return [r.task_id for r in reversed(runs) if r.outcome in ("sent", "resent")]


def test_a_person_manages_the_schedule_in_a_browser(tmp_path: Path, driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url = "sqlite:///" + str(tmp_path / "schedule.sqlite3")
    env = project_env(tmp_path, PROJ_BEATCORE_URL=url, PROJ_INTERVAL="1")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = [tmp_path / name for name in ("beat.log", "worker.log", "web.log")]
    web_cmd = celery_command("beatcore", "web", "--port", str(port))
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with (
        running(beat_command(tmp_path / "celerybeat-schedule"), env, logs[0]),
        running(worker_command(), env, logs[1]),
    ):
        wait_for(lambda: (tmp_path / "schedule.sqlite3").exists(), 60, "beat's store", logs)
        store = beatcore.connect(url)
        wait_for(lambda: len(sent(store, STATIC)) >= 2, 60, "beat sending the static entry", logs)
        with running(web_cmd, env, logs[2]), screenshot_on_failure(driver, tmp_path / "shots"):
            wait_for(lambda: answers(base + "/healthz"), 60, "the web process", logs)

            # A cron entry through the form, first: beat runs it at the next whole minute.
            driver.get(base + "/new")
            fill(driver, {"name": "report-every-minute", "task": "proj.add"})
            Select(driver.find_element(By.ID, "f-schedule.type")).select_by_value("crontab")
            fill(
                driver,
                {
                    "schedule.crontab.minute": "61",
                    "schedule.crontab.hour": "*",
                    "schedule.crontab.day_of_month": "*",
                    "schedule.crontab.month_of_year": "*",
                    "schedule.crontab.day_of_week": "*",
                    "args": "[2, 2]",
                },
            )
            press(driver, "save")
            error = driver.find_element(By.ID, "error-schedule.crontab.minute")
            assert error.is_displayed() and "61" in error.text
            field = driver.find_element(By.ID, "f-schedule.crontab.minute")
            assert abs(error.location["y"] - field.location["y"]) < field.size["height"]
            assert error.location["x"] > field.location["x"] + field.size["width"] - 1
            driver.save_screenshot(str(shots / "web-form-error.png"))
            fill(driver, {"schedule.crontab.minute": "*"})
            press(driver, "save")
            assert driver.find_element(By.ID, "entry-name").text == "report-every-minute"
            assert "Entry added." in driver.page_source

            # The list shows every entry; open the static one.
            driver.get(base + "/")
            links = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.entry-link")]
            assert links == ["add-every-few-seconds", STATIC, "report-every-minute"]
            driver.save_screenshot(str(shots / "web-entries.png"))
            press(driver, STATIC, By.LINK_TEXT)
            assert driver.find_element(By.ID, "entry-name").text == STATIC
            assert driver.find_element(By.ID, "static-note").is_displayed()
            assert driver.find_elements(By.CSS_SELECTOR, "#history tbody tr")
            driver.save_screenshot(str(shots / "web-entry.png"))

            # Disable it with a reason: beat stops sending it.
            driver.find_element(By.ID, "disable-reason").send_keys("quarter close")
            press(driver, "disable")
            assert driver.find_element(By.ID, "entry-enabled").text == "disabled"
            assert not store.get(STATIC).enabled
            time.sleep(2.5)  # a tick in progress at the click may still send one
            before = sent(store, STATIC)
            time.sleep(4)  # four intervals of the entry
            assert sent(store, STATIC) == before, "beat sent a disabled entry"

            # Run it now: beat sends it once more and the worker runs it.
            press(driver, "trigger")
            assert "runs at beat's next tick" in driver.page_source
            wait_for(lambda: len(sent(store, STATIC)) == len(before) + 1, 30, "the trigger", logs)
            task_id = sent(store, STATIC)[-1]
            wait_for(
                lambda: task_id in {r["id"] for r in runs(tmp_path)},
                60,
                "the worker running the triggered task",
                logs,
            )

            # The cron entry added through the form: beat picks it up at its minute.
            wait_for(
                lambda: sent(store, "report-every-minute"), 75, "beat sending the cron entry", logs
            )
            cron_id = sent(store, "report-every-minute")[0]
            wait_for(
                lambda: cron_id in {r["id"] for r in runs(tmp_path)},
                60,
                "the worker running the new cron entry",
                logs,
            )
            driver.get(base + "/entries/report-every-minute")
            assert driver.find_elements(By.CSS_SELECTOR, "#history tbody tr")
        store.close()


def press(driver: Any, target: str, by: str = "id") -> None:
    """Click the element ``target`` and wait for the page it leads to."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(by, target).click()
    WebDriverWait(driver, 30).until(_left(expected_conditions.staleness_of(page)))


def _left(stale: Any) -> Any:
    """``stale`` (Selenium's staleness_of the old page), also true when Chromium, asked
    about the old page's node while the new page replaces it, answers that the node no longer
    belongs to the document rather than that it is stale: the page was left either way."""
    from selenium.common.exceptions import WebDriverException

    def left(driver: Any) -> bool:
        try:
            return bool(stale(driver))
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise

    return left


def fill(driver: Any, values: dict[str, str]) -> None:
    """Type ``values`` into the form's fields, by name."""
    from selenium.webdriver.common.by import By

    for name, value in values.items():
        field = driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
