"""The Celery project the harness runs ``celery beat`` and ``celery worker`` with.

Configured by environment variables set by :mod:`bench.chaos.harness`:

- ``CHAOS_BROKER_URL``: the broker (a redis-server of its own, untouched by the faults).
- ``CHAOS_STORE_URL``: the schedule store (beatcore) or RedBeat's Redis URL.
- ``CHAOS_LOCK_TTL``: ``beatcore_lock_ttl`` / ``redbeat_lock_timeout`` in seconds.
- ``CHAOS_RECORD_FILE``: the append-only log the worker's task writes one JSON line to per run.
- ``CHAOS_CLOCK_OFFSET``: when set, this process's beat runs on :mod:`bench.chaos.skewed_clock`.

The schedule itself is not here: the harness writes the entries into the store before it starts
beat (dynamic entries), so every beat process reads the same schedule.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from celery import Celery

app = Celery("chaos")
_ttl = float(os.environ.get("CHAOS_LOCK_TTL", "3"))
app.conf.update(
    broker_url=os.environ.get("CHAOS_BROKER_URL", "redis://127.0.0.1:6379/0"),
    broker_connection_retry_on_startup=True,
    timezone="UTC",
    beat_schedule={},
    beat_max_loop_interval=1.0,
    task_ignore_result=True,
    worker_hijack_root_logger=True,
    beatcore_url=os.environ.get("CHAOS_STORE_URL"),
    beatcore_lock_ttl=_ttl,
    redbeat_redis_url=os.environ.get("CHAOS_STORE_URL"),
    redbeat_lock_timeout=int(max(_ttl, 1)),
)
if os.environ.get("CHAOS_CLOCK_OFFSET"):
    app.conf.beatcore_clock = "bench.chaos.skewed_clock.clock"


@app.task(name="chaos.record", bind=True)  # type: ignore[untyped-decorator]
def record(self: Any, entry: str, *_: Any) -> None:
    """Append ``{entry, id, at}`` to ``CHAOS_RECORD_FILE`` in one ``write`` (O_APPEND)."""
    line = json.dumps({"entry": entry, "id": self.request.id, "at": time.time()}) + "\n"
    fd = os.open(os.environ["CHAOS_RECORD_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
