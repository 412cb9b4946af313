"""Inhibition: an alert that makes others redundant, e.g. a hold-up in progress at a site
mutes the verified alarm of that same site."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from schemas.alerts import AlertKind

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    import asyncpg

    from consumers.notify.admin import Database
    from heterdaad.thresholds.notify import NotifyThresholds


@dataclass(frozen=True)
class InhibitRule:
    """Sources mute targets whose `equal` labels have the same, non-empty, values."""

    source_kinds: frozenset[AlertKind]
    target_kinds: frozenset[AlertKind]
    equal: tuple[str, ...]


INHIBIT_RULES: tuple[InhibitRule, ...] = (
    # The hold-up is the news; the alarm of the same site adds nothing but a second ring.
    InhibitRule(
        source_kinds=frozenset({AlertKind.HOLD_UP_IN_PROGRESS}),
        target_kinds=frozenset({AlertKind.VERIFIED_ALARM}),
        equal=("site_id",),
    ),
)


@dataclass(frozen=True)
class Inhibitor:
    """An alert that may mute others (table notify_inhibitor)."""

    dedup_key: str
    labels: Mapping[str, str]
    created_at: datetime


def source_kinds(rules: Iterable[InhibitRule] = INHIBIT_RULES) -> frozenset[AlertKind]:
    return frozenset(kind for rule in rules for kind in rule.source_kinds)


def target_kinds(rules: Iterable[InhibitRule] = INHIBIT_RULES) -> frozenset[AlertKind]:
    return frozenset(kind for rule in rules for kind in rule.target_kinds)


def inhibitor_of(
    labels: Mapping[str, str],
    created_at: datetime,
    sources: Iterable[Inhibitor],
    thresholds: NotifyThresholds,
    rules: Iterable[InhibitRule] = INHIBIT_RULES,
) -> Inhibitor | None:
    """The alert that mutes this one, if any.

    Unlike Alertmanager, an absent label does not count as equal: two alerts without a site
    are not the same site.
    """
    before = timedelta(seconds=thresholds.inhibit_before_seconds)
    after = timedelta(seconds=thresholds.inhibit_after_seconds)
    candidates = sorted(sources, key=lambda source: (source.created_at, source.dedup_key))
    for rule in rules:
        if labels.get("kind") not in rule.target_kinds:
            continue
        for source in candidates:
            if source.dedup_key == labels.get("dedup_key"):
                continue
            if source.labels.get("kind") not in rule.source_kinds:
                continue
            if not all(labels.get(name) and labels.get(name) == source.labels.get(name)
                       for name in rule.equal):  # fmt: skip
                continue
            if source.created_at - before <= created_at <= source.created_at + after:
                return source
    return None


async def remember(
    connection: asyncpg.Connection, dedup_key: str, labels: Mapping[str, str], created_at: datetime
) -> None:
    """Keep an alert that may inhibit others, for the deliveries that come due after it."""
    await connection.execute(
        "INSERT INTO notify_inhibitor (dedup_key, kind, labels, created_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (dedup_key) DO NOTHING",
        dedup_key, labels["kind"], json.dumps(dict(labels)), created_at,
    )  # fmt: skip


async def load_sources(
    db: Database,
    kinds: Iterable[AlertKind],
    created_between: tuple[datetime, datetime],
    thresholds: NotifyThresholds,
) -> list[Inhibitor]:
    """Inhibiting alerts that could mute targets created in the given span."""
    earliest, latest = created_between
    rows = await db.fetch(
        "SELECT dedup_key, labels, created_at FROM notify_inhibitor "
        "WHERE kind = ANY($1) AND created_at BETWEEN $2 AND $3",
        sorted(kind.value for kind in kinds),
        earliest - timedelta(seconds=thresholds.inhibit_after_seconds),
        latest + timedelta(seconds=thresholds.inhibit_before_seconds),
    )  # fmt: skip
    return [
        Inhibitor(row["dedup_key"], json.loads(row["labels"]), row["created_at"]) for row in rows
    ]


async def forget_before(db: Database, moment: datetime) -> None:
    await db.execute("DELETE FROM notify_inhibitor WHERE created_at < $1", moment)
