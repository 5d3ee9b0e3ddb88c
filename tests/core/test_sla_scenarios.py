"""SLA clocks through the public Engine, with every due instant worked out by hand.

The desk works in Shanghai: 09:00-12:00 and 13:00-18:00 Monday to Friday, Chinese public
holidays closed, official make-up days (调休) worked with Monday's hours. That is 8 business
hours a day. Local times are written as China Standard Time (UTC+8, no DST) and converted with
``cst``; the arithmetic in the comments counts business hours day by day.

Facts from ``holidays.China(years=2026)`` used below (``test_the_2026_calendar_facts_hold``
checks them, so a changed library fails loudly rather than silently moving every due instant):
Fri 2026-09-25 Mid-Autumn Festival; Thu 10-01 to Wed 10-07 closed (National Day, its observed
day and two days off); make-up workdays Sun 2026-09-20 and Sat 2026-10-10.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from opsledger.core.domain.calendar import BusinessCalendar

from opsledger import Engine, FixedClock, Settings

SHA = ZoneInfo("Asia/Shanghai")
H, M = timedelta(hours=1), timedelta(minutes=1)
POLICY_AT = datetime(2026, 9, 1, tzinfo=UTC)
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
SHANGHAI_OFFICE: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "country": "CN",
    "hours": {d: [["09:00", "12:00"], ["13:00", "18:00"]] for d in WORKDAYS},
}
CLOCK_EVENTS = {
    "ClockStarted", "ClockPaused", "ClockResumed", "WarningReached", "BreachRecorded",
    "ClockMet", "ClockStopped", "ClockCancelled", "TargetChanged",
}  # fmt: skip


def cst(text: str) -> datetime:
    """A Shanghai wall time (``2026-09-28 10:00``) as the UTC instant the engine records."""
    return datetime.fromisoformat(text).replace(tzinfo=SHA).astimezone(UTC)


def iso(text: str) -> str:
    return cst(text).isoformat()


def desk_policy(**overrides: Any) -> dict[str, Any]:
    """The customer SLA: P1 round the clock, P2-P4 in Shanghai office hours."""
    policy: dict[str, Any] = {
        "name": "cn-desk",
        "calendars": {
            "shanghai-office": SHANGHAI_OFFICE,
            "shanghai-24x7": {"timezone": "Asia/Shanghai", "always_open": True},
        },
        "targets": {
            "P1": {
                "calendar": "shanghai-24x7",
                "response_minutes": 15,
                "resolution_minutes": 240,
                "update_minutes": 30,
            },
            "P2": {
                "calendar": "shanghai-office",
                "response_minutes": 60,
                "resolution_minutes": 2640,
            },
            "P3": {
                "calendar": "shanghai-office",
                "response_minutes": 240,
                "resolution_minutes": 960,
            },
            "P4": {
                "calendar": "shanghai-office",
                "response_minutes": 480,
                "resolution_minutes": 1920,
            },
        },
    }
    policy.update(overrides)
    return policy


@pytest.fixture
def desk(backend: Settings) -> Iterator[Engine]:
    """An engine with the cn-desk SLA defined before any ticket is opened."""
    engine = Engine(backend, clock=FixedClock(POLICY_AT))
    try:
        engine.define_policy(desk_policy(), actor="sla-admin", at=POLICY_AT)
        yield engine
    finally:
        engine.close()


def clock_log(engine: Engine, number: str) -> list[tuple[str, dict[str, Any], datetime]]:
    """The ticket's clock events: (event name, details, recorded instant)."""
    return [
        (entry.event, entry.details, entry.at)
        for entry in engine.history(number)
        if entry.event in CLOCK_EVENTS
    ]


def started(engine: Engine, number: str) -> dict[str, str]:
    """Due instant of every clock as its ClockStarted recorded it."""
    return {d["clock"]: d["due"] for e, d, _ in clock_log(engine, number) if e == "ClockStarted"}


def thresholds(engine: Engine, number: str, clock: str) -> list[tuple[int, str, str | None]]:
    """(threshold %, due, noticed_at) of every warning and breach of one clock, in order.

    Also checks the rule that each is recorded at the instant it happened, not when noticed:
    a warning at its due instant; a breach at the target's end, or, when the target ran out
    at closing time, at the next opening (the breach's own instant is what is listed).
    """
    out = []
    for event, details, at in clock_log(engine, number):
        if event == "WarningReached" and details["clock"] == clock:
            assert at.isoformat() == details["due"], (event, details)
            out.append((details["threshold"], details["due"], details["noticed_at"]))
        elif event == "BreachRecorded" and details["clock"] == clock:
            assert at >= datetime.fromisoformat(details["due"]), (event, details)
            out.append((100, at.isoformat(), details["noticed_at"]))
    return out


def status(engine: Engine, number: str, as_of: datetime) -> dict[str, Any]:
    return {s.clock: s for s in engine.sla_status(number, as_of=as_of)}


def verdicts(engine: Engine, number: str) -> dict[str, tuple[str, int]]:
    """How each clock finished: (ClockMet/ClockStopped/ClockCancelled, business µs used)."""
    return {
        d["clock"]: (e, d["used_us"])
        for e, d, _ in clock_log(engine, number)
        if e in ("ClockMet", "ClockStopped", "ClockCancelled")
    }


def us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


# -- the holiday calendar the scenarios rely on ---------------------------------------------


