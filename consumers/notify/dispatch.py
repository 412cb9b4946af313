"""Dispatch: an alert and its routes become rows of the notification log, each with its time."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from consumers.alert_text import summary
from consumers.notify import inhibit, nflog
from consumers.notify.group import desk_due, load_group, save_group, schedule
from consumers.notify.labels import alert_labels, group_key
from consumers.notify.watch import watch_summary
from consumers.notify.windows import first_opening
from schemas.alerts import RecipientRole

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    import asyncpg

    from consumers.notify.group import GroupState
    from consumers.notify.labels import Labels
    from consumers.notify.route import Route
    from consumers.retention import Purge
    from heterdaad.thresholds.notify import NotifyThresholds
    from schemas.alerts import Alert

logger = logging.getLogger(__name__)

OUTSIDE_WINDOW = "outside time window"


async def dispatch(
    connection: asyncpg.Connection,
    alert: Alert,
    routes: Sequence[Route],
    thresholds: NotifyThresholds,
    now: datetime,
    reference_key: bytes,
    purge: Purge,
) -> int:
    """Write the alert's rows (in the caller's transaction); returns how many were new.

    A row that exists already (a replay, a rebalance) is left alone, and so is its group.
    `reference_key` keys the dedup key in the views of recipients other than the police.
    `purge` is the retention rule the sink and the desk store alerts by: an alert about what
    happened before the period is sent and logged as what may stay of it, to every recipient,
    the police included (docs/time.md, "Retention counts from event time").
    """
    alert = purge.applied(alert)
    labels = alert_labels(alert)
    if alert.kind in inhibit.source_kinds():
        await inhibit.remember(connection, alert.dedup_key, labels, alert.created_at)
    group = group_key(labels, thresholds.group_by)
    written = 0
    for route in routes:
        state: GroupState | None = None
        if route.channel == "desk":
            due = desk_due(now, thresholds)
        else:
            due, state = schedule(
                await load_group(connection, route.recipient, group), now, thresholds
            )
        delivery = _delivery(alert, labels, route, group, due, thresholds, reference_key)
        if not await nflog.record(connection, delivery, now):
            continue
        written += 1
        if state is not None:
            await save_group(connection, route.recipient, group, state)
        logger.info(
            "delivery recorded",
            extra={"dedup_key": alert.dedup_key, "recipient": route.recipient,
                   "channel": route.channel, "state": delivery.state,
                   "due": str(delivery.next_attempt_at)},
        )  # fmt: skip
    return written


def _delivery(
    alert: Alert,
    labels: Labels,
    route: Route,
    group: str,
    due: datetime,
    thresholds: NotifyThresholds,
    reference_key: bytes,
) -> nflog.Delivery:
    row_labels = labels | {
        "organisation_id": route.organisation_id,
        "channel": route.channel,
        "recipient": route.recipient,
    }
    payload: dict[str, Any] | None = None
    muted_by = None
    if route.channel == "webhook":
        # Only the recipient's view is ever stored for sending: a branch's row holds no plates.
        view = alert.view_for(route.role, reference_key=reference_key)
        payload = {"view": view.model_dump(mode="json")}
        if route.role is not RecipientRole.NEIGHBOURHOOD_WATCH:  # a watch has no branches
            payload["nearby_branches"] = [
                {"branch_id": near.branch_id, "distance_m": near.distance_m}
                for near in route.nearby
            ]
        opening = first_opening(route.windows, alert.kind, due)
        if opening - alert.created_at > timedelta(seconds=thresholds.window_max_defer_seconds):
            muted_by = OUTSIDE_WINDOW
        due = max(due, opening)
    return nflog.Delivery(
        dedup_key=alert.dedup_key,
        recipient=route.recipient,
        alert_id=alert.alert_id,
        channel=route.channel,
        organisation_id=route.organisation_id,
        group_key=group,
        labels=row_labels,
        language=route.language,
        summary=(
            watch_summary(alert, route.language)
            if route.role is RecipientRole.NEIGHBOURHOOD_WATCH
            else summary(alert, route.language)
        ),
        alert_created_at=alert.created_at,
        payload=None if muted_by else payload,
        webhook_url=route.webhook_url,
        state="muted" if muted_by else "pending",
        next_attempt_at=None if muted_by else due,
        muted_by=muted_by,
        role=route.role,
    )
