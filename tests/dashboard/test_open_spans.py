"""The business hours a clock bar shades are exactly the calendar's working time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st
from opsledger.adapters.http.dashboard_clock import open_spans
from opsledger.core.domain.calendar import BusinessCalendar

CALENDARS = [
    BusinessCalendar.office_hours("Europe/Amsterdam", "NL", start=time(8), end=time(18)),
    BusinessCalendar.office_hours("Asia/Shanghai", "CN", lunch=(time(12), time(13))),
    BusinessCalendar.office_hours("America/New_York", start=time(0), end=time(0)),  # whole days
    BusinessCalendar.twenty_four_seven("UTC"),
]
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@given(
    calendar=st.sampled_from(CALENDARS),
    start=instants,
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)),
)
def test_open_spans_cover_exactly_the_working_time(
    calendar: BusinessCalendar, start: datetime, length: timedelta
) -> None:
    end = start + length
    spans = open_spans(calendar, start, end)
    assert sum((b - a for a, b in spans), timedelta(0)) == calendar.elapsed(start, end)
    for a, b in spans:
        assert start <= a < b <= end
        assert calendar.is_working(a) and calendar.is_working(b - timedelta(microseconds=1))
    for (_, b1), (a2, _) in itertools.pairwise(spans):
        assert b1 < a2  # ordered, and touching spans were merged into one
        assert not calendar.is_working(b1)


def test_whole_working_days_merge_into_one_span_per_week() -> None:
    # Monday to Friday 00:00-24:00 in New York: one span from Monday 00:00 to Saturday 00:00
    calendar = CALENDARS[2]
    monday = datetime(2024, 3, 4, 5, 0, tzinfo=UTC)  # 00:00 EST
    spans = open_spans(calendar, monday - timedelta(days=1), monday + timedelta(days=6))
    assert spans == [(monday, monday + timedelta(days=5))]
