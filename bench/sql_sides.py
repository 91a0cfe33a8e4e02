"""The three sides of the SQL benchmark, driven the way celery beat drives them.

- ``postgres``: beatcore on its PostgreSQL store (``beatcore_url = postgresql://...``), the
  same :class:`bench.beatcore_side.BeatcoreSide` as the Redis benchmark's, with a bulk
  trigger for the untimed setup.
- ``redis``: beatcore on its Redis store, exactly the Redis benchmark's side, for the
  "within 2x of the Redis store in the same run" budget.
- ``django``: django-celery-beat's ``DatabaseScheduler`` on the same PostgreSQL server, in a
  real Django project (:func:`make_django_project`) whose tables django-celery-beat's own
  migrations made.

Setup outside the timed part: N dynamic hourly entries are stored in one batch (beatcore
``save_many``; django-celery-beat ``bulk_create`` of its ``PeriodicTask`` model, with
``PeriodicTasks.update_changed()`` as its admin does). Entries are made due: on beatcore's
PostgreSQL store by one statement that does what ``store.trigger(name)`` does to each row
(``triggered_at`` in the state, the row due now, a new ``rev``; 100k triggers one by one would
take minutes of setup), on Redis by ``store.trigger(name)`` from a few threads, on
django-celery-beat by setting ``last_run_at`` two hours back (one UPDATE) and
``PeriodicTasks.update_changed()``, so its hourly schedule is overdue and the scheduler
reloads it at its next tick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery

from beatcore.timeutil import utc_now
from bench.beatcore_side import BeatcoreSide
from bench.sides import PERIOD, TASK, Side

#: Django's settings module of the benchmark's project (in the directory it is made in).
DJANGO_SETTINGS = "beatbench.settings"
#: Rows per statement when django-celery-beat's tables are filled or updated.
_CHUNK = 5_000
#: Threads that trigger entries on the Redis store (untimed setup).
TRIGGER_THREADS = 8

_SETTINGS_PY = '''\
"""Settings of the benchmark's Django project: django-celery-beat on PostgreSQL."""

import json
import os

