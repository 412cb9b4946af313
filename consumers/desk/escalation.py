"""Escalation of hold-ups in progress that no desk acknowledged in time.

What escalation does (docs/desk.md): the alert row gets `escalated_at`, the audit log an
`alert_escalated` row by `system:desk`, the service log a WARNING, and every open desk of the
unit a red banner and a highlighted row (through the change notification). Notifying anyone
outside the desk (a duty officer's phone) is the router's job, not the desk's.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg

from heterdaad.db import DatabaseBusy

if TYPE_CHECKING:
    from consumers.desk.alerts import AlertStore
    from heterdaad.thresholds.desk import DeskThresholds

logger = logging.getLogger(__name__)


async def escalate_overdue(store: AlertStore, thresholds: DeskThresholds) -> None:
    """Sweep for overdue hold-ups every escalation_check_seconds, until cancelled."""
    after = timedelta(seconds=thresholds.escalate_hold_up_after_seconds)
    window = timedelta(hours=thresholds.recent_hours)
    while True:
        try:
            await store.escalate_due(after=after, window=window)
        except DatabaseBusy as busy:
            # Every connection taken (pages, the feed): this sweep gives up after the pool's
            # wait instead of queueing, and the next one tries again.
            logger.warning(
                "escalation sweep skipped: no database connection free",
                extra={"wait_s": busy.wait, "retry_in_s": thresholds.escalation_check_seconds},
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
            # The next sweep catches up: escalation is decided on the table, not in memory.
            logger.error("escalation sweep failed", extra={"error": str(error)})
        await asyncio.sleep(thresholds.escalation_check_seconds)
