"""The day rules of the cron dialect: ``L``, ``nW`` and ``LW``, ``5L``/``FRIL``, ``FRI#2``.

The part of a crontab's day fields that is not a plain set of numbers: whether a day of a month
is selected depends on the month's length and the weekday it falls on. The grammar in
:mod:`beatcore.schedules.cron_syntax` builds a :class:`DayRules`; ``Crontab`` asks it per day.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class DayRules:
    """The day-of-month and day-of-week items that are not plain sets of numbers.

    :param last_day: ``L`` in the day of month: the last day of each month.
    :param nearest_weekdays: ``nW``: the weekday (Monday-Friday) nearest to day ``n`` of the
        month, never crossing into another month; ``LW`` is written as day 0.
    :param last_weekdays: ``5L``/``FRIL``: the last such weekday of the month (0 = Sunday).
    :param nth_weekdays: ``FRI#2``: ``(weekday, n)``, the n-th such weekday of the month.
    """

    last_day: bool = False
    nearest_weekdays: tuple[int, ...] = ()
    last_weekdays: tuple[int, ...] = ()
    nth_weekdays: tuple[tuple[int, int], ...] = ()

    def day_of_month(self, day: int, weekday: int, length: int) -> bool:
        """Return True when ``day`` (of a month of ``length`` days) is selected by the rules.

        ``weekday`` is the cron weekday of ``day`` (0 = Sunday).
        """
        if self.last_day and day == length:
            return True
        if not self.nearest_weekdays or weekday in (0, 6):
            return False
        for wanted in self.nearest_weekdays:
            target = length if wanted == 0 else wanted
            if (
                target <= length
                and nearest_weekday(target, (weekday - day + target) % 7, length) == day
            ):
                return True
        return False

    def day_of_week(self, day: int, weekday: int, length: int) -> bool:
        """Return True when ``day``, a ``weekday`` (0 = Sunday), is selected by the rules."""
        if weekday in self.last_weekdays and day + 7 > length:
            return True
        return (weekday, (day - 1) // 7 + 1) in self.nth_weekdays


def nearest_weekday(target: int, weekday: int, length: int) -> int:
    """Return the day of month of the weekday nearest to ``target`` (``weekday`` is its own).

    Saturday moves to the Friday before, Sunday to the Monday after, unless that leaves the
    month: a Saturday 1st moves to Monday the 3rd, a Sunday last day to the Friday before.
    """
    if weekday == 6:
        return target - 1 if target > 1 else target + 2
    if weekday == 0:
        return target + 1 if target < length else target - 2
    return target
