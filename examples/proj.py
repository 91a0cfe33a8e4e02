"""A small Celery project run by the quickstart and the end-to-end tests.

Everything is configurable through environment variables so the same project runs with no
server at all (the defaults: kombu's filesystem broker and beatcore's SQLite store under
``examples/var/``) or against a real Redis broker and store:

- ``PROJ_BROKER_URL``: the broker (default ``filesystem://``).
- ``PROJ_BEATCORE_URL``: the beatcore store (default: SQLite beside beat's schedule file).
- ``PROJ_RECORD_FILE``: if set, each task run appends a JSON line (task id, name, time) to it.
- ``PROJ_INTERVAL``: seconds between runs of the demo entries (default 2).
- ``PROJ_LOCK_TTL``: ``beatcore_lock_ttl`` (default: beatcore's, 30 s).
- ``PROJ_PLUGINS``: ``beatcore_plugins``, comma-separated module names (default: none).
- ``PROJ_METRICS_PORT``: ``beatcore_metrics_port`` (default: no metrics served).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from celery import Celery
from kombu.transport import filesystem
from kombu.utils.json import dumps

HERE = Path(__file__).resolve().parent
VAR = Path(os.environ.get("PROJ_VAR_DIR", HERE / "var"))
INTERVAL = float(os.environ.get("PROJ_INTERVAL", "2"))


class _WholeFileChannel(filesystem.Channel):
    """kombu's filesystem channel, but a message file appears in the queue folder only whole.

    kombu creates the message file in the queue folder and then writes it, while a consumer
    moves and reads any file it lists without taking the writer's lock: a worker could read a
    still-empty file and die on ``JSONDecodeError``. Here the message is written under
    ``staging/`` on the same file system and renamed into place, which is atomic.
    """

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        staging = Path(self.data_folder_out) / "staging"
        staging.mkdir(exist_ok=True)
        (staging / name).write_text(dumps(message), encoding="utf-8")
        os.replace(staging / name, Path(self.data_folder_out) / name)


class WholeFileTransport(filesystem.Transport):
    """The filesystem transport with :class:`_WholeFileChannel`'s atomic writes."""

    Channel = _WholeFileChannel


app = Celery("proj")
broker_url = os.environ.get("PROJ_BROKER_URL", "filesystem://")
app.conf.broker_url = broker_url
if broker_url.startswith("filesystem://"):
    for folder in ("broker", "broker/processed", "broker/control"):
        (VAR / folder).mkdir(parents=True, exist_ok=True)
    app.conf.broker_transport = WholeFileTransport
    app.conf.broker_transport_options = {
        "data_folder_in": str(VAR / "broker"),
        "data_folder_out": str(VAR / "broker"),
        "processed_folder": str(VAR / "broker" / "processed"),
        "store_processed": False,
        # Exchange bindings (the worker's remote control); kombu's default is ./control.
        "control_folder": str(VAR / "broker" / "control"),
    }
if os.environ.get("PROJ_BEATCORE_URL"):
    app.conf.beatcore_url = os.environ["PROJ_BEATCORE_URL"]
if os.environ.get("PROJ_PLUGINS"):
    app.conf.beatcore_plugins = os.environ["PROJ_PLUGINS"]
if os.environ.get("PROJ_METRICS_PORT"):
    app.conf.beatcore_metrics_port = int(os.environ["PROJ_METRICS_PORT"])
if os.environ.get("PROJ_LOCK_TTL"):
    app.conf.beatcore_lock_ttl = float(os.environ["PROJ_LOCK_TTL"])
app.conf.update(
    timezone="UTC",
    beat_schedule_filename=str(VAR / "celerybeat-schedule"),
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
    beat_schedule={
        "hello-every-few-seconds": {
            "task": "proj.hello",
            "schedule": INTERVAL,
            "args": ("world",),
        },
        "add-every-few-seconds": {
            "task": "proj.add",
            "schedule": INTERVAL,
            "args": (2, 3),
            "options": {"expires": 60},
        },
    },
)


def _record(name: str, task_id: str | None) -> None:
    path = os.environ.get("PROJ_RECORD_FILE")
    if path:
        line = json.dumps({"task": name, "id": task_id, "at": time.time()})
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


@app.task(name="proj.hello", bind=True)
def hello(self, name: str) -> str:  # type: ignore[no-untyped-def]
    """Say hello (and record the run when PROJ_RECORD_FILE is set)."""
    _record("proj.hello", self.request.id)
    return f"hello {name}"


@app.task(name="proj.add", bind=True)
def add(self, x: int, y: int) -> int:  # type: ignore[no-untyped-def]
    """Add two numbers (and record the run when PROJ_RECORD_FILE is set)."""
    _record("proj.add", self.request.id)
    return x + y