def test_the_2026_calendar_facts_hold() -> None:
    china = holidays.country_holidays("CN", years=2026)
    assert date(2026, 9, 25) in china  # Mid-Autumn, a Friday
    assert all(date(2026, 10, d) in china for d in (1, 2, 3, 5, 6, 7))
    assert date(2026, 10, 4).weekday() == 6  # Sunday in the middle of the holiday week
    made_up = {d for d in china.weekend_workdays if d.year == 2026}
    assert {date(2026, 9, 20), date(2026, 10, 10)} <= made_up
    assert date(2026, 9, 20).weekday() == 6 and date(2026, 10, 10).weekday() == 5
    assert date(2026, 10, 11) not in made_up and date(2026, 9, 19) not in made_up


# -- P2 across Mid-Autumn, National Day and the make-up Saturday -----------------------------


def test_p2_opened_on_the_mid_autumn_friday_evening_runs_across_national_day(
    desk: Engine,
) -> None:
    # Opened Fri 2026-09-25 17:30, itself a holiday; Sat 26 and Sun 27 are ordinary weekend
    # days, so nothing counts until Mon 09-28 09:00.
    number = desk.open_incident(
        "Payment gateway slow", impact="high", urgency="medium", actor="desk",
        at=cst("2026-09-25 17:30"),
    ).number  # fmt: skip
    assert desk.get(number)["priority"] == "P2"

    # response 60 min: Mon 09:00 + 1h = 10:00.
    # resolution 44 h: Mon 8h, Tue 8h, Wed 8h = 24h; Thu 10-01..Wed 10-07 closed (Sun 10-04 a
    # weekend); Thu 10-08 8h = 32h; Fri 10-09 8h = 40h; make-up Sat 10-10 09-12 = 43h,
    # 13:00 + 1h = 14:00.
    assert started(desk, number) == {
        "sla/cn-desk/response": iso("2026-09-28 10:00"),
        "sla/cn-desk/resolution": iso("2026-10-10 14:00"),
    }

    # A tick exactly at the 50 % instant (Mon 09:00 + 30 min) records it, noticed on time.
    assert desk.tick(cst("2026-09-28 09:30")) == 1
    assert desk.tick(cst("2026-09-28 09:30")) == 0  # repeated
    # A late tick at 11:00: 75 % (45 min -> 09:45), 90 % (54 min -> 09:54), breach (10:00),
    # each recorded at its own instant and carrying when it was noticed.
    assert desk.tick(cst("2026-09-28 11:00")) == 3
    assert desk.tick(cst("2026-09-28 10:30")) == 0  # out of order: nothing new
    noticed = iso("2026-09-28 11:00")
    assert thresholds(desk, number, "sla/cn-desk/response") == [
        (50, iso("2026-09-28 09:30"), None),
        (75, iso("2026-09-28 09:45"), noticed),
        (90, iso("2026-09-28 09:54"), noticed),
        (100, iso("2026-09-28 10:00"), noticed),
    ]

    desk.acknowledge(number, actor="li.wei", at=cst("2026-09-28 11:30"))
    # Breached, so it stops as ClockStopped with 09:00-11:30 = 2h30 used.
    assert verdicts(desk, number)["sla/cn-desk/response"] == ("ClockStopped", us(2 * H + 30 * M))

    # resolution thresholds: 50 % = 22h -> Mon 8, Tue 8 (16h), Wed 09-12 (19h), 13:00 + 3h =
    # Wed 09-30 16:00. 75 % = 33h -> 32h by Thu 10-08 18:00, Fri 09:00 + 1h = 10:00.
    # 90 % = 39h36m -> Fri 09-12 (35h), 13:00 + 4h36m = 17:36. 100 % = Sat 10-10 14:00.
    # A tick at exactly the due instant is not yet a breach; one second later is.
    assert desk.tick(cst("2026-10-10 14:00")) == 3
    assert desk.tick(cst("2026-10-10 14:00:01")) == 1
    at_due, just_after = iso("2026-10-10 14:00"), iso("2026-10-10 14:00:01")
    assert thresholds(desk, number, "sla/cn-desk/resolution") == [
        (50, iso("2026-09-30 16:00"), at_due),
        (75, iso("2026-10-09 10:00"), at_due),
        (90, iso("2026-10-09 17:36"), at_due),
        (100, iso("2026-10-10 14:00"), just_after),
    ]

    desk.resolve(number, code="fixed", actor="li.wei", at=cst("2026-10-12 10:00"))
    # used 44h + Sat 14:00-18:00 (4h) + Sun 10-11 closed + Mon 09:00-10:00 (1h) = 49h
    assert verdicts(desk, number)["sla/cn-desk/resolution"] == ("ClockStopped", us(49 * H))
    assert desk.tick(cst("2026-12-01 00:00")) == 0  # stopped clocks fire nothing more


