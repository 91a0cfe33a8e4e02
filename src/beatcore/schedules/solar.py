"""``Solar``: run at a solar event (sunrise, sunset, twilight, solar noon) at a place.

The event times come from the standard "sunrise equation" (mean anomaly, equation of the
center, ecliptic longitude, solar transit, declination, hour angle), good to a minute or two,
which is what a scheduler needs and spares a dependency on ``ephem``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs

from beatcore.errors import InvalidSchedule
from beatcore.timeutil import UTC, require_aware
from beatcore.values import is_number, shown

#: Each event: the sun's altitude in degrees that defines it and whether it is the rising (-1)
#: or setting (+1) crossing; solar noon is the transit (0). -0.833 degrees for sunrise and
#: sunset accounts for refraction and the sun's radius (the upper limb touches the horizon).
_EVENTS: dict[str, tuple[float, int]] = {
    "dawn_astronomical": (-18.0, -1),
    "dawn_nautical": (-12.0, -1),
    "dawn_civil": (-6.0, -1),
    "sunrise": (-0.833, -1),
    "solar_noon": (0.0, 0),
    "sunset": (-0.833, 1),
    "dusk_civil": (-6.0, 1),
    "dusk_nautical": (-12.0, 1),
    "dusk_astronomical": (-18.0, 1),
}

_J2000 = 2451545.0  # Julian day of 2000-01-01 12:00 UTC
_UNIX_EPOCH_JD = 2440587.5  # Julian day of 1970-01-01 00:00 UTC
_OBLIQUITY = math.radians(23.4397)
#: How many days :meth:`Solar.next_after` looks ahead for a day that has the event (polar day
#: and night last months, and some twilights never happen in a high-latitude summer).
_SEARCH_DAYS = 2 * 366


def _check_event(instance: object, attribute: object, value: str) -> None:
    if not isinstance(value, str) or value not in _EVENTS:
        raise InvalidSchedule(f"unknown solar event {value!r}; valid events: {', '.join(_EVENTS)}")


def _degrees(what: str, limit: float, value: object) -> float:
    """Return ``value`` as float degrees; refuse non-numbers and values past ``limit``."""
    if not is_number(value):
        raise InvalidSchedule(f"solar {what} must be a number of degrees, got {shown(value)}")
    number = float(value)
    if not -limit <= number <= limit:
        raise InvalidSchedule(
            f"solar {what} must be between {-limit:g} and {limit:g} degrees, got {value!r}"
        )
    return number


def _latitude(value: object) -> float:
    return _degrees("latitude", 90.0, value)


def _longitude(value: object) -> float:
    return _degrees("longitude", 180.0, value)


def _julian_day(instant: datetime) -> float:
    return instant.timestamp() / 86400.0 + _UNIX_EPOCH_JD


def _instant(julian_day: float) -> datetime:
    seconds = round((julian_day - _UNIX_EPOCH_JD) * 86400.0)
    return datetime.fromtimestamp(seconds, UTC)


@attrs.frozen
class Solar:
    """A solar event at a place: ``Solar("sunset", 52.52, 13.405)``.

    ``event`` is one of Celery's solar events: ``dawn_astronomical``, ``dawn_nautical``,
    ``dawn_civil``, ``sunrise``, ``solar_noon``, ``sunset``, ``dusk_civil``, ``dusk_nautical``,
    ``dusk_astronomical``. ``lat`` is degrees north (-90..90), ``lon`` degrees east (-180..180).
    Dawn events are the sun rising through the altitude that defines them (-18, -12, -6 degrees,
    -0.833 for sunrise), dusk events it setting through it. On days without the event (polar
    day or night) there is no occurrence; the next one is on the first day that has it.

    The occurrences are instants, so the schedule needs no time zone.
    """

    type_name: ClassVar[str] = "solar"
    #: The keys of :meth:`to_dict`, in the order a form shows them.
    field_names: ClassVar[tuple[str, ...]] = ("event", "lat", "lon")

    event: str = attrs.field(validator=_check_event)
    lat: float = attrs.field(converter=_latitude)
    lon: float = attrs.field(converter=_longitude)

    def next_after(self, dt: datetime) -> datetime | None:
        """Return the first occurrence strictly after ``dt`` (aware, UTC, whole seconds).

        Called by the scheduler after each run. Returns None when no day in the next two
        years has the event (a twilight that never comes at that latitude).
        """
        instant = require_aware(dt, "next_after argument")
        # Day numbers count solar days from J2000 at this longitude; start one day early so an
        # event of the "previous" solar day that is still ahead of ``dt`` is not missed.
        first = math.floor(_julian_day(instant) - _J2000 + self.lon / 360.0) - 1
        for day in range(first, first + _SEARCH_DAYS):
            julian_day = self._event_on(day)
            if julian_day is None:
                continue
            occurrence = _instant(julian_day)
            if occurrence > instant:
                return occurrence
        return None

    def _event_on(self, day: int) -> float | None:
        """Return the Julian day of the event on solar day ``day``, or None if it has none."""
        altitude, direction = _EVENTS[self.event]
        mean_solar_time = day - self.lon / 360.0
        anomaly = math.radians((357.5291 + 0.98560028 * mean_solar_time) % 360.0)
        center = (
            1.9148 * math.sin(anomaly)
            + 0.0200 * math.sin(2 * anomaly)
            + 0.0003 * math.sin(3 * anomaly)
        )
        longitude = math.radians((math.degrees(anomaly) + center + 180.0 + 102.9372) % 360.0)
        transit = (
            _J2000 + mean_solar_time + 0.0053 * math.sin(anomaly) - 0.0069 * math.sin(2 * longitude)
        )
        if direction == 0:
            return transit
        declination = math.asin(math.sin(longitude) * math.sin(_OBLIQUITY))
        latitude = math.radians(self.lat)
        cos_hour_angle = (
            math.sin(math.radians(altitude)) - math.sin(latitude) * math.sin(declination)
        ) / (math.cos(latitude) * math.cos(declination) or 1e-12)
        if not -1.0 <= cos_hour_angle <= 1.0:
            return None  # the sun stays above (or below) that altitude all day
        hour_angle = math.degrees(math.acos(cos_hour_angle))
        return transit + direction * hour_angle / 360.0

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"event": ..., "lat": ..., "lon": ...}``."""
        return {"event": self.event, "lat": self.lat, "lon": self.lon}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Solar:
        """Build a Solar from :meth:`to_dict` output."""
        missing = [key for key in ("event", "lat", "lon") if key not in data]
        if missing:
            raise InvalidSchedule(f"solar schedule needs {missing!r}, got {dict(data)!r}")
        return cls(data["event"], data["lat"], data["lon"])

    def describe(self) -> str:
        """Return "at sunset (52.52, 13.40)"."""
        return f"at {self.event.replace('_', ' ')} ({self.lat:.2f}, {self.lon:.2f})"
