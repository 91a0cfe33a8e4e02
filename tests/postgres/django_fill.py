"""Make django-celery-beat's tables with its own migrations and fill them through its models.

Run as a separate process (Django's settings are global): ``python django_fill.py JSON``
where JSON is Django's ``DATABASES["default"]``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone


def main() -> None:
    import django
    from django.conf import settings

    settings.configure(
        DATABASES={"default": json.loads(sys.argv[1])},
        INSTALLED_APPS=["django_celery_beat"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    from django.core.management import call_command
    from django_celery_beat import models

    call_command("migrate", "django_celery_beat", verbosity=0)
    utc = timezone.utc
    seconds = models.IntervalSchedule.objects.create(
        every=10, period=models.IntervalSchedule.SECONDS
    )
    hours = models.IntervalSchedule.objects.create(every=2, period=models.IntervalSchedule.HOURS)
    berlin = models.CrontabSchedule.objects.create(minute="30", hour="2", timezone="Europe/Berlin")
    bad_cron = models.CrontabSchedule.objects.create(minute="99", hour="*")
    sunrise = models.SolarSchedule.objects.create(event="sunrise", latitude=52.52, longitude=13.4)
    clocked = models.ClockedSchedule.objects.create(
        clocked_time=datetime(2030, 6, 1, 8, 0, tzinfo=utc)
    )
    tasks = models.PeriodicTask.objects
    tasks.create(
        name="every-10s",
        task="proj.hello",
        interval=seconds,
        args="[1, 2]",
        kwargs='{"z": 3}',
        queue="fast",
        exchange="ex",
        routing_key="rk",
        priority=5,
        headers='{"tenant": "a"}',
        last_run_at=datetime(2026, 1, 5, 11, 0, tzinfo=utc),
        total_run_count=42,
        description="Says hello every ten seconds.\nOwner: team A (ünïcode kept)",
    )
    tasks.create(
        name="nightly-berlin",
        task="proj.report",
        crontab=berlin,
        expire_seconds=600,
        description="Nightly report, Berlin time",
    )
    tasks.create(name="sunrise", task="proj.hello", solar=sunrise, args='["sun"]')
    tasks.create(name="once", task="proj.hello", clocked=clocked, one_off=True)
    tasks.create(name="paused", task="proj.hello", interval=hours, enabled=False)
    tasks.create(
        name="expired",
        task="proj.hello",
        interval=hours,
        expires=datetime(2025, 1, 1, tzinfo=utc),
        start_time=datetime(2024, 6, 1, tzinfo=utc),
    )
    tasks.create(name="bad-cron", task="proj.hello", crontab=bad_cron)
    tasks.create(name="bad-args", task="proj.hello", interval=hours, args="not json")
    tasks.create(name="unknown-task", task="proj.no_such_task", interval=hours)


if __name__ == "__main__":
    main()
