"""Retry with exponential backoff, written once for every adapter that talks to a flaky peer.

Delays are deterministic (no jitter) and ``sleep`` is injected, so tests can check the exact
waits without waiting. SMTP retries 4xx replies with it; the JIRA adapter retries 429/5xx and
passes ``retry_after`` to honour the server's hint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from opsledger.core.domain.errors import InputError

log = logging.getLogger(__name__)

T = TypeVar("T")


def backoff_delays(attempts: int, base_delay: float, max_delay: float) -> list[float]:
    """The waits between ``attempts`` tries: ``base_delay * 2**k`` capped at ``max_delay``."""
    _check(attempts, base_delay, max_delay)
    return [min(max_delay, base_delay * 2**k) for k in range(attempts - 1)]


def retry_with_backoff(
    fn: Callable[[], T],
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    attempts: int,
    base_delay: float,
    max_delay: float,
    sleep: Callable[[float], None] = time.sleep,
    retry_after: Callable[[BaseException], float | None] | None = None,
) -> T:
    """``fn()``'s result, calling it up to ``attempts`` times while it raises ``retry_on``.

    Any other exception propagates at once; after the last attempt the last error is raised.
    ``retry_after(error)`` may return the peer's own hint in seconds (HTTP Retry-After): the
    wait is then the larger of the hint and the backoff, still capped at ``max_delay`` so a
    peer cannot park a worker for an hour.
    """
    delays = backoff_delays(attempts, base_delay, max_delay)
    for attempt, delay in enumerate([*delays, None], start=1):
        try:
            return fn()
        except retry_on as error:
            if delay is None:
                raise
            hint = retry_after(error) if retry_after is not None else None
            wait = delay if hint is None else min(max_delay, max(delay, hint))
            log.warning(
                "attempt %d of %d failed (%s); retrying in %.3g s",
                attempt,
                attempts,
                type(error).__name__,
                wait,
                extra={"attempt": attempt, "attempts": attempts, "delay_s": wait},
            )
            sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


def _check(attempts: int, base_delay: float, max_delay: float) -> None:
    if attempts < 1:
        raise InputError("attempts", f"must be at least 1, got {attempts}")
    if base_delay < 0:
        raise InputError("base_delay", f"must not be negative, got {base_delay}")
    if max_delay < base_delay:
        raise InputError("max_delay", f"must be at least base_delay {base_delay}, got {max_delay}")