@pytest.mark.parametrize(
    ("opened", "response_due", "resolution_due"),
    [
        # Fri 09-18 17:30: 30 min that evening; Sat 09-19 closed; make-up Sun 09-20 09:00.
        # response 60: Sun 09:30. resolution 44h: 0.5 Fri, 8 Sun (8.5), Mon-Thu 09-21..24
        # (40.5), Fri 09-25 Mid-Autumn closed, Mon 09-28 09-12 (43.5), 13:00 + 0.5h = 13:30.
        ("2026-09-18 17:30", "2026-09-20 09:30", "2026-09-28 13:30"),
        # Wed 09-30 17:30, the last working evening before the National Day week: 30 min,
        # then closed until Thu 10-08. response: Thu 10-08 09:30. resolution: 0.5 Wed, Thu 8
        # (8.5), Fri 10-09 (16.5), make-up Sat 10-10 (24.5), Sun closed, Mon 10-12 (32.5),
        # Tue 10-13 (40.5), Wed 10-14 09-12 (43.5), 13:00 + 0.5h = 13:30.
        ("2026-09-30 17:30", "2026-10-08 09:30", "2026-10-14 13:30"),
    ],
)
def test_p2_opened_half_an_hour_before_closing_counts_make_up_days(
    desk: Engine, opened: str, response_due: str, resolution_due: str
) -> None:
    number = desk.open_incident(
        "VPN down for a branch", impact="medium", urgency="high", actor="desk", at=cst(opened)
    ).number
    assert started(desk, number) == {
        "sla/cn-desk/response": iso(response_due),
        "sla/cn-desk/resolution": iso(resolution_due),
    }
    # One second before the due instant the whole hour but that second is used, though the
    # wall clock has run for days: only business time counts.
    before = status(desk, number, cst(response_due) - timedelta(seconds=1))
    response = before["sla/cn-desk/response"]
    assert (response.elapsed, response.remaining) == (
        60 * M - timedelta(seconds=1),
        timedelta(seconds=1),
    )
    assert not response.breached


# -- a pause spanning a weekend, read back at past instants ---------------------------------


def _paused_over_a_weekend(desk: Engine) -> str:
    number = desk.open_incident(
        "Report export fails", actor="desk", reporter="zhang.min", at=cst("2026-11-05 10:00")
    ).number  # P3 (medium/medium): response 4h, resolution 16h
    desk.acknowledge(number, actor="li.wei", at=cst("2026-11-05 10:30"))
    desk.hold(number, "awaiting_customer", actor="li.wei", at=cst("2026-11-06 16:00"))
    desk.resume(number, actor="li.wei", at=cst("2026-11-09 11:00"))
    desk.resolve(number, code="fixed", actor="li.wei", at=cst("2026-11-09 14:30"))
    return number


def test_hold_awaiting_customer_over_a_weekend_moves_the_due_instant_by_exactly_the_pause(
    desk: Engine,
) -> None:
    number = _paused_over_a_weekend(desk)
    key = "sla/cn-desk/resolution"
    # Thu 11-05 10:00 + 16h: Thu 10-12 and 13-18 (7h), Fri 8h (15h), Mon 11-09 09:00 + 1h.
    assert started(desk, number)[key] == iso("2026-11-09 10:00")
    log = clock_log(desk, number)
    paused = [d for e, d, _ in log if e == "ClockPaused"]
    resumed = [d for e, d, _ in log if e == "ClockResumed"]
    # Used at the hold (Fri 16:00): Thu 7h + Fri 09-12 (3h) + 13-16 (3h) = 13h; 3h remain.
    assert [(p["clock"], p["reason"], p["used_us"]) for p in paused] == [
        (key, "awaiting_customer", us(13 * H))
    ]
    # Resumed Mon 11:00 with 3h left: Mon 11-12 (1h), 13:00 + 2h = 15:00.
    assert [(r["clock"], r["due"]) for r in resumed] == [(key, iso("2026-11-09 15:00"))]
    # The pause held Fri 16-18 and Mon 09-11 of business time (4h): the due moved by exactly
    # that, and nothing else (10:00 + 4h business = 15:00 across the lunch hour).
    office = BusinessCalendar.from_dict({"name": "shanghai-office", **SHANGHAI_OFFICE})
    pause = office.elapsed(cst("2026-11-06 16:00"), cst("2026-11-09 11:00"))
    assert pause == 4 * H
    assert office.add(cst("2026-11-09 10:00"), pause) == cst("2026-11-09 15:00")

    # 50 % = 8h -> Fri 10:00 and 75 % = 12h -> Fri 15:00, both noticed when the hold loaded
    # the ticket at Fri 16:00. 90 % = 14h24m: 1h24m after the resume -> Mon 11-12, 13:24;
    # noticed at the resolve (14:30). No breach: resolved with 13h + 1h + 1h30 = 15h30 used.
    assert thresholds(desk, number, key) == [
        (50, iso("2026-11-06 10:00"), iso("2026-11-06 16:00")),
        (75, iso("2026-11-06 15:00"), iso("2026-11-06 16:00")),
        (90, iso("2026-11-09 13:24"), iso("2026-11-09 14:30")),
    ]
    assert verdicts(desk, number) == {
        "sla/cn-desk/response": ("ClockMet", us(30 * M)),
        key: ("ClockMet", us(15 * H + 30 * M)),
    }


@pytest.mark.parametrize(
    ("as_of", "state", "elapsed", "due", "reached"),
    [
        # Thu 10-12 (2h) and 13-15 (2h); due as first computed, Mon 10:00.
        ("2026-11-05 15:00", "running", 4 * H, "2026-11-09 10:00", ()),
        # Fri 11:00: Thu 7h + Fri 09-11 (2h) = 9h, past 50 %.
        ("2026-11-06 11:00", "running", 9 * H, "2026-11-09 10:00", (50,)),
        # On hold over the weekend: frozen at 13h, no due instant while paused.
        ("2026-11-07 12:00", "paused", 13 * H, None, (50, 75)),
        ("2026-11-09 10:59", "paused", 13 * H, None, (50, 75)),
        # Mon 12:30: 13h + 11-12 (1h); the lunch hour does not count.
        ("2026-11-09 12:30", "running", 14 * H, "2026-11-09 15:00", (50, 75)),
        # After the resolve: met with 15h30 used.
        ("2026-11-10 09:00", "met", 15 * H + 30 * M, None, (50, 75, 90)),
    ],
)
def test_sla_status_as_of_a_past_instant_is_computed_from_the_events_alone(
    desk: Engine,
    as_of: str,
    state: str,
    elapsed: timedelta,
    due: str | None,
    reached: tuple[int, ...],
) -> None:
    number = _paused_over_a_weekend(desk)  # every command already recorded
    clock = status(desk, number, cst(as_of))["sla/cn-desk/resolution"]
    assert (clock.state, clock.elapsed, clock.remaining) == (state, elapsed, 16 * H - elapsed)
    assert clock.due == (cst(due) if due else None)
    assert clock.warnings_reached == reached
    assert (clock.policy, clock.version, clock.target, clock.breached) == (
        "cn-desk",
        1,
        16 * H,
        False,
    )
    response = status(desk, number, cst(as_of))["sla/cn-desk/response"]
    assert (response.state, response.elapsed, response.remaining) == ("met", 30 * M, 210 * M)


