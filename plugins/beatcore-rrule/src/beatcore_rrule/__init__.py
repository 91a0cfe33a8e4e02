"""beatcore-rrule: RFC 5545 recurrence rules as a beatcore schedule type.

``RRule("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0", tz="Europe/Paris")`` is used like any
built-in schedule. The type registers itself through the ``beatcore`` entry-point group
(:mod:`beatcore_rrule.plugin`); it is the worked example of a third-party schedule type.
"""

from beatcore_rrule.schedule import RRule

__all__ = ["RRule"]
