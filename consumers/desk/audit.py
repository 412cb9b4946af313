"""What the desk writes to the audit log: who saw, acknowledged, resolved or escalated an alert."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from heterdaad.audit import AuditRow, write_audit_rows

if TYPE_CHECKING:
    from datetime import datetime

    import asyncpg

SYSTEM_ACTOR = "system:desk"


class DeskAction(StrEnum):
    """Audit actions of the desk.

    The first three equal schemas.events.AuditAction's values. Resolved and escalated are not
    in the contract's enum yet, so the desk writes its rows directly rather than through
    AuditEvent; audit_log.action is plain text and takes them.
    """

    LOGIN = "login"
    ALERT_VIEWED = "alert_viewed"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_RESOLVED = "alert_resolved"
    ALERT_ESCALATED = "alert_escalated"
    ALERT_JUDGED = "alert_judged"
    # A modus operandi bulletin a user sent to its unit's branches, subject its alert id.
    BULLETIN_SENT = "bulletin_sent"
    # Who gave or took a user's access (`heterdaad desk user`), subject desk_user:<name>.
    USER_ADDED = "desk_user_added"
    USER_PASSWORD_SET = "desk_user_password_set"
    USER_DISABLED = "desk_user_disabled"
    USER_ENABLED = "desk_user_enabled"


async def write_audit(
    db: asyncpg.Connection | asyncpg.Pool,
    *,
    at: datetime,
    actor: str,
    action: DeskAction,
    subject: str,
    details: dict[str, Any],
) -> None:
    await write_audit_rows(db, [AuditRow(at, actor, action.value, subject, details)])
