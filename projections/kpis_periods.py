"""KPI windows: which UTC instants make up a day, ISO week or month in a given time zone.

The desk reports in local periods while the facts are in UTC; this is the one place that
converts between them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opsledger.core.clock import ensure_utc
from opsledger.core.domain.errors import InputError
from opsledger.projections.kpis_types import Period, Window


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError("tz", f"{tz!r} is not an IANA time zone") from None


def _period(period: str) -> Period:
    if period not in get_args(Period):
        raise InputError("period", f"{period!r} is not one of day, week, month")
    return period  # type: ignore[return-value]


def _first_day(day: date, period: Period) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)


def _next_day(day: date, period: Period) -> date:
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _label(day: date, period: Period) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def _window(day: date, period: Period, zone: ZoneInfo) -> Window:
    """The period starting on local ``day``: local midnight to local midnight, in UTC."""
    end = _next_day(day, period)
    return Window(
        datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC),
        datetime(end.year, end.month, end.day, tzinfo=zone).astimezone(UTC),
        _label(day, period),
    )


def window_of(at: datetime, period: Period = "month", tz: str = "UTC") -> Window:
    """The day, ISO week or month (in time zone ``tz``) that contains the instant ``at``."""
    zone, kind = _zone(tz), _period(period)
    local = ensure_utc(at, "at").astimezone(zone)
    return _window(_first_day(local.date(), kind), kind, zone)


def windows(
    start: datetime, end: datetime, period: Period = "month", tz: str = "UTC"
) -> list[Window]:
    """The whole periods that overlap ``[start, end)``, in order."""
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    if end <= start:
        raise InputError("end", "must be after start")
    zone, kind = _zone(tz), _period(period)
    day = _first_day(start.astimezone(zone).date(), kind)
    found: list[Window] = []
    while not found or found[-1].end < end:
        found.append(_window(day, kind, zone))
        day = _next_day(day, kind)
    return found


def month(label: str, tz: str = "UTC") -> Window:
    """The month ``2026-11`` in time zone ``tz`` (what ``report --month`` names)."""
    try:
        year, number = (int(part) for part in label.split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise InputError("month", f"{label!r} is not a month like 2026-11") from None
    if not 1 <= year <= 9998:  # the window ends a month later, within datetime's range
        raise InputError("month", f"{label!r} is outside the years 0001 to 9998")
    return _window(first, "month", _zone(tz))


def span(start: datetime, end: datetime, label: str = "") -> Window:
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    if end <= start:
        raise InputError("end", "must be after start")
    return Window(start, end, label or f"{start.isoformat()}/{end.isoformat()}")


def measured_until(window: Window, as_of: datetime | None) -> datetime:
    if as_of is None:
        return window.end
    return max(window.start, min(window.end, ensure_utc(as_of, "as_of")))
