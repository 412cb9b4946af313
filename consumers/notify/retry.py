"""Retry policy: which outcomes are worth another attempt, and after how long."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from heterdaad.thresholds.notify import NotifyThresholds

# Asked to come back later (408, 425, 429) or the receiver's own trouble (5xx): try again.
# Any other 4xx says the request itself is wrong (bad secret, no such hook): more of the same
# request will not help, as in Alertmanager.
_RETRYABLE_4XX = {408, 425, 429}


def retryable(status_code: int | None) -> bool:
    """None stands for no answer at all: refused, reset, timed out."""
    return status_code is None or status_code >= 500 or status_code in _RETRYABLE_4XX


def backoff_seconds(
    attempt: int,
    thresholds: NotifyThresholds,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Wait after failed attempt number `attempt` (1 for the first): doubling, capped, jittered.

    Half of the wait is fixed and half random ("equal jitter"), so receivers that come back up
    are not hit by every sender at once, yet nobody retries at once. A Retry-After from the
    receiver is honoured up to the cap.
    """
    cap = thresholds.retry_max_seconds
    wait = min(cap, thresholds.retry_base_seconds * 2.0 ** max(0, attempt - 1))
    jitter: float = (rng or random).uniform(0, wait / 2)
    jittered = wait / 2 + jitter
    if retry_after is not None:
        jittered = max(jittered, min(cap, retry_after))
    return jittered
