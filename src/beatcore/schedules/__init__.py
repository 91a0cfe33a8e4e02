"""Schedule types: the structural contract and the built-in types.

The built-ins are registered through the ``beatcore_schedule_types`` hook by
:mod:`beatcore.builtins`, exactly as a third-party plugin registers its own.
"""

from beatcore.schedules.base import ScheduleType, describe
from beatcore.schedules.clocked import Clocked
from beatcore.schedules.crontab import Crontab
from beatcore.schedules.interval import Interval
from beatcore.schedules.solar import Solar

__all__ = ["Clocked", "Crontab", "Interval", "ScheduleType", "Solar", "describe"]
