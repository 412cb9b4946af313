"""The analysts' judgements of a pattern (issue 15 item 5): police confirm or reject a series,
a reconnaissance pattern or a hotspot on the desk, and whether a robbery linked back to
reconnaissance was preceded by it. Stored and audited together; what a model fit learns from
(`judgement` table; docs/desk.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from consumers.desk.audit import DeskAction, write_audit
from consumers.judged import JudgedKind
from heterdaad.db import transaction
from schemas.alerts import AlertKind

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    import asyncpg

    from consumers.desk.alerts import AlertCard
    from consumers.desk.users import DeskUser
    from schemas.alerts import Alert

JUDGED_KINDS = frozenset({AlertKind.SERIES, AlertKind.RECONNAISSANCE_WARNING, AlertKind.HOTSPOT})
# The dedup key of a robbery linked back to reconnaissance, published as a reconnaissance
# warning update: recon-link:<robbery id>:<n> (docs/reconnaissance.md, "Robberies linked back").
RECON_LINK = "recon-link"


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    judged_by: str
    judged_at: datetime
    # Given on another alert of the same pattern (a series' earlier size, a warning's earlier
    # count): that alert's id, so the page can say so and link to it; None for this alert.
    other_alert: UUID | None = None


@dataclass(frozen=True)
class Judged:
    """What a judgement is of: its kind and the pattern, or the link, the alert names."""

    kind: JudgedKind
    pattern: str


def pattern_of(card: AlertCard) -> Judged | None:
    """What is judged: the series, the reconnaissance pattern, the robbery linked back to
    reconnaissance or the hotspot the alert names; None when the alert names none of these."""
    alert = card.alert
    if card.kind not in JUDGED_KINDS or alert is None:
        return None
    if card.kind is AlertKind.SERIES:
        return None if alert.series_id is None else Judged(JudgedKind.SERIES, alert.series_id)
    if card.kind is AlertKind.HOTSPOT:
        return None if alert.hotspot_id is None else Judged(JudgedKind.HOTSPOT, alert.hotspot_id)
    parts = alert.dedup_key.split(":")
    if parts[0] == RECON_LINK and len(parts) > 1:
        # recon-link:<robbery>:<n>: the link of that robbery, whatever the count of sightings
        # linked when it was judged. Named with its prefix: a robbery's id is no pattern's.
        return Judged(JudgedKind.RECONNAISSANCE_LINK, f"{RECON_LINK}:{parts[1]}")
    # recon:<pattern>:<n>[+<nearby>]: the pattern, whatever the count it was warned at.
    pattern = parts[1] if len(parts) > 1 else alert.dedup_key
    return Judged(JudgedKind.RECONNAISSANCE_WARNING, pattern)


async def judge(
    pool: asyncpg.Pool, user: DeskUser, card: AlertCard, verdict: Verdict, now: datetime
) -> bool:
    """Store and audit one judgement; False when the alert is no pattern that can be judged."""
    judged = pattern_of(card)
    if judged is None or card.alert is None:
        return False
    # What the alert stated and rested on goes with the verdict: the check of stated against
    # confirmed (consumers/reliability.py) and the series fit outlive the payload that
    # retention purges (migration 0024).
    basis = card.alert.basis
    async with transaction(pool) as connection:
        await connection.execute(
            "INSERT INTO judgement (alert_id, kind, pattern, verdict, judged_by, judged_at, "
            "model_version, stated_probability, stated_recurrence_days, evidence) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)",
            card.alert_id, judged.kind.value, judged.pattern, verdict.value, user.username, now,
            basis.model_version if basis else None, basis.probability if basis else None,
            basis.recurrence_days if basis else None, kept_evidence(card.alert),
        )  # fmt: skip
        await write_audit(
            connection, at=now, actor=user.actor, action=DeskAction.ALERT_JUDGED,
            subject=str(card.alert_id), details={
                "kind": judged.kind.value, "pattern": judged.pattern, "verdict": verdict.value},
        )  # fmt: skip
    return True


def kept_evidence(alert: Alert) -> str | None:
    """A series alert's evidence with numbers alone, as JSON, to keep with its judgement.

    What the fit learns from (`heterdaad model fit`): per link the robbery and the one it was
    linked with, distance, gap, similarity per feature, each reason's contribution and numeric
    value. Descriptive values ("match", a getaway mode) are dropped, so what is kept says how
    alike two robberies were, not what anyone looked like, and may outlive the payload.
    """
    if alert.kind is not AlertKind.SERIES:
        return None
    links = [
        link.model_copy(update={"reasons": [
            reason if isinstance(reason.value, float | int) or reason.feature == "linked_with"
            else reason.model_copy(update={"value": None})
            for reason in link.reasons
        ]})
        for link in alert.evidence
    ]  # fmt: skip
    return json.dumps([link.model_dump(mode="json") for link in links])


async def judgements_of(pool: asyncpg.Pool, card: AlertCard) -> list[Judgement]:
    """The judgements of the pattern (or link) this alert names, of every alert of the unit that
    named it: a series rejected at three robberies is still rejected on the alert of its fourth,
    which has an id of its own. Only the unit's own alerts: another unit's verdicts are its own."""
    judged = pattern_of(card)
    if judged is None:
        rows = await pool.fetch(
            "SELECT verdict, judged_by, judged_at, alert_id FROM judgement WHERE alert_id = $1 "
            "ORDER BY judged_at, judgement_id",
            card.alert_id,
        )
    else:
        rows = await pool.fetch(
            "SELECT j.verdict, j.judged_by, j.judged_at, j.alert_id FROM judgement j "
            "JOIN alert a ON a.alert_id = j.alert_id "
            "WHERE j.kind = $1 AND j.pattern = $2 AND a.police_unit = $3 "
            "ORDER BY j.judged_at, j.judgement_id",
            judged.kind.value, judged.pattern, card.police_unit.value,
        )  # fmt: skip
    return [
        Judgement(
            Verdict(r["verdict"]), r["judged_by"], r["judged_at"],
            None if r["alert_id"] == card.alert_id else r["alert_id"],
        )
        for r in rows
    ]  # fmt: skip
