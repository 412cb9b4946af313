"""The live stream of a unit's alerts to an open desk page (server-sent events on /stream).

Events: `alert` (new) and `change` (acknowledged, resolved, escalated) carry the rendered row;
`reload` asks the page to reload (the stream cannot continue where it left off); `logout` ends
a stream whose session expired or whose user was disabled.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from consumers.desk import pages
from consumers.desk.live import StreamEnded
from consumers.desk.users import session_for
from consumers.desk.web import current_session, desk_of, language_of
from heterdaad.db import DatabaseBusy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from consumers.desk.live import DeskEvent
    from consumers.desk.users import DeskSession
    from consumers.desk.web import Desk
    from heterdaad.language import Language

logger = logging.getLogger(__name__)

RETRY_MS = 3000


def sse(event: str, data: dict[str, str], event_id: str | None = None) -> str:
    """One server-sent event; json.dumps escapes newlines, so the data is a single line."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data)}")
    return "\n".join(lines) + "\n\n"


def _row_event(desk: Desk, event: DeskEvent, session: DeskSession, language: Language) -> str:
    card = event.card
    return sse(
        "alert" if event.change == "alert" else "change",
        {
            "alert_id": str(card.alert_id),
            "change": event.change,
            "state": card.state,
            "html": pages.alert_row(card, language, session.csrf_token),
        },
        event_id=f"{desk.fanout.instance}:{event.seq}",
    )


async def _events(
    desk: Desk, token: str, session: DeskSession, after: str | None, language: Language
) -> AsyncIterator[str]:
    unit = session.user.police_unit
    try:
        with desk.fanout.subscribe(unit, after) as subscription:
            logger.info(
                "desk stream opened", extra={"username": session.user.username, "after": after}
            )
            yield f"retry: {RETRY_MS}\n\n"
            every = desk.thresholds.keepalive_seconds
            checked = time.monotonic()
            while True:
                event = await subscription.next(every)
                # On every heartbeat and at least as often while events flow: a busy unit's
                # stream went on to a user disabled or logged out as long as alerts came.
                if event is None or time.monotonic() - checked >= every:
                    try:
                        ended = await session_for(desk.pool, token) is None
                    except DatabaseBusy:
                        # Checked again on the next heartbeat; the stream goes on meanwhile.
                        logger.warning(
                            "desk stream's session check skipped: no database connection free",
                            extra={"username": session.user.username},
                        )
                        ended = False
                    if ended:
                        yield sse("logout", {})
                        return
                    checked = time.monotonic()
                if event is not None:
                    yield _row_event(desk, event, session, language)
                    continue
                yield ": keepalive\n\n"
    except StreamEnded as ended:
        if ended.reason != "closing":
            yield sse("reload", {"reason": ended.reason})
        logger.info(
            "desk stream ended", extra={"username": session.user.username, "reason": ended.reason}
        )


def stream_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/stream")
    async def stream(request: Request, after: str | None = None) -> Response:
        found = await current_session(request)
        if found is None:
            return Response(status_code=401)
        token, session = found
        # A reconnecting EventSource names the last event it got; a fresh page its position.
        position = request.headers.get("last-event-id") or after
        return StreamingResponse(
            _events(desk_of(request), token, session, position, language_of(request, session)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
