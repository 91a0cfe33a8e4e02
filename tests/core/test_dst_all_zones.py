"""Every IANA zone with a transition in 2026-2027, against a brute-force walk over real time.

For each transition the test builds fixed-hour jobs (the hour the change touches) and
wildcard-hour jobs, works out their fire instants in the six hours around it by walking UTC
minute by minute and reading the local wall clock, then checks that chaining ``next_after``
gives exactly those instants and that probes inside the gap or the overlap (and right at its
edges) get the first of them after the probe. With the zone database of this writing: 201 zones,
804 transitions and about 71,000 checked instants, in a few seconds.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs

from beatcore.schedules import Crontab

UTC = timezone.utc
MINUTE = timedelta(minutes=1)
SPAN_START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_END = datetime(2028, 1, 1, tzinfo=UTC)
WINDOW = timedelta(hours=3)


@attrs.frozen
class Transition:
    """One change of a zone's UTC offset: the instant and the offsets before and after."""

    at: datetime
    before: timedelta
    after: timedelta


def transitions(tz: ZoneInfo) -> Iterator[Transition]:
    """Yield the zone's offset changes in 2026-2027, found day by day and then to the minute."""
    day = timedelta(days=1)
    instant = SPAN_START
    offset = instant.astimezone(tz).utcoffset()
    while instant < SPAN_END:
        following = instant + day
        new = following.astimezone(tz).utcoffset()
        if new != offset:
            low, high = instant, following  # offset at low, new at high
            while high - low > MINUTE:
                middle = low + (high - low) // 2
                if middle.astimezone(tz).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            assert offset is not None and new is not None
            yield Transition(high.replace(second=0, microsecond=0), offset, new)
            offset = new
        instant = following


@attrs.frozen
class Job:
    """A crontab and what its fields select, written out here apart from the parser."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    real_time: bool

    def matches(self, wall: datetime) -> bool:
        return wall.minute in self.minutes and wall.hour in self.hours


def jobs_for(change: Transition) -> list[Job]:
    """Fixed-hour jobs at the start and inside the wall times the change touches, and
    wildcard-hour jobs (hourly, every 15 minutes, a minute inside the change, every 2 hours)."""
    touched = change.at + min(change.before, change.after)  # first wall time shown twice/never
    size = abs(change.after - change.before)
    inside = touched + size / 2
    every_hour = frozenset(range(24))
    return [
        Job(f"{touched.minute} {touched.hour} * * *", frozenset([touched.minute]),
            frozenset([touched.hour]), real_time=False),
        Job(f"{inside.minute} {inside.hour} * * *", frozenset([inside.minute]),
            frozenset([inside.hour]), real_time=False),
        Job("0 * * * *", frozenset([0]), every_hour, real_time=True),
        Job("*/15 * * * *", frozenset(range(0, 60, 15)), every_hour, real_time=True),
        Job(f"{inside.minute} * * * *", frozenset([inside.minute]), every_hour, real_time=True),
        Job("7 */2 * * *", frozenset([7]), frozenset(range(0, 24, 2)), real_time=True),
    ]  # fmt: skip


#: One real minute: the instant, the wall time the clock shows then, and its fold.
Reading = tuple[datetime, datetime, int]


def readings(tz: ZoneInfo, start: datetime, end: datetime) -> list[Reading]:
    """The clock of ``tz`` read at every minute from ``start`` to ``end``."""
    found: list[Reading] = []
    instant = start
    while instant <= end:
        local = instant.astimezone(tz)
        found.append((instant, local.replace(tzinfo=None), local.fold))
        instant += MINUTE
    return found


def brute_force(job: Job, clock: list[Reading]) -> list[datetime]:
    """Fire instants after the first reading, walking real minutes and reading the wall clock.

    A wildcard-hour job fires at every minute whose wall time matches. A fixed-hour job fires
    at a matching wall time's first occurrence, and at the first minute after a gap that
    swallowed a matching wall time.
    """
    fires: list[datetime] = []
    previous = clock[0][1]
    for instant, wall, fold in clock[1:]:
        if job.real_time:
            if job.matches(wall):
                fires.append(instant)
        elif fold == 0 and job.matches(wall):
            fires.append(instant)
        elif wall - previous > MINUTE:  # a gap: the wall times skipped over
            skipped = previous + MINUTE
            while skipped < wall:
                if job.matches(skipped):
                    fires.append(instant)
                    break
                skipped += MINUTE
        previous = wall
    return fires


def probes(change: Transition) -> list[datetime]:
    """Instants inside the gap or overlap and at its edges, to the second."""
    size = abs(change.after - change.before)
    second = timedelta(seconds=1)
    return [
        change.at - size - second,
        change.at - size / 2,  # in the first pass through a repeated hour
        change.at - second,
        change.at,
        change.at + second,
        change.at + size / 2 + timedelta(seconds=17),  # in the second pass
        change.at + size - second,
    ]


def test_every_zone_with_a_transition_in_2026_and_2027() -> None:
    zones = transitions_seen = cases = 0
    failures: list[str] = []
    for name in sorted(zoneinfo.available_timezones()):
        tz = ZoneInfo(name)
        changes = list(transitions(tz))
        if not changes:
            continue
        zones += 1
        for change in changes:
            transitions_seen += 1
            start, end = change.at - WINDOW, change.at + WINDOW
            clock = readings(tz, start, end)
            for job in jobs_for(change):
                cron = Crontab(job.expression, tz=name)
                assert cron.real_time is job.real_time
                expected = brute_force(job, clock)
                found: list[datetime] = []
                current = cron.next_after(start)
                while current is not None and current <= end:
                    found.append(current)
                    current = cron.next_after(current)
                cases += len(found) + 1
                if found != expected:
                    failures.append(f"{name} {change} {job.expression}: {found} != {expected}")
                for probe in probes(change):
                    cases += 1
                    want = next((fire for fire in expected if fire > probe), None)
                    got = cron.next_after(probe)
                    # No brute-force fire left in the window: the next one is after it.
                    ok = (got is not None and got > end) if want is None else got == want
                    if not ok:
                        failures.append(
                            f"{name} {change} {job.expression} probe {probe}: {got} != {want}"
                        )
    assert not failures, f"{len(failures)} failures, first: " + "\n".join(failures[:5])
    # The zone database has well over a hundred zones that change their clocks in two years.
    assert zones > 100 and transitions_seen >= 2 * zones - 20
