"""Business-calendar arithmetic, so SLA clocks count only the hours a team is actually working.

Conventions (all arithmetic is exact to the microsecond and never reads the wall clock):

* Working hours are local, naive ``time`` pairs per weekday (Mon..Sun). An end of ``time(0)``
  means 24:00, i.e. midnight at the end of that day; a start of ``time(0)`` is the day's start.
  Several intervals on one day leave breaks between them.
* Instants must be timezone-aware on input; every instant returned is in UTC.
* Working time is half-open: a 09:00-17:00 day is working at 09:00 and not at 17:00.
* ``add(start, 0)`` is ``start`` when ``start`` is working time, otherwise the next opening; for a
  positive duration the clock starts at the next opening and may end exactly at a closing time.
* Local times become instants with ``fold=0`` normalised through UTC (as ``astimezone`` does):
  a wall time that falls in a spring-forward gap moves forward by the gap (02:30 -> 03:30 EDT) and
  an ambiguous fall-back wall time means its first occurrence. A window that crosses a jump
  counts real elapsed time (09:00-17:00 is 8h; 00:00-06:00 on a spring-forward day is 5h). Each
  local day's intervals are then clipped into that day's own UTC span, so intervals never overlap.
* A date's hours are decided in this order: a custom closure closes it; else a make-up day (custom
  or, for countries like China, the ``holidays`` library's ``weekend_workdays``) works the hours
  of ``makeup_weekday``; else a public holiday closes it; else the weekday's hours apply.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from opsledger.core.domain.errors import InputError

Interval = tuple[time, time]  # local, naive; an end of time(0) means 24:00
WeekHours = tuple[tuple[Interval, ...], ...]  # Mon..Sun
Span = tuple[datetime, datetime]  # UTC, half-open

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ZERO = timedelta(0)
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_FULL_DAY: tuple[Interval, ...] = ((time(0), time(0)),)
_MAX_CACHED_DAYS = 50_000  # about 137 years of days per calendar before the cache starts over


def _offset(t: time, *, end: bool) -> timedelta:
    """Position of ``t`` after local midnight; an end of 00:00 stands for 24:00."""
    if end and t == time(0):
        return _DAY
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _aware_utc(at: datetime, name: str) -> datetime:
    if not isinstance(at, datetime):
        raise InputError(name, f"expected a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(name, "must be timezone-aware")
    return at.astimezone(UTC)


@functools.lru_cache(maxsize=1024)
def _public_year(
    country: str, subdiv: str | None, year: int
) -> tuple[frozenset[date], frozenset[date]]:
    """One year's public holidays and official make-up workdays, loaded once per process."""
    table = holidays.country_holidays(country, subdiv=subdiv, years=year)
    # weekend_workdays may be shared by every instance of a country class, so copy, then filter.
    extra = frozenset(getattr(table, "weekend_workdays", ()))
    return (
        frozenset(d for d in table if d.year == year),
        frozenset(d for d in extra if d.year == year),
    )


class _Day:
    """Working spans of one local date (or week), all inside its own UTC [start, end)."""

    __slots__ = ("end", "spans", "start", "total")

    def __init__(self, start: datetime, end: datetime, spans: tuple[Span, ...]) -> None:
        self.start = start
        self.end = end
        self.spans = spans
        self.total = sum((b - a for a, b in spans), _ZERO)


class _Plans:
    """Per-calendar cache of day and week plans; kept out of equality, hashing and repr."""

    __slots__ = ("calendar", "days", "weeks", "zone")

    def __init__(self, calendar: BusinessCalendar, zone: ZoneInfo) -> None:
        self.calendar = calendar
        self.zone = zone
        self.days: dict[date, _Day] = {}
        self.weeks: dict[date, _Day] = {}

    def day(self, d: date) -> _Day:
        plan = self.days.get(d)
        if plan is None:
            if len(self.days) > _MAX_CACHED_DAYS:
                self.days.clear()
                self.weeks.clear()
            plan = self.days[d] = self._build(d)
        return plan

    def week(self, monday: date) -> _Day:
        """Whole-week totals, so long durations skip seven days at a time."""
        plan = self.weeks.get(monday)
        if plan is None:
            days = [self.day(monday + timedelta(days=i)) for i in range(7)]
            spans = tuple(s for p in days for s in p.spans)
            plan = self.weeks[monday] = _Day(days[0].start, days[-1].end, spans)
        return plan

    def locate(self, at: datetime) -> tuple[date, _Day]:
        d = at.astimezone(self.zone).date()
        plan = self.day(d)
        if at < plan.start:  # only where a jump moves local midnight (e.g. date-line shifts)
            d -= _DAY
            plan = self.day(d)
        elif at >= plan.end:
            d += _DAY
            plan = self.day(d)
        return d, plan

    def _build(self, d: date) -> _Day:
        zone = self.zone
        lo = datetime.combine(d, time(0), zone).astimezone(UTC)
        hi = datetime.combine(d + _DAY, time(0), zone).astimezone(UTC)
        spans: list[Span] = []
        cursor = lo
        for s, e in self.calendar.hours_on(d):
            a = datetime.combine(d, s, zone).astimezone(UTC)
            b = hi if e == time(0) else datetime.combine(d, e, zone).astimezone(UTC)
            a, b = max(a, cursor), min(b, hi)
            if b > a:
                spans.append((a, b))
                cursor = b
        return _Day(lo, hi, tuple(spans))


