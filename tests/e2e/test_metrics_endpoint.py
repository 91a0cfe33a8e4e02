"""A real ``celery beat -S beatcore.Scheduler`` serving its metrics, scraped over HTTP."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import free_port

from .processes import beat_command, project_env, running, stop, wait_for

pytestmark = pytest.mark.e2e


def scrape(url: str) -> dict[str, float]:
    """Return every sample at ``url`` by name and labels (``name{a="b"}``), or {} if down."""
    try:
        with urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except (URLError, OSError):
        return {}
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def test_beat_serves_its_metrics_on_the_configured_port(tmp_path: Path) -> None:
    port = free_port()
    env = project_env(tmp_path, PROJ_INTERVAL="1", PROJ_METRICS_PORT=str(port))
    log = tmp_path / "beat.log"
    url = f"http://127.0.0.1:{port}/metrics"
    seen: dict[str, float] = {}
    with running(beat_command(tmp_path / "celerybeat-schedule"), env, log) as beat:

        def sent_some() -> bool:
            seen.update(scrape(url))
            return seen.get("beatcore_occurrences_sent_total", 0) >= 4

        wait_for(sent_some, 60, "four sends counted at the metrics endpoint", [log])
        assert stop(beat) == 0
    assert seen["beatcore_leader"] == 1
    assert seen["beatcore_fencing_token"] >= 1
    assert seen["beatcore_entries"] == 2  # the example's two static entries
    assert seen["beatcore_unreadable_entries"] == 0
    assert seen["beatcore_tick_duration_seconds_count"] >= 1
    assert seen["beatcore_dispatch_lateness_seconds_count"] >= 4
    assert seen["beatcore_last_tick_timestamp_seconds"] > 0
    assert not any("entry=" in name for name in seen)
    assert f"metrics served on {url}" in log.read_text()
    assert scrape(url) == {}  # the port is closed with beat