SECRET_KEY = "benchmark-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["django_celery_beat"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# Persistent connections (Django's default, 0, reconnects at every tick of the scheduler):
# the setting most favourable to django-celery-beat.
DATABASES = {"default": {**json.loads(os.environ["BEATBENCH_DATABASE"]), "CONN_MAX_AGE": None}}
'''


def django_database(host: str, port: int, user: str, password: str, name: str) -> dict[str, str]:
    """Django's ``DATABASES["default"]`` for a PostgreSQL database."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": user,
        "PASSWORD": password,
        "HOST": host,
        "PORT": str(port),
    }


def make_django_project(directory: Path, database: dict[str, str]) -> dict[str, str]:
    """Write the Django project into ``directory``, apply django-celery-beat's migrations to
    ``database`` and return the environment a process needs to use it.

    :raises subprocess.CalledProcessError: a migration failed (its output is in the error).
    """
    package = directory / "beatbench"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(_SETTINGS_PY)
    env = django_env(directory, database)
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return env


def django_env(directory: Path, database: dict[str, str]) -> dict[str, str]:
    """The environment variables of a process using the project in ``directory``."""
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "DJANGO_SETTINGS_MODULE": DJANGO_SETTINGS,
        "BEATBENCH_DATABASE": json.dumps(database),
        "PYTHONPATH": path,
    }


class PostgresSide(BeatcoreSide):
    """beatcore on its PostgreSQL store, in schema ``beatcore`` of its own database."""

    name = "postgres"

    def reset(self) -> None:
        """Drop the store's schema and create its empty tables again (untimed)."""
        with psycopg.connect(self.schedule_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS beatcore CASCADE")
        if self._store is not None:
            self._store.close()
            self._store = None
        self.store.entries()

    def settle(self, scheduler: Any) -> None:
        """Nothing: beatcore keeps no runs in memory."""

    def start(self, app: Celery) -> Any:
        """The scheduler, its wait for changes between ticks turned off: in celery beat its
        tick ends by waiting (LISTEN) until a change or its next due instant, which is beat's
        sleep, not work; the latency scenario (:mod:`bench.sql_latency`) runs it for real."""
        scheduler = super().start(app)
        scheduler.store.pushes_changes = False
        return scheduler

    def make_due(self, app: Celery, names: Sequence[str]) -> None:
        """What ``store.trigger(name)`` writes, for every name in one statement."""
        self.store.entries()  # the tables exist
        at = utc_now().isoformat()
        with psycopg.connect(self.schedule_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE beatcore.entries SET due_at = %(at)s::timestamptz, rev = rev + 1,"
                " state_json = jsonb_set(state_json::jsonb, '{triggered_at}',"
                " to_jsonb(%(at)s::text))::text WHERE name = ANY(%(names)s)",
                {"at": at, "names": list(names)},
            )


class RedisSide(BeatcoreSide):
    """beatcore on its Redis store (the Redis benchmark's side under the name ``redis``)."""

    name = "redis"

    def reset(self) -> None:
        """Empty the schedule server's database."""
        import redis

        with redis.Redis.from_url(self.schedule_url) as client:
            client.flushdb()
        if self._store is not None:
            self._store.close()
            self._store = None

    def settle(self, scheduler: Any) -> None:
        """Nothing: beatcore keeps no runs in memory."""

    def make_due(self, app: Celery, names: Sequence[str]) -> None:
        """``store.trigger(name)`` for each name, from a few threads at once (the store is
        thread-safe; one by one, 10k triggers take most of a minute on a loaded machine)."""
        store = self.store
        with ThreadPoolExecutor(max_workers=TRIGGER_THREADS) as pool:
            for _ in pool.map(store.trigger, names, chunksize=256):
                pass


class DjangoSide(Side):
    """django-celery-beat's ``DatabaseScheduler``; the process must have run
    ``django.setup()`` with the project of :func:`make_django_project`."""

    name = "django"

    def settings(self) -> dict[str, Any]:
        return {}

    def reset(self) -> None:
        """Empty django-celery-beat's tables."""
        from django_celery_beat import models  # type: ignore[import-untyped]

        models.PeriodicTask.objects.all().delete()
        for model in (
            models.IntervalSchedule,
            models.CrontabSchedule,
            models.SolarSchedule,
            models.ClockedSchedule,
            models.PeriodicTasks,
        ):
            model.objects.all().delete()

    def store_entries(self, names: Sequence[str]) -> None:
        from django_celery_beat.models import IntervalSchedule, PeriodicTask  # type: ignore[import-untyped]

        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(PERIOD.total_seconds()), period=IntervalSchedule.SECONDS
        )
        for name in names:
            PeriodicTask.objects.create(name=name, task=TASK, interval=interval)

    def update_entries(self, names: Sequence[str]) -> None:
        from django_celery_beat.models import PeriodicTask

        for name in names:
            task = PeriodicTask.objects.get(name=name)
            task.args = "[1]"
            task.save()

    def store_many(self, names: Sequence[str]) -> None:
        from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(PERIOD.total_seconds()), period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.bulk_create(
            (PeriodicTask(name=name, task=TASK, interval=interval) for name in names),
            batch_size=_CHUNK,
        )
        PeriodicTasks.update_changed()

    def start(self, app: Celery) -> Any:
        from django_celery_beat.schedulers import DatabaseScheduler  # type: ignore[import-untyped]

        return DatabaseScheduler(app=app)

    def lead(self, scheduler: Any) -> None:
        """django-celery-beat has no leadership: every beat process sends."""

    def settle(self, scheduler: Any) -> None:
        """Write the runs the scheduler keeps in memory (``sync``), as it does before it
        reloads a changed schedule, so that they cannot overwrite the next :meth:`make_due`."""
        scheduler.sync()

    def make_due(self, app: Celery, names: Sequence[str]) -> None:
        from django_celery_beat.models import PeriodicTask, PeriodicTasks

        past = app.now() - 2 * PERIOD
        for start in range(0, len(names), _CHUNK):
            chunk = list(names[start : start + _CHUNK])
            PeriodicTask.objects.filter(name__in=chunk).update(last_run_at=past)
        PeriodicTasks.update_changed()

    def stop(self, scheduler: Any) -> None:
        scheduler.sync()


#: What the scenarios drive: each side can also empty its tables and settle its scheduler.
SqlSide = PostgresSide | RedisSide | DjangoSide