@dataclass(frozen=True, slots=True, kw_only=True)
class BusinessCalendar:
    """When a team works: weekly hours in a time zone, minus holidays and closures, plus make-up
    days. Immutable and JSON-serialisable so it can be recorded in events and read from policy."""

    name: str
    timezone: str = "UTC"
    hours: WeekHours = ()
    country: str | None = None
    subdiv: str | None = None
    closures: tuple[date, ...] = ()
    makeup_days: tuple[date, ...] = ()
    makeup_weekday: int = 0
    always_open: bool = False
    _plans: _Plans = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError("name", "must be a non-empty string")
        if not isinstance(self.always_open, bool):
            raise InputError("always_open", "must be true or false")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise InputError("timezone", f"unknown IANA time zone {self.timezone!r}") from exc
        self._check_country()
        hours = _normalise_week(self.hours, self.always_open)
        closures = _normalise_dates(self.closures, "closures")
        makeup = _normalise_dates(self.makeup_days, "makeup_days")
        if set(closures) & set(makeup):
            raise InputError("makeup_days", "a date cannot be both a closure and a make-up day")
        if not isinstance(self.makeup_weekday, int) or not 0 <= self.makeup_weekday <= 6:
            raise InputError("makeup_weekday", "must be a weekday number 0 (Mon) to 6 (Sun)")
        if self.always_open and (self.country or closures or makeup):
            raise InputError("always_open", "a 24x7 calendar has no holidays, closures or make-ups")
        for name, value in (("hours", hours), ("closures", closures), ("makeup_days", makeup)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_plans", _Plans(self, zone))

    def _check_country(self) -> None:
        if self.country is None and self.subdiv is not None:
            raise InputError("subdiv", "a subdivision needs a country")
        for name, subdiv in (("country", None), ("subdiv", self.subdiv)):
            try:
                if self.country is not None:
                    holidays.country_holidays(self.country, subdiv=subdiv, years=[])
            except (NotImplementedError, KeyError, TypeError) as exc:
                where = f"{self.country!r}" + (f", subdivision {subdiv!r}" if subdiv else "")
                raise InputError(name, f"the holidays library has no calendar for {where}") from exc

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def twenty_four_seven(cls, tz: str = "UTC", *, name: str = "24x7") -> BusinessCalendar:
        """Round-the-clock calendar (P1): business time is real elapsed time."""
        return cls(name=name, timezone=tz, always_open=True)

    @classmethod
    def office_hours(
        cls,
        tz: str,
        country: str | None = None,
        subdiv: str | None = None,
        start: time = time(9),
        end: time = time(17),
        lunch: Interval | None = None,
        weekdays: Iterable[int] = range(5),
        *,
        name: str = "office-hours",
        closures: Iterable[date] = (),
        makeup_days: Iterable[date] = (),
    ) -> BusinessCalendar:
        """The common shape: one daily window, optionally split by a lunch break."""
        day: tuple[Interval, ...] = ((start, end),)
        if lunch is not None:
            ((s0, e0),) = _normalise_day(day, "hours")
            ((lo, hi),) = _normalise_day((lunch,), "lunch")
            bounds = (_offset(s0, end=False), _offset(lo, end=False), _offset(hi, end=True))
            if not bounds[0] < bounds[1] < bounds[2] < _offset(e0, end=True):
                raise InputError("lunch", "must lie strictly inside the working day")
            day = ((start, lo), (hi, end))
        chosen = set(weekdays)
        if not chosen <= set(range(7)):
            raise InputError("weekdays", "weekdays are numbers 0 (Mon) to 6 (Sun)")
        return cls(
            name=name,
            timezone=tz,
            country=country,
            subdiv=subdiv,
            hours=tuple(day if i in chosen else () for i in range(7)),
            closures=tuple(closures),
            makeup_days=tuple(makeup_days),
        )

    # -- queries -----------------------------------------------------------------------------

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """Local working intervals of ``day`` after closures, make-up days and holidays."""
        if self.always_open:
            return _FULL_DAY
        if day in self.closures:
            return ()
        if day in self.makeup_days:
            return self.hours[self.makeup_weekday]
        if self.country is not None:
            public, workdays = _public_year(self.country, self.subdiv, day.year)
            if day in workdays:
                return self.hours[self.makeup_weekday]
            if day in public:
                return ()
        return self.hours[day.weekday()]

    def working_intervals(self, day: date) -> tuple[Span, ...]:
        """The UTC instants ``day`` is worked, half-open; exposed so callers can show them."""
        return self._plans.day(day).spans

    def is_working(self, at: datetime) -> bool:
        """Whether the SLA clock runs at instant ``at``."""
        at = _aware_utc(at, "at")
        if self.always_open:
            return True
        _, plan = self._plans.locate(at)
        return any(a <= at < b for a, b in plan.spans)

    def next_opening(self, at: datetime) -> datetime:
        """First working instant at or after ``at`` (``at`` itself when it is working time)."""
        at = _aware_utc(at, "at")
        if self.always_open:
            return at
        try:
            return self._opening(at)
        except OverflowError as exc:
            raise InputError("at", "no opening before the end of the supported range") from exc

    def _opening(self, at: datetime) -> datetime:
        plans = self._plans
        day, plan = plans.locate(at)
        while True:
            for a, b in plan.spans:
                if b > at:
                    return max(a, at)
            day += _DAY
            plan = plans.day(day)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Instant at which ``duration`` of business time has elapsed after ``start`` (UTC)."""
        at = _aware_utc(start, "start")
        if not isinstance(duration, timedelta) or duration < _ZERO:
            raise InputError("duration", "must be a non-negative timedelta")
        if self.always_open:
            return at + duration
        try:
            if duration == _ZERO:
                return self._opening(at)
            return self._add(at, duration)
        except OverflowError as exc:
            raise InputError("duration", "result is beyond the supported date range") from exc

    def _add(self, at: datetime, rem: timedelta) -> datetime:
        plans = self._plans
        day, plan = plans.locate(at)
        while True:
            if plan.start >= at:  # a whole day (or week) ahead: skip it if the clock outlasts it
                if day.weekday() == 0 and rem > (week := plans.week(day)).total:
                    rem -= week.total
                    day += _WEEK
                    plan = plans.day(day)
                    continue
                if rem > plan.total:
                    rem -= plan.total
                    day += _DAY
                    plan = plans.day(day)
                    continue
            for a, b in plan.spans:
                if b > at:
                    a = max(a, at)
                    if rem <= b - a:
                        return a + rem
                    rem -= b - a
            day += _DAY
            plan = plans.day(day)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero when ``end`` is not after ``start``."""
        s, e = _aware_utc(start, "start"), _aware_utc(end, "end")
        if e <= s:
            return _ZERO
        if self.always_open:
            return e - s
        try:
            return self._elapsed(s, e)
        except OverflowError as exc:
            raise InputError("end", "beyond the supported date range") from exc

    def _elapsed(self, s: datetime, e: datetime) -> timedelta:
        plans = self._plans
        day, plan = plans.locate(s)
        total = _ZERO
        while plan.start < e:
            if day.weekday() == 0 and plan.start >= s:
                week = plans.week(day)
                if week.end <= e:
                    total += week.total
                    day += _WEEK
                    plan = plans.day(day)
                    continue
            if plan.start >= s and plan.end <= e:
                total += plan.total
            else:
                for a, b in plan.spans:
                    lo, hi = max(a, s), min(b, e)
                    if hi > lo:
                        total += hi - lo
            day += _DAY
            plan = plans.day(day)
        return total

    # -- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form, for events and policy files; ``from_dict`` reverses it."""
        return {
            "name": self.name,
            "timezone": self.timezone,
            "always_open": self.always_open,
            "hours": {
                WEEKDAYS[i]: [[_fmt(s, end=False), _fmt(e, end=True)] for s, e in day]
                for i, day in enumerate(self.hours)
                if day
            },
            "country": self.country,
            "subdiv": self.subdiv,
            "closures": [d.isoformat() for d in self.closures],
            "makeup_days": [d.isoformat() for d in self.makeup_days],
            "makeup_weekday": WEEKDAYS[self.makeup_weekday],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Build from ``to_dict`` output or a hand-written policy; unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise InputError("calendar", "must be a mapping")
        for key in data:
            if key not in {f.name for f in fields(cls) if f.init}:
                raise InputError(str(key), "unknown calendar field")
        raw_hours = data.get("hours", {})
        if not isinstance(raw_hours, Mapping):
            raise InputError("hours", "must map weekday names (mon..sun) to intervals")
        week: list[tuple[Interval, ...]] = [() for _ in WEEKDAYS]
        for key, intervals in raw_hours.items():
            if key not in WEEKDAYS:
                raise InputError(f"hours.{key}", "unknown weekday; use mon..sun")
            week[WEEKDAYS.index(key)] = _parse_day(intervals, f"hours.{key}")
        makeup_weekday = data.get("makeup_weekday", "mon")
        if makeup_weekday not in WEEKDAYS:
            raise InputError("makeup_weekday", "must be one of mon..sun")
        always_open = data.get("always_open", False)
        return cls(  # types are checked by __post_init__, which names the field
            name=data.get("name", ""),
            timezone=data.get("timezone", "UTC"),
            hours=() if always_open is True and not raw_hours else tuple(week),
            country=data.get("country"),
            subdiv=data.get("subdiv"),
            closures=_parse_dates(data.get("closures", []), "closures"),
            makeup_days=_parse_dates(data.get("makeup_days", []), "makeup_days"),
            makeup_weekday=WEEKDAYS.index(makeup_weekday),
            always_open=always_open,
        )


def _normalise_week(hours: Sequence[Sequence[Interval]], always_open: bool) -> WeekHours:
    if always_open and not hours:
        return (_FULL_DAY,) * 7
    if isinstance(hours, str | bytes) or not isinstance(hours, Sequence) or len(hours) != 7:
        raise InputError("hours", "must give the intervals of each of the 7 weekdays, Mon..Sun")
    week = tuple(_normalise_day(day, f"hours.{WEEKDAYS[i]}") for i, day in enumerate(hours))
    if always_open and week != (_FULL_DAY,) * 7:
        raise InputError("hours", "a 24x7 calendar works every day 00:00-24:00")
    if not any(week):
        raise InputError("hours", "at least one weekday must have working hours")
    return week


def _normalise_day(day: Iterable[Interval], name: str) -> tuple[Interval, ...]:
    if isinstance(day, str | bytes) or not isinstance(day, Iterable):
        raise InputError(name, "must be a list of (start, end) pairs")
    pairs: list[Interval] = []
    for pair in day:
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise InputError(name, "each interval is a (start, end) pair")
        s, e = pair
        if not (isinstance(s, time) and isinstance(e, time)) or s.tzinfo or e.tzinfo:
            raise InputError(name, "interval bounds are naive local datetime.time values")
        s, e = s.replace(fold=0), e.replace(fold=0)
        if _offset(s, end=False) >= _offset(e, end=True):
            raise InputError(name, f"interval {s}-{e} ends before it starts")
        pairs.append((s, e))
    pairs.sort(key=lambda p: _offset(p[0], end=False))
    for (_, e1), (s2, _) in itertools.pairwise(pairs):
        if _offset(e1, end=True) > _offset(s2, end=False):
            raise InputError(name, f"intervals overlap at {s2}")
    return tuple(pairs)


def _normalise_dates(days: Iterable[date], name: str) -> tuple[date, ...]:
    if isinstance(days, str | bytes) or not isinstance(days, Iterable):
        raise InputError(name, "must be a list of dates")
    out = set()
    for d in days:
        if not isinstance(d, date) or isinstance(d, datetime):
            raise InputError(name, f"expected a date, got {d!r}")
        out.add(d)
    return tuple(sorted(out))


def _fmt(t: time, *, end: bool) -> str:
    if end and t == time(0):
        return "24:00"
    return t.isoformat("minutes" if not (t.second or t.microsecond) else "auto")


def _parse_day(intervals: Any, name: str) -> tuple[Interval, ...]:
    """``[["09:00", "12:00"], ["13:00", "24:00"]]`` -> time pairs; _normalise_day checks them."""
    try:
        return tuple(
            (time.fromisoformat(s), time(0) if e == "24:00" else time.fromisoformat(e))
            for s, e in intervals
        )
    except (TypeError, ValueError) as exc:
        raise InputError(name, f"not a list of [HH:MM, HH:MM] pairs: {intervals!r}") from exc


def _parse_dates(items: Any, name: str) -> tuple[date, ...]:
    if not isinstance(items, list):
        raise InputError(name, "must be a list of ISO dates")
    try:
        return tuple(date.fromisoformat(x) for x in items)
    except (TypeError, ValueError) as exc:
        raise InputError(name, f"not ISO dates (YYYY-MM-DD): {items!r}") from exc