def test_sla_status_before_a_threshold_was_recorded_still_counts_business_time(
    desk: Engine,
) -> None:
    # Nothing ticked: the breach of the response clock (Mon 10:00) exists only by arithmetic.
    number = desk.open_incident(
        "Printer queue stuck", impact="high", urgency="medium", actor="desk",
        at=cst("2026-09-25 17:30"),
    ).number  # fmt: skip
    response = status(desk, number, cst("2026-09-28 13:30"))["sla/cn-desk/response"]
    # Mon 09-12 (3h) and 13:00-13:30 (30 min) of a 1h target.
    assert (response.elapsed, response.remaining, response.breached) == (
        3 * H + 30 * M,
        timedelta(0),
        True,
    )
    assert response.warnings_reached == (50, 75, 90)
    assert response.due == cst("2026-09-28 10:00")


def test_sla_explain_reads_as_a_timeline_an_auditor_can_check(desk: Engine) -> None:
    number = _paused_over_a_weekend(desk)
    lines = desk.sla_explain(number)
    key = "sla/cn-desk/resolution"
    expected = [
        f"{iso('2026-11-05 10:00')}  {number} Opened by desk",
        f"{iso('2026-11-05 10:00')}    {key}: started under cn-desk v1, target 16:00:00 "
        f"business time on calendar 'shanghai-office' (Asia/Shanghai), "
        f"due {iso('2026-11-09 10:00')}",
        f"{iso('2026-11-05 10:30')}    sla/cn-desk/response: met, 00:30:00 used of 04:00:00 "
        "(margin 03:30:00)",
        f"{iso('2026-11-06 10:00')}    {key}: 50% of target reached "
        f"(noticed {iso('2026-11-06 16:00')})",
        f"{iso('2026-11-06 16:00')}    {key}: paused (awaiting_customer) after 13:00:00 used",
        # Fri 16:00 -> Mon 11:00 is 67 wall-clock hours on hold.
        f"{iso('2026-11-09 11:00')}    {key}: resumed after 67:00:00 on hold, "
        f"now due {iso('2026-11-09 15:00')}",
        f"{iso('2026-11-09 14:30')}    {key}: met, 15:30:00 used of 16:00:00 (margin 00:30:00)",
    ]
    for line in expected:
        assert line in lines
    positions = [lines.index(line) for line in expected]
    assert positions == sorted(positions)  # in time order


# -- reopen ------------------------------------------------------------------------------------


def _resolved_then_reopened(engine: Engine) -> str:
    number = engine.open_incident(
        "Mailbox quota", actor="desk", at=cst("2026-11-10 09:00")
    ).number  # P3: resolution 16h
    engine.acknowledge(number, actor="li.wei", at=cst("2026-11-10 09:10"))
    # Resolved Tue 15:00 after 09-12 and 13-15: 5h used, met.
    engine.resolve(number, code="fixed", actor="li.wei", at=cst("2026-11-10 15:00"))
    engine.reopen(number, reason="still full", actor="zhang.min", at=cst("2026-11-11 10:00"))
    engine.tick(cst("2026-11-13 12:00"))
    return number


def test_reopen_with_resume_continues_the_same_clock(engine: Engine) -> None:
    engine.define_policy(desk_policy(on_reopen="resume"), actor="sla-admin", at=POLICY_AT)
    number = _resolved_then_reopened(engine)
    key = "sla/cn-desk/resolution"
    log = clock_log(engine, number)
    assert verdicts(engine, number)[key] == ("ClockMet", us(5 * H))
    # Reopened Wed 10:00 with 11h left: Wed 10-12 and 13-18 (7h), Thu 09-12 (10h),
    # 13:00 + 1h = Thu 14:00.
    assert [(d["clock"], d["due"]) for e, d, _ in log if e == "ClockResumed"] == [
        (key, iso("2026-11-12 14:00"))
    ]
    assert sorted(started(engine, number)) == ["sla/cn-desk/resolution", "sla/cn-desk/response"]
    # 50 % = 8h: 3h after Wed 10:00 -> 10-12, 13:00 + 1h = Wed 14:00. 75 % = 12h: 7h -> Wed
    # 18:00. 90 % = 14h24m: 9h24m -> Wed 7h, Thu 09:00 + 2h24m = 11:24. Breach Thu 14:00.
    # All noticed by the tick on Fri 11-13 12:00.
    noticed = iso("2026-11-13 12:00")
    assert thresholds(engine, number, key) == [
        (50, iso("2026-11-11 14:00"), noticed),
        (75, iso("2026-11-11 18:00"), noticed),
        (90, iso("2026-11-12 11:24"), noticed),
        (100, iso("2026-11-12 14:00"), noticed),
    ]


