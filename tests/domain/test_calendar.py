"""Business-calendar arithmetic: hand-computed SLA scenarios plus properties across DST changes."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from opsledger.core.domain.calendar import BusinessCalendar
from opsledger.core.domain.errors import InputError

NY, LDN, SHA = ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), ZoneInfo("Asia/Shanghai")
H, M, US = timedelta(hours=1), timedelta(minutes=1), timedelta(microseconds=1)
EXAMPLES = settings(max_examples=400, deadline=None)

SHANGHAI = BusinessCalendar.office_hours(
    "Asia/Shanghai",
    country="CN",
    start=time(9),
    end=time(18),
    lunch=(time(12), time(13)),
    name="shanghai-office",
)
NEW_YORK = BusinessCalendar.office_hours(
    "America/New_York",
    country="US",
    subdiv="NY",
    name="new-york-office",
    closures=[date(2026, 3, 17)],
    makeup_days=[date(2026, 3, 14)],
)
LONDON = BusinessCalendar.office_hours(
    "Europe/London",
    country="GB",
    subdiv="ENG",
    lunch=(time(12), time(13)),
    name="london-office",
    closures=[date(2026, 12, 29), date(2026, 10, 27)],
)
# Night shifts that straddle 01:00-03:00, so DST jumps land inside working intervals.
NY_NIGHTS = BusinessCalendar(
    name="ny-nights",
    timezone="America/New_York",
    hours=(((time(0), time(6)), (time(22), time(0))),) * 7,
)
LDN_NIGHTS = BusinessCalendar(
    name="ldn-nights",
    timezone="Europe/London",
    hours=(((time(0, 30), time(1, 30)), (time(1, 45), time(3)), (time(23), time(0))),) * 5
    + ((), ((time(0), time(0)),)),
)
OFFICES = [SHANGHAI, NEW_YORK, LONDON]
ALL = [*OFFICES, NY_NIGHTS, LDN_NIGHTS]

# Instants cluster around the 2026 DST changes and the Chinese National Day holiday.
ANCHORS = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 10, 1, tzinfo=UTC),
    datetime(2026, 12, 28, tzinfo=UTC),
]
instants = st.builds(
    lambda anchor, offset, zone: (anchor + offset).astimezone(zone),
    st.sampled_from(ANCHORS),
    st.timedeltas(-timedelta(days=12), timedelta(days=12)),
    st.sampled_from([UTC, NY, LDN, SHA]),
)
durations = st.one_of(
    st.timedeltas(timedelta(0), timedelta(days=3)),
    st.sampled_from([timedelta(0), US, 4 * H, 8 * H, 24 * H, 200 * H]),
)
calendars = st.sampled_from(ALL)


def local(zone: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=zone)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


# -- hand-computed scenarios ------------------------------------------------------------------


def test_china_2026_holidays_and_make_up_days_are_those_of_the_holidays_library() -> None:
    cn = holidays.country_holidays("CN", years=2026)
    national_day = sorted(d for d in cn if date(2026, 9, 25) <= d <= date(2026, 10, 8))
    # Mid-Autumn Fri 9-25; National Day Oct 1-3, 5 (observed), 6-7 (swapped): Oct 1-7 off.
    assert national_day == [date(2026, 9, 25), *(date(2026, 10, d) for d in (1, 2, 3, 5, 6, 7))]
    assert {date(2026, 9, 20), date(2026, 10, 10)} <= set(cn.weekend_workdays)
    assert SHANGHAI.hours_on(date(2026, 9, 20)) == SHANGHAI.hours[0]  # Sunday, worked
    assert SHANGHAI.hours_on(date(2026, 10, 4)) == ()  # Sunday inside the holiday


def test_shanghai_ticket_on_mid_autumn_evening_is_due_monday_evening() -> None:
    # Fri 9-25 17:30 is Mid-Autumn Festival (closed); Sat/Sun 26-27 closed.
    # Mon 9-28: 09-12 (3h) + 13-18 (5h) = 8h -> due 18:00 CST = 10:00 UTC.
    due = SHANGHAI.add(local(SHA, 2026, 9, 25, 17, 30), 8 * H)
    assert due == utc(2026, 9, 28, 10)


def test_shanghai_target_across_national_day_counts_the_make_up_saturday() -> None:
    # 50h from Fri 9-25 17:30: Mon-Wed 9-28..30 = 3 x 8h = 24h; Oct 1-7 closed;
    # Thu 10-8 8h (32h); Fri 10-9 8h (40h); Sat 10-10 make-up 8h (48h); Sun 10-11 closed;
    # Mon 10-12 09:00 + 2h = 11:00 CST = 03:00 UTC.
    due = SHANGHAI.add(local(SHA, 2026, 9, 25, 17, 30), 50 * H)
    assert due == utc(2026, 10, 12, 3)
    # Wed 9-30 17:00-18:00 (1h) + Thu 10-8 (8h) + Fri 10-9 09:00-10:00 (1h) = 10h.
    elapsed = SHANGHAI.elapsed(local(SHA, 2026, 9, 30, 17), local(SHA, 2026, 10, 9, 10))
    assert elapsed == 10 * H


def test_shanghai_make_up_sunday_before_national_day_counts() -> None:
    # Fri 9-18 17:30-18:00 (0.5h); Sat 9-19 closed; Sun 9-20 make-up: 09-12 (3h, 3.5h total),
    # 13:00 + 4.5h = 17:30 CST = 09:30 UTC.
    due = SHANGHAI.add(local(SHA, 2026, 9, 18, 17, 30), 8 * H)
    assert due == utc(2026, 9, 20, 9, 30)


def test_make_up_day_uses_the_configured_weekday_hours() -> None:
    hours = (((time(10), time(11)),), (), (), (), ((time(9), time(13)),), (), ())
    cal = BusinessCalendar(
        name="fri", timezone="Asia/Shanghai", hours=hours, country="CN", makeup_weekday=4
    )
    # Sun 9-20 is a make-up day worked with Friday's 09:00-13:00 CST = 01:00-05:00 UTC.
    assert cal.working_intervals(date(2026, 9, 20)) == ((utc(2026, 9, 20, 1), utc(2026, 9, 20, 5)),)


def test_new_york_target_across_spring_forward_weekend() -> None:
    # Fri 3-6 16:00 EST: 1h to 17:00; weekend; Mon 3-9 is EDT (UTC-4): 09:00 + 3h = 12:00 EDT.
    assert NEW_YORK.add(local(NY, 2026, 3, 6, 16), 4 * H) == utc(2026, 3, 9, 16)
    # Mon 3-9 is 09:00-17:00 EDT = 13:00-21:00 UTC, still 8h.
    monday = NEW_YORK.working_intervals(date(2026, 3, 9))
    assert monday == ((utc(2026, 3, 9, 13), utc(2026, 3, 9, 21)),)


def test_new_york_custom_make_up_saturday_and_closure() -> None:
    # Sat 3-14 is a custom make-up day (Monday hours, 09-17 EDT = 13-21 UTC); Tue 3-17 closed.
    saturday = NEW_YORK.working_intervals(date(2026, 3, 14))
    assert saturday == ((utc(2026, 3, 14, 13), utc(2026, 3, 14, 21)),)
    # Fri 3-13 09:00 -> Thu 3-19 09:00: Fri 8h + Sat 8h + Mon 8h + Wed 8h = 32h (Tue closed).
    assert NEW_YORK.elapsed(local(NY, 2026, 3, 13, 9), local(NY, 2026, 3, 19, 9)) == 32 * H


def test_night_shift_across_dst_counts_real_elapsed_time() -> None:
    # 2026-03-08 00:00-06:00 local is 05:00 UTC -> 10:00 UTC: the 02:00 jump makes it 5h.
    assert NY_NIGHTS.elapsed(utc(2026, 3, 8, 5), utc(2026, 3, 8, 10)) == 5 * H
    # 2026-11-01 00:00 EDT (04:00 UTC) -> 06:00 EST (11:00 UTC) repeats 01:00-02:00: 7h.
    assert NY_NIGHTS.elapsed(utc(2026, 11, 1, 4), utc(2026, 11, 1, 11)) == 7 * H
    # London Saturdays are closed and Sundays 00:00-24:00: Sun 3-29 runs 00:00 GMT (00:00 UTC)
    # to Mon 00:00 BST (23:00 UTC) = 23h; Sun 10-25 runs 00:00 BST (23:00 UTC on the 24th) to
    # 00:00 GMT (00:00 UTC on the 26th) = 25h.
    assert LDN_NIGHTS.elapsed(utc(2026, 3, 28), utc(2026, 3, 29, 23)) == 23 * H
    assert LDN_NIGHTS.elapsed(utc(2026, 10, 24, 12), utc(2026, 10, 26)) == 25 * H
    # Mon 2026-10-26 weeknight: 00:30-01:30 (1h) + 01:45-03:00 (1h15m) + 23:00-24:00 (1h).
    assert LDN_NIGHTS.elapsed(local(LDN, 2026, 10, 26), local(LDN, 2026, 10, 27)) == 3 * H + 15 * M


def test_spring_forward_gap_time_moves_forward_by_the_gap() -> None:
    cal = BusinessCalendar(
        name="gap", timezone="America/New_York", hours=(((time(2, 30), time(4)),),) * 7
    )
    # 02:30 does not exist on 3-8; fold=0 reads it as EST: 07:30 UTC (03:30 EDT); 04:00 EDT is
    # 08:00 UTC, so only 30 minutes are worked that day.
    spring = cal.working_intervals(date(2026, 3, 8))
    assert spring == ((utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 8)),)
    # Fall-back 11-1: 02:30 and 04:00 are unambiguous EST: 07:30-09:00 UTC.
    autumn = cal.working_intervals(date(2026, 11, 1))
    assert autumn == ((utc(2026, 11, 1, 7, 30), utc(2026, 11, 1, 9)),)


def test_intervals_pushed_past_a_later_one_by_the_gap_are_clipped_not_double_counted() -> None:
    cal = BusinessCalendar(
        name="clip",
        timezone="America/New_York",
        hours=(((time(1), time(2, 30)), (time(3), time(4))),) * 7,
    )
    # On 3-8, 01:00 EST = 06:00 UTC and gap time 02:30 -> 07:30 UTC, but 03:00 EDT = 07:00 UTC:
    # the second interval starts where the first ends, giving 06:00-07:30 + 07:30-08:00 = 2h.
    spans = cal.working_intervals(date(2026, 3, 8))
    assert spans == (
        (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7, 30)),
        (utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 8)),
    )
    assert cal.elapsed(utc(2026, 3, 8), utc(2026, 3, 9)) == 2 * H


def test_london_closure_and_bank_holidays_over_christmas() -> None:
    # 09-12 & 13-17 (7h/day). Thu 12-24 16:00 GMT: 1h. Fri 25 Christmas, Sat/Sun, Mon 28
    # Boxing Day (observed), Tue 29 custom closure. Wed 30: 7h (8h). Thu 31: 09-12 (11h),
    # 13:00 + 3h = 16:00 GMT = 16:00 UTC.
    assert LONDON.add(local(LDN, 2026, 12, 24, 16), 14 * H) == utc(2026, 12, 31, 16)
    assert LONDON.elapsed(local(LDN, 2026, 12, 29), local(LDN, 2026, 12, 30)) == timedelta(0)


def test_london_target_across_british_summer_time_start() -> None:
    # Fri 3-27 16:30 GMT: 0.5h to 17:00; Mon 3-30 BST (UTC+1): 09:00 + 1.5h = 10:30 BST = 09:30 UTC.
    assert LONDON.add(local(LDN, 2026, 3, 27, 16, 30), 2 * H) == utc(2026, 3, 30, 9, 30)


def test_zero_duration_starts_at_the_next_opening() -> None:
    inside = local(NY, 2026, 3, 9, 10)
    assert NEW_YORK.add(inside, timedelta(0)) == inside
    # Fri 3-20 17:00 is closing time; next opening is Mon 3-23 09:00 EDT = 13:00 UTC.
    assert NEW_YORK.add(local(NY, 2026, 3, 20, 17), timedelta(0)) == utc(2026, 3, 23, 13)
    assert not NEW_YORK.is_working(local(NY, 2026, 3, 20, 17))
    assert NEW_YORK.is_working(local(NY, 2026, 3, 13, 17) - US)


def test_twenty_four_seven_is_real_elapsed_time() -> None:
    p1 = BusinessCalendar.twenty_four_seven("America/New_York")
    # Sat 3-7 12:00 EST -> Sun 3-8 12:00 EDT is 23 real hours.
    assert p1.elapsed(local(NY, 2026, 3, 7, 12), local(NY, 2026, 3, 8, 12)) == 23 * H
    assert p1.add(local(NY, 2026, 12, 25, 3), 5 * H) == utc(2026, 12, 25, 13)
    assert p1.is_working(local(NY, 2026, 12, 25))
    assert p1.next_opening(utc(2026, 1, 1)) == utc(2026, 1, 1)


def test_long_targets_skip_weeks_exactly() -> None:
    # 400h = 50 eight-hour days from Mon 2026-06-01 09:00 EDT. June: 22 weekdays - Juneteenth
    # (Fri 6-19) = 21; July: 23 weekdays - Independence Day observed (Fri 7-3) = 22 (43 total);
    # August: Mon 8-3..Fri 8-7 (48), Mon 8-10 (49), Tue 8-11 (50) -> 17:00 EDT = 21:00 UTC.
    start = local(NY, 2026, 6, 1, 9)
    assert NEW_YORK.add(start, 400 * H) == utc(2026, 8, 11, 21)
    assert NEW_YORK.elapsed(start, utc(2026, 8, 11, 21)) == 400 * H


# -- properties ---------------------------------------------------------------------------------


@EXAMPLES
@given(calendars, instants, durations)
def test_elapsed_inverts_add(cal: BusinessCalendar, start: datetime, duration: timedelta) -> None:
    due = cal.add(start, duration)
    assert due.tzinfo is UTC
    assert cal.elapsed(start, due) == duration
    assert cal.elapsed(cal.next_opening(start), due) == duration
    if duration:
        assert cal.is_working(due - US)  # the earliest such instant, not a later closing
    else:
        assert due == cal.next_opening(start)


@EXAMPLES
@given(calendars, instants, instants, instants)
def test_elapsed_is_additive_and_monotonic(
    cal: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted((a, b, c))
    ab, bc, ac = cal.elapsed(a, b), cal.elapsed(b, c), cal.elapsed(a, c)
    assert ac == ab + bc
    assert timedelta(0) <= ab <= ac <= c - a
    assert cal.elapsed(c, a) == timedelta(0)


@EXAMPLES
@given(calendars, instants)
def test_next_opening_is_the_first_working_instant(cal: BusinessCalendar, at: datetime) -> None:
    opening = cal.next_opening(at)
    assert opening >= at and cal.is_working(opening)
    assert cal.elapsed(at, opening) == timedelta(0)
    # Compare in UTC: an aware datetime with fold=1 never equals one in another zone (PEP 495).
    assert cal.is_working(at) == (opening == at.astimezone(UTC))


@functools.cache
def _public(country: str, subdiv: str | None, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdiv, years=year)


def _oracle_open(cal: BusinessCalendar, d: date) -> tuple[tuple[time, time], ...]:
    """Which local hours an office works on ``d``, decided from the holidays library directly."""
    assert cal.country is not None
    public = _public(cal.country, cal.subdiv, d.year)
    if d in cal.closures:
        return ()
    if d in cal.makeup_days or d in public.weekend_workdays:
        return cal.hours[0]
    if d in public:
        return ()
    return cal.hours[d.weekday()]


@EXAMPLES
@given(st.sampled_from(OFFICES), instants)
def test_office_is_working_exactly_in_local_hours(cal: BusinessCalendar, at: datetime) -> None:
    wall = at.astimezone(ZoneInfo(cal.timezone))
    clock = wall.time().replace(tzinfo=None, fold=0)
    hours = _oracle_open(cal, wall.date())
    assert cal.is_working(at) == any(s <= clock < e for s, e in hours)


@EXAMPLES
@given(st.sampled_from(OFFICES), instants, instants)
def test_office_elapsed_matches_a_day_by_day_sum(
    cal: BusinessCalendar, a: datetime, b: datetime
) -> None:
    a, b = sorted((a, b))
    zone = ZoneInfo(cal.timezone)
    total, d = timedelta(0), a.astimezone(zone).date()
    while d <= b.astimezone(zone).date():
        for s, e in _oracle_open(cal, d):
            lo, hi = datetime.combine(d, s, zone), datetime.combine(d, e, zone)
            total += max(timedelta(0), min(hi, b) - max(lo, a))
        d += timedelta(days=1)
    assert cal.elapsed(a, b) == total


@EXAMPLES
@given(
    st.sampled_from(["America/New_York", "Europe/London", "Asia/Shanghai"]),
    st.lists(st.lists(st.integers(0, 24 * 4), max_size=6, unique=True), min_size=7, max_size=7),
    instants,
    durations,
)
def test_arbitrary_weekly_hours_keep_add_and_elapsed_consistent(
    zone: str, marks: list[list[int]], start: datetime, duration: timedelta
) -> None:
    def quarter(q: int) -> time:
        return time(0) if q == 96 else time(q // 4, q % 4 * 15)

    week = []
    for marked in marks:
        q = sorted(marked)[: len(marked) // 2 * 2]
        week.append(tuple((quarter(s), quarter(e)) for s, e in zip(q[::2], q[1::2], strict=True)))
    assume(any(week))
    cal = BusinessCalendar(name="random", timezone=zone, hours=tuple(week))
    assert BusinessCalendar.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
    due = cal.add(start, duration)
    assert cal.elapsed(start, due) == duration <= due - start
    assert cal.elapsed(start, due + 3 * H) == duration + cal.elapsed(due, due + 3 * H)
    day = start.astimezone(ZoneInfo(zone)).date()
    spans = [s for i in range(-1, 3) for s in cal.working_intervals(day + timedelta(days=i))]
    assert all(a < b <= c for (a, b), (c, _) in itertools.pairwise(spans))


EXOTIC = [  # (zone, a UTC instant near a transition that moves local midnight or the date)
    ("Pacific/Apia", datetime(2011, 12, 30, tzinfo=UTC)),  # skipped 30 December 2011
    ("America/Juneau", datetime(1867, 10, 19, tzinfo=UTC)),  # repeated a day, +15h -> -9h
    ("America/Santiago", datetime(2026, 9, 6, 4, tzinfo=UTC)),  # 00:00 -> 01:00
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, tzinfo=UTC)),  # half-hour DST
]


@EXAMPLES
@given(
    st.sampled_from(EXOTIC),
    st.timedeltas(-timedelta(days=3), timedelta(days=3)),
    st.timedeltas(timedelta(0), timedelta(days=4)),
)
def test_round_the_clock_hours_count_real_time_in_any_zone(
    zone_anchor: tuple[str, datetime], offset: timedelta, duration: timedelta
) -> None:
    zone, anchor = zone_anchor
    cal = BusinessCalendar(name="full", timezone=zone, hours=(((time(0), time(0)),),) * 7)
    start = anchor + offset
    assert cal.is_working(start)
    assert cal.add(start, duration) == start + duration
    assert cal.elapsed(start, start + duration) == duration


# -- configuration and validation ----------------------------------------------------------------


@pytest.mark.parametrize("cal", ALL, ids=lambda c: c.name)
def test_calendar_round_trips_through_json(cal: BusinessCalendar) -> None:
    data = json.loads(json.dumps(cal.to_dict()))
    again = BusinessCalendar.from_dict(data)
    assert again == cal and hash(again) == hash(cal)


def test_calendar_is_immutable() -> None:
    with pytest.raises(FrozenInstanceError):
        NEW_YORK.timezone = "UTC"  # type: ignore[misc]


def _week(*day: tuple[time, time]) -> tuple[tuple[tuple[time, time], ...], ...]:
    return (day,) + ((),) * 6


@pytest.mark.parametrize(
    ("field", "build"),
    [
        ("timezone", lambda: BusinessCalendar.office_hours("Mars/Olympus_Mons")),
        ("country", lambda: BusinessCalendar.office_hours("UTC", country="XX")),
        ("subdiv", lambda: BusinessCalendar.office_hours("UTC", country="US", subdiv="ZZ")),
        (
            "hours.mon",
            lambda: BusinessCalendar(
                name="x", hours=_week((time(9), time(12)), (time(11), time(14)))
            ),
        ),
        ("hours.mon", lambda: BusinessCalendar(name="x", hours=_week((time(17), time(9))))),
        ("hours", lambda: BusinessCalendar(name="x", hours=((),) * 7)),
        ("hours", lambda: BusinessCalendar(name="x")),
        ("lunch", lambda: BusinessCalendar.office_hours("UTC", lunch=(time(8), time(10)))),
        ("weekdays", lambda: BusinessCalendar.office_hours("UTC", weekdays=[7])),
        (
            "makeup_days",
            lambda: BusinessCalendar.office_hours(
                "UTC", closures=[date(2026, 1, 3)], makeup_days=[date(2026, 1, 3)]
            ),
        ),
        (
            "makeup_weekday",
            lambda: BusinessCalendar(name="x", hours=_week((time(9), time(17))), makeup_weekday=7),
        ),
        ("always_open", lambda: BusinessCalendar(name="x", always_open=True, country="CN")),
        ("name", lambda: BusinessCalendar(name="", hours=_week((time(9), time(17))))),
        ("bogus", lambda: BusinessCalendar.from_dict({**NEW_YORK.to_dict(), "bogus": 1})),
        (
            "hours.funday",
            lambda: BusinessCalendar.from_dict(
                {**NEW_YORK.to_dict(), "hours": {"funday": [["09:00", "17:00"]]}}
            ),
        ),
        ("closures", lambda: BusinessCalendar.from_dict({**NEW_YORK.to_dict(), "closures": ["x"]})),
    ],
)
def test_invalid_configuration_names_the_field(field: str, build: Callable[[], object]) -> None:
    with pytest.raises(InputError) as caught:
        build()
    assert caught.value.field == field


def test_invalid_arithmetic_input_names_the_field() -> None:
    naive = datetime(2026, 3, 9, 10)
    aware = naive.replace(tzinfo=UTC)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("start", lambda: NEW_YORK.add(naive, H)),
        ("duration", lambda: NEW_YORK.add(aware, -H)),
        ("start", lambda: NEW_YORK.elapsed(naive, aware)),
        ("end", lambda: NEW_YORK.elapsed(aware, naive)),
        ("at", lambda: NEW_YORK.is_working(naive)),
        ("at", lambda: NEW_YORK.next_opening(naive)),
    ]
    for field, call in cases:
        with pytest.raises(InputError) as caught:
            call()
        assert caught.value.field == field
