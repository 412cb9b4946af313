"""Delivery policy as pure decisions: what is retried, after how long, and the rate limit."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from consumers.notify.ratelimit import Bucket, take_token
from consumers.notify.retry import backoff_seconds, retryable
from heterdaad.thresholds.notify import NotifyThresholds

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
THRESHOLDS = NotifyThresholds(retry_base_seconds=1, retry_max_seconds=60)


class _Extreme(random.Random):
    """A random source that always draws the lowest (or the highest) value."""

    def __init__(self, highest: bool) -> None:
        super().__init__()
        self.highest = highest

    def uniform(self, a: float, b: float) -> float:
        return b if self.highest else a


@pytest.mark.parametrize(
    ("attempt", "retry_after", "shortest", "longest"),
    [
        # After the first failure: between half of the base and the base.
        (1, None, 0.5, 1),
        # Doubling per attempt.
        (3, None, 2, 4),
        # Capped at retry_max_seconds.
        (10, None, 30, 60),
        # A Retry-After longer than the backoff is honoured...
        (1, 20.0, 20, 20),
        # ... up to the cap.
        (1, 3600.0, 60, 60),
    ],
)
def test_backoff(attempt: int, retry_after: float | None, shortest: float, longest: float) -> None:
    low = backoff_seconds(attempt, THRESHOLDS, retry_after=retry_after, rng=_Extreme(False))
    high = backoff_seconds(attempt, THRESHOLDS, retry_after=retry_after, rng=_Extreme(True))
    assert (low, high) == (shortest, longest)


@pytest.mark.parametrize(
    ("status_code", "again"),
    [
        # No answer at all (refused, timed out): try again.
        (None, True),
        # The receiver's own trouble.
        (500, True),
        # The receiver is (briefly) unavailable.
        (503, True),
        # Asked to slow down.
        (429, True),
        # The receiver gave up waiting for the request.
        (408, True),
        # The request is wrong: more of it will not help.
        (400, False),
        # A bad signature (wrong secret): retrying the same signature will not help either.
        (401, False),
        # No such hook.
        (404, False),
        # A redirect is not followed: the subscription should name the final URL.
        (301, False),
    ],
)
def test_retryable(status_code: int | None, again: bool) -> None:
    assert retryable(status_code) is again


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("bucket", "now", "wait", "tokens_after"),
    [
        # A full bucket: go, one token fewer.
        (Bucket(3, at(0)), at(0), 0.0, 2),
        # The last token.
        (Bucket(1, at(0)), at(0), 0.0, 0),
        # Empty: wait one refill period (1 token a second here).
        (Bucket(0, at(0)), at(0), 1.0, 0),
        # Half refilled: wait the other half.
        (Bucket(0, at(0)), at(0.5), 0.5, 0.5),
        # Refilled after a while, but never beyond the burst.
        (Bucket(0, at(0)), at(100), 0.0, 2),
        # A clock that went back takes no tokens away.
        (Bucket(2, at(10)), at(5), 0.0, 1),
    ],
)
def test_take_token(bucket: Bucket, now: datetime, wait: float, tokens_after: float) -> None:
    waited, after = take_token(bucket, now, rate_per_second=1.0, burst=3)
    assert (waited, after.tokens) == pytest.approx((wait, tokens_after))
    assert after.refilled_at == max(now, bucket.refilled_at)