def test_reopen_with_new_cycle_starts_a_second_resolution_clock_from_zero(engine: Engine) -> None:
    engine.define_policy(desk_policy(on_reopen="new_cycle"), actor="sla-admin", at=POLICY_AT)
    number = _resolved_then_reopened(engine)
    first, second = "sla/cn-desk/resolution", "sla/cn-desk/resolution#2"
    # The first cycle stays met at 5h; the second starts Wed 10:00 with the full 16h:
    # Wed 7h, Thu 8h (15h), Fri 09:00 + 1h = Fri 10:00.
    assert verdicts(engine, number)[first] == ("ClockMet", us(5 * H))
    assert started(engine, number)[second] == iso("2026-11-13 10:00")
    assert not any(e == "ClockResumed" for e, _, _ in clock_log(engine, number))
    # 50 % = 8h -> Wed 7h, Thu 09:00 + 1h = 10:00. 75 % = 12h -> Thu 09-12 (10h), 13:00 + 2h =
    # 15:00. 90 % = 14h24m -> Thu 13:00 + 4h24m = 17:24. Breach Fri 10:00.
    noticed = iso("2026-11-13 12:00")
    assert thresholds(engine, number, second) == [
        (50, iso("2026-11-12 10:00"), noticed),
        (75, iso("2026-11-12 15:00"), noticed),
        (90, iso("2026-11-12 17:24"), noticed),
        (100, iso("2026-11-13 10:00"), noticed),
    ]
    assert thresholds(engine, number, first) == []
    clocks = status(engine, number, cst("2026-11-13 12:00"))
    assert (clocks[first].state, clocks[second].state) == ("met", "running")
    # Wed 7h + Thu 8h + Fri 09-12 (3h) = 18h: 2h over the 16h target.
    assert clocks[second].elapsed == 18 * H and clocks[second].breached


# -- priority change ------------------------------------------------------------------------


def _reprioritised(engine: Engine) -> str:
    number = engine.open_incident(
        "Intranet search slow", impact="low", urgency="low", actor="desk",
        at=cst("2026-11-10 09:00"),
    ).number  # fmt: skip  # P4: resolution 32h, due Fri 11-13 18:00 (Tue..Fri, 8h each)
    engine.acknowledge(number, actor="li.wei", at=cst("2026-11-10 09:30"))
    # Wed 11:00: Tue 8h + Wed 09-11 (2h) = 10h used. Now P3 (16h).
    engine.change_priority(
        number, "medium", "medium", "whole floor affected", actor="li.wei",
        at=cst("2026-11-11 11:00"),
    )  # fmt: skip
    return number


def test_priority_change_retroactive_recomputes_the_target_from_the_original_start(
    engine: Engine,
) -> None:
    engine.define_policy(
        desk_policy(on_priority_change="retroactive"), actor="sla-admin", at=POLICY_AT
    )
    number = _reprioritised(engine)
    key = "sla/cn-desk/resolution"
    assert started(engine, number)[key] == iso("2026-11-13 18:00")
    changed = [d for e, d, _ in clock_log(engine, number) if e == "TargetChanged"]
    # 16h target, 10h used, 6h left: Wed 11-12 (1h), 13:00 + 5h = Wed 18:00.
    assert [(d["clock"], d["target_us"], d["used_us"], d["due"]) for d in changed] == [
        (key, us(16 * H), us(10 * H), iso("2026-11-11 18:00"))
    ]
    # 50 % (8h) had already passed under the new target, so it is reached at the change itself;
    # a tick at that very instant records it on time. 75 % = 12h -> 2h after 11:00 = 14:00;
    # 90 % = 14h24m -> 4h24m = 16:24. The target runs out at 18:00, closing time: no business
    # time passes until Thu 09:00, so the breach happens (and is recorded) at Thu 09:00.
    assert engine.tick(cst("2026-11-11 11:00")) == 1
    assert engine.tick(cst("2026-11-11 18:00:30")) == 2
    assert engine.tick(cst("2026-11-12 08:59:59")) == 0
    assert engine.tick(cst("2026-11-12 09:00:30")) == 1
    late = iso("2026-11-11 18:00:30")
    assert thresholds(engine, number, key) == [
        (50, iso("2026-11-11 11:00"), None),
        (75, iso("2026-11-11 14:00"), late),
        (90, iso("2026-11-11 16:24"), late),
        (100, iso("2026-11-12 09:00"), iso("2026-11-12 09:00:30")),
    ]
    clock = status(engine, number, cst("2026-11-11 17:00"))[key]
    assert (clock.target, clock.elapsed, clock.due) == (16 * H, 15 * H, cst("2026-11-11 18:00"))


def test_priority_change_from_change_starts_a_new_cycle_at_the_change(engine: Engine) -> None:
    engine.define_policy(
        desk_policy(on_priority_change="from_change"), actor="sla-admin", at=POLICY_AT
    )
    number = _reprioritised(engine)
    old, new = "sla/cn-desk/resolution", "sla/cn-desk/resolution#2"
    assert verdicts(engine, number)[old] == ("ClockCancelled", us(10 * H))
    # 16h from Wed 11:00: Wed 11-12 and 13-18 (6h), Thu 8h (14h), Fri 09:00 + 2h = 11:00.
    assert started(engine, number)[new] == iso("2026-11-13 11:00")
    # The response clock had already been met and is left alone.
    assert verdicts(engine, number)["sla/cn-desk/response"] == ("ClockMet", us(30 * M))
    clock = status(engine, number, cst("2026-11-12 18:00"))[new]
    assert (clock.elapsed, clock.remaining, clock.due) == (14 * H, 2 * H, cst("2026-11-13 11:00"))


