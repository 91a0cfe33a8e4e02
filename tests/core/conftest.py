"""Helpers for in-process scheduler tests.

The fixtures (``beatcore_app``, ``beatcore_recorder``, ``beatcore_store_url``,
``fake_clock``) come from beatcore's pytest plugin, :mod:`beatcore.testing.pytest_plugin`.
"""

from __future__ import annotations

from typing import Any

from celery import Celery


def make_scheduler(app: Celery, clock: Any, holder: str = "A") -> Any:
    from beatcore.scheduler import Scheduler

    return Scheduler(app, clock=clock, holder=holder)
