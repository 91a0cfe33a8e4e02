"""Solar: validation, encoding, known event times, polar days and nights."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beatcore.errors import InvalidSchedule
from beatcore.schedules.solar import Solar

UTC = timezone.utc
EVENTS = [
    "dawn_astronomical",
    "dawn_nautical",
    "dawn_civil",
    "sunrise",
    "solar_noon",
    "sunset",
    "dusk_civil",
    "dusk_nautical",
    "dusk_astronomical",
]
BERLIN = (52.52, 13.405)
TROMSO = (69.65, 18.96)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def assert_near(actual: datetime | None, expected: datetime, minutes: float = 3) -> None:
    assert actual is not None
    assert abs(actual - expected) <= timedelta(minutes=minutes), (actual, expected)


# --- validation and encoding ---------------------------------------------------------------


def test_unknown_event_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidSchedule) as info:
        Solar("noon", 0, 0)
    message = str(info.value)
    assert "'noon'" in message
    for event in EVENTS:
        assert event in message


@pytest.mark.parametrize(
    ("lat", "lon", "fragment"),
    [
        (90.5, 0, "latitude must be between -90 and 90 degrees, got 90.5"),
        (-91, 0, "latitude"),
        (0, 180.01, "longitude must be between -180 and 180 degrees, got 180.01"),
        (0, -181, "longitude"),
        (math.nan, 0, "latitude"),
        (0, math.inf, "longitude"),
        ("52.5", 0, "latitude must be a number"),
        (True, 0, "latitude must be a number"),
    ],
)
def test_bad_coordinates_are_refused(lat: object, lon: object, fragment: str) -> None:
    with pytest.raises(InvalidSchedule, match=fragment):
        Solar("sunset", lat, lon)  # type: ignore[arg-type,unused-ignore]


@pytest.mark.parametrize("event", EVENTS)
def test_every_celery_event_is_accepted(event: str) -> None:
    assert Solar(event, *BERLIN).next_after(utc(2026, 3, 20)) is not None


def test_round_trip_through_json() -> None:
    solar = Solar("dusk_civil", -33.8688, 151.2093)
    data = json.loads(json.dumps(solar.to_dict()))
    assert data == {"event": "dusk_civil", "lat": -33.8688, "lon": 151.2093}
    assert Solar.from_dict(data) == solar
    assert hash(Solar.from_dict(data)) == hash(solar)
    assert Solar(event="sunset", lat=52, lon=13) == Solar("sunset", 52.0, 13.0)


def test_from_dict_names_missing_fields() -> None:
    with pytest.raises(InvalidSchedule, match="'lon'"):
        Solar.from_dict({"event": "sunset", "lat": 1.0})


def test_describe() -> None:
    assert Solar("sunset", 52.52, 13.405).describe() == "at sunset (52.52, 13.40)"
    assert Solar("solar_noon", -1, -2).describe() == "at solar noon (-1.00, -2.00)"


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(InvalidSchedule, match="naive"):
        Solar("sunset", *BERLIN).next_after(datetime(2026, 1, 1))


# --- known values --------------------------------------------------------------------------


def test_berlin_midsummer() -> None:
    day = utc(2026, 6, 21)
    # Published times: sunrise 04:43 CEST, solar noon 13:08 CEST, sunset 21:33 CEST.
    assert_near(Solar("sunrise", *BERLIN).next_after(day), utc(2026, 6, 21, 2, 43))
    assert_near(Solar("solar_noon", *BERLIN).next_after(day), utc(2026, 6, 21, 11, 8))
    assert_near(Solar("sunset", *BERLIN).next_after(day), utc(2026, 6, 21, 19, 33))
    # Civil twilight: dawn 03:52 CEST, dusk 22:23 CEST.
    assert_near(Solar("dawn_civil", *BERLIN).next_after(day), utc(2026, 6, 21, 1, 52))
    assert_near(Solar("dusk_civil", *BERLIN).next_after(day), utc(2026, 6, 21, 20, 23))


def test_berlin_midwinter() -> None:
    day = utc(2026, 12, 21)
    # Published times: sunrise 08:15 CET, sunset 15:54 CET.
    assert_near(Solar("sunrise", *BERLIN).next_after(day), utc(2026, 12, 21, 7, 15))
    assert_near(Solar("sunset", *BERLIN).next_after(day), utc(2026, 12, 21, 14, 54))


def test_southern_hemisphere() -> None:
    # Sydney, 2026-06-21: sunrise 07:00 AEST (21:00 UTC the day before), sunset 16:54 AEST.
    sydney = (-33.8688, 151.2093)
    assert_near(Solar("sunrise", *sydney).next_after(utc(2026, 6, 20, 12)), utc(2026, 6, 20, 21))
    assert_near(Solar("sunset", *sydney).next_after(utc(2026, 6, 21)), utc(2026, 6, 21, 6, 54))


@pytest.mark.parametrize(
    ("day", "equation_of_time_minutes"),
    [((2026, 6, 21), -1.7), ((2026, 11, 3), 16.4), ((2026, 2, 11), -14.2)],
)
@pytest.mark.parametrize("lon", [0.0, 90.0, -75.0])
def test_solar_noon_is_noon_corrected_for_longitude_and_equation_of_time(
    day: tuple[int, int, int], equation_of_time_minutes: float, lon: float
) -> None:
    midnight = utc(*day) - timedelta(hours=lon / 15)
    expected = utc(*day, 12) - timedelta(minutes=lon * 4 + equation_of_time_minutes)
    assert_near(Solar("solar_noon", 0.0, lon).next_after(midnight), expected, minutes=1)


def test_polar_night_skips_to_the_sun_coming_back() -> None:
    # In Tromsø the sun stays below the horizon from late November to mid January.
    sunrise = Solar("sunrise", *TROMSO).next_after(utc(2025, 12, 21))
    assert sunrise is not None
    assert utc(2026, 1, 12) <= sunrise <= utc(2026, 1, 18)
    assert utc(2026, 1, 1, 9, 30).time() <= sunrise.time() <= utc(2026, 1, 1, 11, 30).time()
    # Civil twilight still happens in the polar night, at local midday.
    dawn = Solar("dawn_civil", *TROMSO).next_after(utc(2025, 12, 21))
    assert dawn is not None and dawn < utc(2025, 12, 22)


def test_polar_day_skips_to_the_first_sunset() -> None:
    sunset = Solar("sunset", *TROMSO).next_after(utc(2026, 6, 1))
    assert sunset is not None
    assert utc(2026, 7, 20) <= sunset <= utc(2026, 7, 30)


def test_twilight_that_never_comes_in_summer_is_skipped() -> None:
    # Berlin's sky never gets astronomically dark around midsummer.
    dawn = Solar("dawn_astronomical", *BERLIN).next_after(utc(2026, 6, 21))
    assert dawn is not None
    assert utc(2026, 7, 10) <= dawn <= utc(2026, 8, 10)


def test_event_that_never_happens_gives_none() -> None:
    # At the pole the sun's altitude barely changes within a day: no dawn crossing at -18.
    assert Solar("dawn_astronomical", 90, 0).next_after(utc(2026, 1, 1)) is None


def test_next_after_is_strictly_after() -> None:
    solar = Solar("sunset", *BERLIN)
    first = solar.next_after(utc(2026, 6, 21))
    assert first is not None and first.microsecond == 0 and first.tzinfo is UTC
    assert solar.next_after(first - timedelta(seconds=1)) == first
    following = solar.next_after(first)
    assert following is not None
    assert timedelta(hours=23, minutes=58) < following - first < timedelta(hours=24, minutes=2)


@settings(max_examples=100, deadline=None)
@given(
    event=st.sampled_from(EVENTS),
    lat=st.floats(-45, 45),  # every twilight happens daily below ~48 degrees
    lon=st.floats(-180, 180),
    seconds=st.integers(0, 7 * 365 * 86400),
)
def test_events_at_ordinary_latitudes_come_about_daily(
    event: str, lat: float, lon: float, seconds: int
) -> None:
    solar = Solar(event, lat, lon)
    dt = utc(2024, 1, 1) + timedelta(seconds=seconds)
    first = solar.next_after(dt)
    assert first is not None and dt < first <= dt + timedelta(hours=25)
    second = solar.next_after(first)
    assert second is not None
    assert timedelta(hours=23, minutes=30) < second - first < timedelta(hours=24, minutes=30)