def test_priority_change_from_change_while_on_hold_starts_the_new_cycle_paused(
    engine: Engine,
) -> None:
    engine.define_policy(
        desk_policy(on_priority_change="from_change"), actor="sla-admin", at=POLICY_AT
    )
    number = engine.open_incident(
        "Intranet search slow", impact="low", urgency="low", actor="desk",
        at=cst("2026-11-10 09:00"),
    ).number  # fmt: skip
    engine.acknowledge(number, actor="li.wei", at=cst("2026-11-10 09:30"))
    engine.hold(number, "awaiting_customer", actor="li.wei", at=cst("2026-11-10 10:00"))
    engine.change_priority(
        number, "medium", "medium", "more users", actor="li.wei", at=cst("2026-11-10 11:00")
    )
    engine.resume(number, actor="li.wei", at=cst("2026-11-11 09:00"))
    new = "sla/cn-desk/resolution#2"
    # Still awaiting the customer, so the new 16h clock does not run until the resume on
    # Wed 09:00: Wed 8h, Thu 8h -> Thu 18:00.
    assert [d["due"] for e, d, _ in clock_log(engine, number) if e == "ClockResumed"] == [
        iso("2026-11-12 18:00")
    ]
    clock = status(engine, number, cst("2026-11-10 17:00"))[new]
    assert (clock.state, clock.elapsed) == ("paused", timedelta(0))


# -- OLA per group, underpinning contract per vendor ----------------------------------------

DESK_OLA: dict[str, Any] = {
    "name": "desk-ola",
    "agreement": "ola",
    "groups": ["service-desk", "network"],
    "calendars": {"shanghai-office": SHANGHAI_OFFICE},
    "targets": {
        "P2": {"calendar": "shanghai-office", "response_minutes": 30, "resolution_minutes": 240}
    },
}
ACME_UC: dict[str, Any] = {
    "name": "acme-uc",
    "agreement": "uc",
    "vendors": ["acme"],
    "calendars": {"shanghai-office": SHANGHAI_OFFICE},
    "targets": {
        "P2": {"calendar": "shanghai-office", "response_minutes": 60, "resolution_minutes": 120}
    },
}


def test_ola_clocks_follow_the_group_and_uc_clocks_run_while_awaiting_the_vendor(
    desk: Engine,
) -> None:
    desk.define_policy(DESK_OLA, actor="sla-admin", at=POLICY_AT)
    desk.define_policy(ACME_UC, actor="sla-admin", at=POLICY_AT)
    n = desk.open_incident(
        "Core switch flapping", impact="high", urgency="medium", actor="desk",
        at=cst("2026-11-10 09:00"),
    ).number  # fmt: skip
    desk.assign(n, "service-desk", actor="desk", at=cst("2026-11-10 09:00"))
    desk.acknowledge(n, actor="li.wei", at=cst("2026-11-10 09:20"))
    desk.escalate(n, "functional", "network", actor="li.wei", at=cst("2026-11-10 10:00"))
    desk.acknowledge(n, actor="wang.fang", at=cst("2026-11-10 10:10"))
    desk.hold(n, "awaiting_vendor", vendor="acme", actor="wang.fang", at=cst("2026-11-10 11:00"))
    desk.resume(n, actor="wang.fang", at=cst("2026-11-10 14:00"))
    desk.assign(n, "service-desk", "li.wei", actor="wang.fang", at=cst("2026-11-10 15:00"))
    desk.resolve(n, code="fixed", actor="li.wei", at=cst("2026-11-10 16:00"))

    sd, net = "ola/desk-ola/service-desk", "ola/desk-ola/network"
    assert started(desk, n) == {
        "sla/cn-desk/response": iso("2026-11-10 10:00"),
        # 44h from Tue 09:00: Tue..Fri (32h), Mon 11-16 (40h), Tue 11-17 09-12, 13:00 + 1h.
        "sla/cn-desk/resolution": iso("2026-11-17 14:00"),
        f"{sd}/response": iso("2026-11-10 09:30"),
        # 4h from 09:00: 09-12, 13:00 + 1h.
        f"{sd}/resolution": iso("2026-11-10 14:00"),
        f"{net}/response": iso("2026-11-10 10:30"),
        # 4h from 10:00: 10-12, 13:00 + 2h.
        f"{net}/resolution": iso("2026-11-10 15:00"),
        # UC from the hold at 11:00: response 1h -> 12:00 (the close of the morning);
        # resolution 2h -> 11-12, 13:00 + 1h = 14:00.
        "uc/acme-uc/acme/response": iso("2026-11-10 12:00"),
        "uc/acme-uc/acme/resolution": iso("2026-11-10 14:00"),
        # Back with the service desk at 15:00: a second cycle. response 30 min; resolution
        # 4h -> 15-18 (3h), Wed 09:00 + 1h = 10:00.
        f"{sd}/response#2": iso("2026-11-10 15:30"),
        f"{sd}/resolution#2": iso("2026-11-11 10:00"),
    }
    log = clock_log(desk, n)
    # Awaiting the vendor pauses the customer SLA and the network OLA, not the UC clocks.
    assert [(d["clock"], d["used_us"]) for e, d, _ in log if e == "ClockPaused"] == [
        ("sla/cn-desk/resolution", us(2 * H)),
        (f"{net}/resolution", us(1 * H)),
    ]
    # Resumed at 14:00. SLA: 42h left -> Tue 14-18 (4h) ... Tue 11-17 13:00 + 3h = 16:00, i.e.
    # the first due moved by the 2h of business time on hold (11-12, 13-14). OLA network:
    # 3h left -> 17:00.
    assert [(d["clock"], d["due"]) for e, d, _ in log if e == "ClockResumed"] == [
        ("sla/cn-desk/resolution", iso("2026-11-17 16:00")),
        (f"{net}/resolution", iso("2026-11-10 17:00")),
    ]
    # UC response ran out at 12:00, the start of the lunch break, so it breached when work
    # resumed at 13:00, noticed at the resume; UC resolution reached exactly its 2h at 14:00,
    # which is met (a breach needs the target exceeded).
    assert thresholds(desk, n, "uc/acme-uc/acme/response")[-1] == (
        100,
        iso("2026-11-10 13:00"),
        iso("2026-11-10 14:00"),
    )
    assert verdicts(desk, n) == {
        "sla/cn-desk/response": ("ClockMet", us(20 * M)),
        f"{sd}/response": ("ClockMet", us(20 * M)),
        f"{sd}/resolution": ("ClockMet", us(1 * H)),  # left at 10:00
        f"{net}/response": ("ClockMet", us(10 * M)),
        "uc/acme-uc/acme/response": ("ClockStopped", us(2 * H)),
        "uc/acme-uc/acme/resolution": ("ClockMet", us(2 * H)),
        # 10-11 and 14-15
        f"{net}/resolution": ("ClockMet", us(2 * H)),
        # 09-11 and 14-16 (the hold paused it)
        "sla/cn-desk/resolution": ("ClockMet", us(4 * H)),
        # 15:00-16:00 of a 30 min target: breached at 15:30, noticed at the resolve
        f"{sd}/response#2": ("ClockStopped", us(1 * H)),
        f"{sd}/resolution#2": ("ClockMet", us(1 * H)),
    }
    assert thresholds(desk, n, f"{sd}/response#2")[-1] == (
        100,
        iso("2026-11-10 15:30"),
        iso("2026-11-10 16:00"),
    )
    # The auditor's timeline shows what moved the OLA clocks from group to group.
    lines = desk.sla_explain(n)
    handover = lines.index(f"{iso('2026-11-10 10:00')}  {n} EscalatedFunctionally by li.wei")
    assert lines[handover + 1 : handover + 4] == [
        f"{iso('2026-11-10 10:00')}    {sd}/resolution: met, 01:00:00 used of 04:00:00 "
        "(margin 03:00:00)",
        f"{iso('2026-11-10 10:00')}    {net}/response: started under desk-ola v1, target "
        f"00:30:00 business time on calendar 'shanghai-office' (Asia/Shanghai), "
        f"due {iso('2026-11-10 10:30')}",
        f"{iso('2026-11-10 10:00')}    {net}/resolution: started under desk-ola v1, target "
        f"04:00:00 business time on calendar 'shanghai-office' (Asia/Shanghai), "
        f"due {iso('2026-11-10 15:00')}",
    ]


