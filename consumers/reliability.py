"""Whether the chances pattern alerts state hold: stated probability against the analysts'
judgements (`heterdaad model judged`).

Series and reconnaissance alerts state a probability, hotspots a recurrence interval
(`Alert.basis`); a robbery linked back to reconnaissance states the link itself, with no chance.
The analysts confirm or reject the pattern, or the link, on the desk (consumers/desk/
judgements.py). Grouped by kind, model version and band of what was stated, the share
confirmed says whether the statement holds where the system is used: a band whose confirmed
share lies well below what it states is a model that overstates, and a reason to calibrate
again (docs/desk.md).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scipy.stats import binomtest

from consumers.judged import JudgedKind

if TYPE_CHECKING:
    from collections.abc import Iterable

    import asyncpg

logger = logging.getLogger(__name__)

# Bands of stated probability: below even odds, likely, very likely, near certain.
PROBABILITY_BANDS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.95), (0.95, 1.0))
# Bands of a hotspot's recurrence interval (days until chance alone would give as many).
RECURRENCE_BANDS = ((0.0, 30.0), (30.0, 365.0), (365.0, math.inf))
CONFIDENCE = 0.95

# What each alert stated is kept with its judgement (migration 0024), so the check outlives the
# alert's payload; the newest verdict made in [since, until) stands for the alert.
_NEWEST_VERDICTS = """
SELECT DISTINCT ON (alert_id)
       kind, verdict, model_version, stated_probability, stated_recurrence_days
FROM judgement
WHERE judged_at >= $1 AND judged_at < $2
ORDER BY alert_id, judged_at DESC, judgement_id DESC
"""
NOTHING_STATED = "(none stated)"


@dataclass(frozen=True)
class JudgedAlert:
    """A pattern alert's newest verdict and what the alert stated."""

    kind: str
    model_version: str
    probability: float | None
    recurrence_days: float | None
    confirmed: bool


@dataclass(frozen=True)
class Band:
    """The judged alerts of one kind and model whose stated chance lay in [low, high)."""

    kind: str
    model_version: str
    # "probability", "recurrence_days", "link" (a robbery linked back to reconnaissance, no
    # chance stated), or "" when nothing was stated
    measure: str
    low: float
    high: float
    mean_stated: float | None  # the mean probability stated; None for recurrence bands
    judged: int
    confirmed: int

    @property
    def stated(self) -> str:
        if self.measure == "probability":
            return f"probability {self.low:.2f}-{self.high:.2f}"
        if self.measure == "recurrence_days":
            upper = "+" if math.isinf(self.high) else f"-{self.high:g}"
            return f"recurrence {self.low:g}{upper} days"
        if self.measure == "link":
            return "robbery linked back"
        return "nothing stated"

    @property
    def share(self) -> float:
        return self.confirmed / self.judged

    @property
    def interval(self) -> tuple[float, float]:
        """The confirmed share's 95 % Wilson interval: a handful of judgements is not a rate."""
        ci = binomtest(self.confirmed, self.judged).proportion_ci(CONFIDENCE, method="wilson")
        return float(ci.low), float(ci.high)

    @property
    def verdict(self) -> str:
        """ "overstates" when the mean probability stated lies above the confirmed share's
        interval, "understates" below it, else "" (the judgements do not contradict it)."""
        if self.mean_stated is None:
            return ""
        low, high = self.interval
        if self.mean_stated > high:
            return "overstates"
        return "understates" if self.mean_stated < low else ""


async def judged_alerts(
    connection: asyncpg.Connection, since: datetime | None = None, until: datetime | None = None
) -> list[JudgedAlert]:
    """Each judged alert's newest verdict made in [`since`, `until`), with what it stated."""
    since = since or datetime.min.replace(tzinfo=UTC)
    until = until or datetime.max.replace(tzinfo=UTC)
    return [
        JudgedAlert(
            kind=row["kind"],
            model_version=row["model_version"] or NOTHING_STATED,
            probability=row["stated_probability"],
            recurrence_days=row["stated_recurrence_days"],
            confirmed=row["verdict"] == "confirmed",
        )
        for row in await connection.fetch(_NEWEST_VERDICTS, since, until)
    ]


def bands(judged: Iterable[JudgedAlert]) -> list[Band]:
    """The judged alerts by kind, model version and band of stated chance, in that order."""
    grouped: dict[tuple[str, str, str, float, float], list[JudgedAlert]] = {}
    for alert in judged:
        key = (alert.kind, alert.model_version, *_band_of(alert))
        grouped.setdefault(key, []).append(alert)
    found = []
    for (kind, version, measure, low, high), alerts in sorted(grouped.items()):
        probabilities = [a.probability for a in alerts if a.probability is not None]
        found.append(Band(
            kind=kind, model_version=version, measure=measure, low=low, high=high,
            mean_stated=sum(probabilities) / len(probabilities) if probabilities else None,
            judged=len(alerts), confirmed=sum(a.confirmed for a in alerts),
        ))  # fmt: skip
    return found


def _band_of(alert: JudgedAlert) -> tuple[str, float, float]:
    if alert.probability is not None:
        # The last band holds its upper end: a probability of 1 is near certain.
        low, high = next(((low, high) for low, high in PROBABILITY_BANDS
                          if alert.probability < high), PROBABILITY_BANDS[-1])  # fmt: skip
        return "probability", low, high
    if alert.recurrence_days is not None:
        low, high = next((low, high) for low, high in RECURRENCE_BANDS
                         if alert.recurrence_days < high)  # fmt: skip
        return "recurrence_days", low, high
    if alert.kind == JudgedKind.RECONNAISSANCE_LINK:
        # What a link states is the link: the share confirmed is how often linking is right.
        return "link", 0.0, 0.0
    return "", 0.0, 0.0
