"""retry_with_backoff: which errors are retried, how long it waits, and what it finally raises."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opsledger.core.domain.errors import InputError
from opsledger.core.retry import backoff_delays, retry_with_backoff


class Flaky(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


def failing(times: int, error: Callable[[], Exception] = Flaky) -> Callable[[], str]:
    """A call that raises ``error()`` ``times`` times, then returns "done"."""
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error()
        return "done"

    return call


def test_delays_double_from_base_up_to_the_cap() -> None:
    # 0.5, 1, 2, 4, 8 -> capped at 5
    assert backoff_delays(6, base_delay=0.5, max_delay=5) == [0.5, 1, 2, 4, 5]


def test_succeeds_after_transient_failures_with_the_backoff_waits() -> None:
    waits: list[float] = []
    result = retry_with_backoff(
        failing(2), retry_on=Flaky, attempts=3, base_delay=1, max_delay=10, sleep=waits.append
    )
    assert (result, waits) == ("done", [1, 2])


def test_last_error_is_raised_after_the_last_attempt() -> None:
    waits: list[float] = []
    with pytest.raises(Flaky):
        retry_with_backoff(
            failing(3), retry_on=Flaky, attempts=3, base_delay=1, max_delay=10, sleep=waits.append
        )
    assert waits == [1, 2]


def test_other_errors_propagate_without_retry() -> None:
    waits: list[float] = []
    with pytest.raises(KeyError):
        retry_with_backoff(
            failing(1, KeyError),
            retry_on=Flaky,
            attempts=5,
            base_delay=1,
            max_delay=10,
            sleep=waits.append,
        )
    assert waits == []


def test_retry_after_hint_wins_when_longer_and_stays_capped() -> None:
    hints = iter([7.0, 0.1, 60.0])
    waits: list[float] = []
    result = retry_with_backoff(
        failing(3, lambda: Flaky(next(hints))),
        retry_on=Flaky,
        attempts=4,
        base_delay=1,
        max_delay=30,
        sleep=waits.append,
        retry_after=lambda e: e.retry_after if isinstance(e, Flaky) else None,
    )
    # backoff 1, 2, 4; hints 7 (longer: wins), 0.1 (shorter: backoff 2), 60 (capped at 30)
    assert (result, waits) == ("done", [7.0, 2, 30])


def test_one_attempt_never_sleeps() -> None:
    waits: list[float] = []
    with pytest.raises(Flaky):
        retry_with_backoff(
            failing(1), retry_on=Flaky, attempts=1, base_delay=1, max_delay=1, sleep=waits.append
        )
    assert waits == []


@pytest.mark.parametrize(
    ("attempts", "base_delay", "max_delay", "field_name"),
    [(0, 1.0, 1.0, "attempts"), (3, -1.0, 1.0, "base_delay"), (3, 2.0, 1.0, "max_delay")],
)
def test_bad_arguments_name_the_field(
    attempts: int, base_delay: float, max_delay: float, field_name: str
) -> None:
    with pytest.raises(InputError) as bad:
        retry_with_backoff(
            lambda: None,
            retry_on=Flaky,
            attempts=attempts,
            base_delay=base_delay,
            max_delay=max_delay,
        )
    assert bad.value.field == field_name