def test_an_ola_named_like_a_group_still_stops_when_the_ticket_leaves_the_other_group(
    desk: Engine,
) -> None:
    desk.define_policy({**DESK_OLA, "name": "network"}, actor="sla-admin", at=POLICY_AT)
    n = desk.open_incident(
        "DNS resolution slow", impact="high", urgency="medium", actor="desk",
        at=cst("2026-11-10 09:00"),
    ).number  # fmt: skip
    desk.assign(n, "service-desk", actor="desk", at=cst("2026-11-10 09:00"))
    desk.assign(n, "network", actor="desk", at=cst("2026-11-10 09:30"))
    clocks = status(desk, n, cst("2026-11-10 10:00"))
    assert clocks["ola/network/service-desk/resolution"].state == "met"
    assert clocks["ola/network/service-desk/resolution"].elapsed == 30 * M
    assert clocks["ola/network/network/resolution"].state == "running"


def test_an_ola_with_only_a_response_target_keeps_each_cycle(desk: Engine) -> None:
    ola = {
        **DESK_OLA,
        "name": "pickup",
        "targets": {"P2": {"calendar": "shanghai-office", "response_minutes": 30}},
    }
    desk.define_policy(ola, actor="sla-admin", at=POLICY_AT)
    n = desk.open_incident(
        "Wi-Fi drops", impact="high", urgency="medium", actor="desk", at=cst("2026-11-10 09:00")
    ).number
    desk.assign(n, "service-desk", actor="desk", at=cst("2026-11-10 09:00"))
    desk.acknowledge(n, actor="li.wei", at=cst("2026-11-10 09:10"))
    desk.escalate(n, "functional", "network", actor="li.wei", at=cst("2026-11-10 09:20"))
    desk.assign(n, "service-desk", "li.wei", actor="wang.fang", at=cst("2026-11-10 09:30"))
    clocks = status(desk, n, cst("2026-11-10 09:40"))
    # Each stay with a group is a cycle of its own: 09:00-09:10 (met by the acknowledgement),
    # the network's 09:20-09:30 (met when the ticket left), and the desk again from 09:30.
    assert {k: (s.state, s.elapsed) for k, s in clocks.items() if k.startswith("ola/")} == {
        "ola/pickup/service-desk/response": ("met", 10 * M),
        "ola/pickup/network/response": ("met", 10 * M),
        "ola/pickup/service-desk/response#2": ("running", 10 * M),
    }


# -- P1 update interval ---------------------------------------------------------------------


def test_p1_update_clock_restarts_on_each_public_agent_comment(desk: Engine) -> None:
    n = desk.open_incident(
        "Payments down", impact="high", urgency="high", actor="desk", reporter="zhang.min",
        at=cst("2026-11-10 10:00"),
    ).number  # fmt: skip
    upd = "sla/cn-desk/update"
    # 24x7: response 15 -> 10:15, resolution 4h -> 14:00, update 30 -> 10:30.
    assert started(desk, n) == {
        "sla/cn-desk/response": iso("2026-11-10 10:15"),
        "sla/cn-desk/resolution": iso("2026-11-10 14:00"),
        upd: iso("2026-11-10 10:30"),
    }
    desk.acknowledge(n, actor="li.wei", at=cst("2026-11-10 10:05"))
    desk.comment(n, "Investigating", actor="li.wei", at=cst("2026-11-10 10:20"))
    desk.comment(n, "checked the LB", public=False, actor="li.wei", at=cst("2026-11-10 10:25"))
    desk.comment(n, "Any news?", actor="zhang.min", at=cst("2026-11-10 10:40"))  # the reporter
    assert desk.tick(cst("2026-11-10 11:00")) == 3
    desk.comment(n, "Failover in progress", actor="li.wei", at=cst("2026-11-10 11:05"))

    # First cycle: 20 min used at the agent's comment, met; its 50 % (10:15) was noticed then.
    # The second cycle started 10:20, due 10:50; neither the work note nor the reporter's own
    # comment restarted it. 50 % -> 10:35 (noticed by the reporter's comment at 10:40),
    # 75 % -> 10:42:30, 90 % -> 10:47, breach 10:50 (noticed by the tick at 11:00).
    assert started(desk, n)[f"{upd}#2"] == iso("2026-11-10 10:50")
    assert thresholds(desk, n, f"{upd}#2") == [
        (50, iso("2026-11-10 10:35"), iso("2026-11-10 10:40")),
        (75, iso("2026-11-10 10:42:30"), iso("2026-11-10 11:00")),
        (90, iso("2026-11-10 10:47"), iso("2026-11-10 11:00")),
        (100, iso("2026-11-10 10:50"), iso("2026-11-10 11:00")),
    ]
    # The third cycle starts at the next agent comment, 11:05, due 11:35.
    assert started(desk, n)[f"{upd}#3"] == iso("2026-11-10 11:35")
    assert verdicts(desk, n) == {
        "sla/cn-desk/response": ("ClockMet", us(5 * M)),
        upd: ("ClockMet", us(20 * M)),
        f"{upd}#2": ("ClockStopped", us(45 * M)),
    }
    running = status(desk, n, cst("2026-11-10 11:06"))
    assert [k for k, s in running.items() if s.state == "running"] == [
        "sla/cn-desk/resolution",
        f"{upd}#3",
    ]


def test_p1_update_clock_restarted_while_awaiting_the_customer_waits_for_the_resume(
    desk: Engine,
) -> None:
    n = desk.open_incident(
        "Payments down", impact="high", urgency="high", actor="desk", reporter="zhang.min",
        at=cst("2026-11-10 10:00"),
    ).number  # fmt: skip
    upd = "sla/cn-desk/update"
    desk.acknowledge(n, actor="li.wei", at=cst("2026-11-10 10:05"))
    desk.hold(n, "awaiting_customer", actor="li.wei", at=cst("2026-11-10 10:10"))
    desk.comment(n, "Please confirm the card BIN", actor="li.wei", at=cst("2026-11-10 10:20"))
    desk.resume(n, actor="li.wei", at=cst("2026-11-10 10:50"))
    # The first cycle was paused at 10:10 with 10 min used and met by the comment. The second
    # starts at 10:20 but the ticket still awaits the customer: it runs from the resume at
    # 10:50 with its full 30 min, due 11:20. Resolution: 10 min used at the hold, 3h50 left
    # from 10:50 -> 14:40.
    assert verdicts(desk, n)[upd] == ("ClockMet", us(10 * M))
    assert [(d["clock"], d["due"]) for e, d, _ in clock_log(desk, n) if e == "ClockResumed"] == [
        ("sla/cn-desk/resolution", iso("2026-11-10 14:40")),
        (f"{upd}#2", iso("2026-11-10 11:20")),
    ]
    assert status(desk, n, cst("2026-11-10 10:49"))[f"{upd}#2"].state == "paused"


def test_reopen_does_not_revive_a_clock_cancelled_by_a_priority_without_targets(
    engine: Engine,
) -> None:
    targets = {p: t for p, t in desk_policy()["targets"].items() if p != "P4"}
    engine.define_policy(desk_policy(targets=targets), actor="sla-admin", at=POLICY_AT)
    n = engine.open_incident(
        "Typo on the intranet", actor="desk", at=cst("2026-11-10 09:00")
    ).number
    engine.acknowledge(n, actor="li.wei", at=cst("2026-11-10 09:10"))
    # P3 -> P4, which this policy does not cover: the resolution clock is cancelled.
    engine.change_priority(n, "low", "low", "cosmetic", actor="li.wei", at=cst("2026-11-10 10:00"))
    engine.resolve(n, code="fixed", actor="li.wei", at=cst("2026-11-10 11:00"))
    engine.reopen(n, reason="another typo", actor="zhang.min", at=cst("2026-11-10 12:00"))
    clocks = status(engine, n, cst("2026-11-11 12:00"))
    assert {k: s.state for k, s in clocks.items()} == {
        "sla/cn-desk/response": "met",
        "sla/cn-desk/resolution": "cancelled",
    }
