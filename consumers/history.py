"""History of events and alerts by unit, branch, period and kind, paged, as each role may see."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator

from heterdaad.audit import AuditRow, write_audit_rows
from heterdaad.auth import ALERTS_READ, EVENTS_READ, Caller, require_scope
from schemas.alerts import AlertKind
from schemas.common import IDENTIFIER_PATTERN, PoliceUnit

if TYPE_CHECKING:
    import asyncpg

logger = logging.getLogger(__name__)

MAX_PAGE = 500


class EventKind(StrEnum):
    """The `kind` of a stored event (consumers/sink.row_of): an alarm's signal, a report's
    incident type, or a sighting's 'voorverkenning'. A kind no event has is refused by name,
    not answered with an empty page (tests/consumers/test_history.py keeps it in step)."""

    PANIC = "panic"
    HOLD_UP = "hold_up"
    DURESS = "duress"
    RESTORE = "restore"
    CANCEL = "cancel"
    TEST = "test"
    LINK_TEST = "link_test"
    SITE_SILENT = "site_silent"
    OVERVAL = "overval"
    POGING = "poging"
    STRAATROOF = "straatroof"
    RAMKRAAK = "ramkraak"
    PLOFKRAAK = "plofkraak"
    WONINGOVERVAL = "woningoverval"
    VOORVERKENNING = "voorverkenning"


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None
    """Pass as `cursor`, with the same filters, to get the next page; None on the last page."""


class HistoryQuery(BaseModel):
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    police_unit: PoliceUnit | None = None
    branch_id: str | None = None
    kind: str | None = None
    limit: int = 100
    cursor: str | None = None


def _query_mark(query: HistoryQuery, what: str) -> str:
    """What a cursor belongs to: the route and the filters (not the page size). A cursor is a
    place in one ordered answer; taken to another query it would start that answer somewhere
    arbitrary and silently skip its newer records, so it is refused there."""
    asked = [what, query.since, query.until, query.police_unit, query.branch_id, query.kind]
    if what == "alerts":
        # Ordered by event time since 2026-12-08 (by when raised before): an older cursor is
        # a place in the other order, refused rather than read in this one.
        asked.append(ALERT_TIME)
    text = json.dumps([None if value is None else str(value) for value in asked])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cursor(at: datetime, item_id: uuid.UUID, mark: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{item_id}|{mark}".encode()).decode()


def _after(cursor: str, mark: str) -> tuple[datetime, uuid.UUID]:
    # A forged cursor may carry a time without offset or with no UTC equivalent (year 1 at
    # +23:59): asyncpg cannot send that, so it is refused here rather than becoming a 500.
    try:
        at, item_id, its_mark = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("cursor time without offset")
        place = moment.astimezone(UTC), uuid.UUID(item_id)
    except (ValueError, UnicodeDecodeError, OverflowError) as error:
        raise HTTPException(
            422, [{"field": "cursor", "reason": "not a cursor of this API"}]
        ) from error
    if its_mark != mark:
        raise HTTPException(422, [{"field": "cursor", "reason": (
            "belongs to another query (other route, period, police_unit, branch_id or kind); "
            "ask again with the same filters, or without cursor to start at the newest"
        )}])  # fmt: skip
    return place


async def _scope(
    connection: asyncpg.Connection, caller: Caller, query: HistoryQuery
) -> tuple[str, list[Any]]:
    """The SQL condition (on `event`) that limits a caller to what its role may see."""
    if caller.role == "admin":
        return "TRUE", []
    if caller.role == "police":
        unit = await connection.fetchval(
            "SELECT police_unit FROM organisation WHERE organisation_id = $1",
            caller.organisation_id,
        )
        if unit is None:
            raise HTTPException(403, "this police organisation has no unit: it sees no history")
        # Another unit's history is not this one's to see: said so, not answered as if nothing
        # had happened there (an empty page).
        if query.police_unit is not None and query.police_unit.value != unit:
            raise _refusal("police_unit", (
                f"this organisation sees the history of police unit {unit} only"
            ))
        return "police_unit = {}", [unit]
    if caller.role == "alarm_centre":
        return "event_type = 'alarm_activation' AND organisation_id = {}", [caller.organisation_id]
    # Retailers see their own branches, a trade association also its members' branches.
    return (
        "branch_id IN (SELECT branch_id FROM branch WHERE organisation_id = {0} OR organisation_id "
        "IN (SELECT member_id FROM association_member WHERE association_id = {0}))",
        [caller.organisation_id],
    )


def _numbered(condition: str, arguments: list[Any], start: int) -> str:
    return condition.format(*(f"${start + i}" for i in range(len(arguments))))


async def query_events(connection: asyncpg.Connection, caller: Caller, query: HistoryQuery) -> Page:
    return await _fetch_page(
        connection, caller, query, "events", table="event", time_column="occurred_at",
        id_column="event_id",
        columns="event_id, event_type, organisation_id, occurred_at, kind, branch_type, "
        "police_unit, branch_id, payload",
        filters=(("branch_id", query.branch_id),),
    )  # fmt: skip


# When what an alert is about happened (its event time: the robbery, the press, a series'
# newest robbery), as the events' occurred_at; an alert stored before event times were kept
# (migration 0025) by when it was raised. Indexed by unit (migration 0029).
ALERT_TIME = "coalesce(occurred_at, created_at)"


async def query_alerts(connection: asyncpg.Connection, caller: Caller, query: HistoryQuery) -> Page:
    """Alerts are police information: the police see their unit's, the admin all. By event
    time, as the events: an alert raised today about a robbery of last March (a CBL import)
    is found in March, not among today's."""
    if caller.role not in ("police", "admin"):
        raise HTTPException(403, "alert history is for the police; branches receive alerts live")
    return await _fetch_page(
        connection, caller, query, "alerts", table="alert", time_column=ALERT_TIME,
        id_column="alert_id",
        columns=f"alert_id, dedup_key, kind, severity, police_unit, {ALERT_TIME} AS occurred_at, "
        "created_at, acknowledged_at, resolved_at, outcome, payload",
        filters=(),
    )  # fmt: skip


async def _fetch_page(
    connection: asyncpg.Connection,
    caller: Caller,
    query: HistoryQuery,
    what: str,
    *,
    table: str,
    time_column: str,
    id_column: str,
    columns: str,
    filters: tuple[tuple[str, str | None], ...],
) -> Page:
    """One page of a table, newest first, within the caller's scope and the query's filters."""
    scope, scope_arguments = await _scope(connection, caller, query)
    conditions = [_numbered(scope, scope_arguments, 1)]
    arguments: list[Any] = list(scope_arguments)
    for column, operator, value in (
        (time_column, ">=", query.since),
        (time_column, "<", query.until),
        ("police_unit", "=", query.police_unit.value if query.police_unit else None),
        ("kind", "=", query.kind),
        *((column, "=", value) for column, value in filters),
    ):
        if value is not None:
            arguments.append(value)
            conditions.append(f"{column} {operator} ${len(arguments)}")
    if query.cursor is not None:
        arguments.extend(_after(query.cursor, _query_mark(query, what)))
        conditions.append(
            f"({time_column}, {id_column}) < (${len(arguments) - 1}, ${len(arguments)})"
        )
    arguments.append(min(query.limit, MAX_PAGE) + 1)
    rows = await connection.fetch(
        f"SELECT {columns} FROM {table} WHERE "
        + " AND ".join(conditions)
        + f" ORDER BY {time_column} DESC, {id_column} DESC LIMIT ${len(arguments)}",
        *arguments,
    )
    # Both tables name their event time occurred_at in the answer.
    return _page(rows, query.limit, "occurred_at", id_column, _query_mark(query, what))


def _page(rows: list[asyncpg.Record], limit: int, at: str, key: str, mark: str) -> Page:
    limit = min(limit, MAX_PAGE)
    items = [
        {name: json.loads(value) if name == "payload" and value else value
         for name, value in row.items()}
        for row in rows[:limit]
    ]  # fmt: skip
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(items=items, next_cursor=_cursor(last[at], last[key], mark) if last else None)


async def _audit(connection: asyncpg.Connection, caller: Caller, what: str, page: Page) -> None:
    """Who read which records, by id (as the desk logs its list): 'who saw event X' has an
    answer for the API too, not only a count."""
    action = "alert_viewed" if what == "alerts" else "data_exported"
    id_column = "alert_id" if what == "alerts" else "event_id"
    await write_audit_rows(connection, [AuditRow(
        datetime.now(UTC), caller.organisation_id, action, f"history:{what}",
        {"key_id": caller.key_id, "items": len(page.items),
         f"{id_column}s": [str(item[id_column]) for item in page.items]},
    )])  # fmt: skip


# Filters shaped like the identifiers they are compared with: a NUL or a megabyte never reaches
# PostgreSQL (which refuses NUL in text with a 500 otherwise), and 422 names the parameter.
IdentifierQuery = Annotated[
    str | None, Query(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)
]


def _in_utc(moment: datetime | None) -> datetime | None:
    # Year 1 at +23:59 has no UTC equivalent: asyncpg cannot send it (a 500 otherwise).
    try:
        return None if moment is None else moment.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("has no UTC equivalent (out of range)") from error


def _iso_only(moment: object) -> object:
    # pydantic reads a bare number as Unix time; the spec promises an RFC 3339 date-time.
    if isinstance(moment, str):
        try:
            datetime.fromisoformat(moment)
        except ValueError as error:
            raise ValueError("not a date-time such as 2026-12-05T20:00:00+01:00") from error
    return moment


MomentQuery = Annotated[AwareDatetime | None, BeforeValidator(_iso_only), AfterValidator(_in_utc)]


def _refusal(field: str, reason: str) -> HTTPException:
    # As every refusal of the API: {"detail": [{"field", "reason"}]}.
    return HTTPException(422, [{"field": field, "reason": reason}])


def _checked(request: Request, query: HistoryQuery, allowed: tuple[str, ...]) -> HistoryQuery:
    """A query whose answer would silently not be what was asked is refused by parameter: an
    unknown parameter (a typo such as `knd` was ignored, so the page held every kind) and a
    period that holds no moment (since not before until)."""
    for name in request.query_params:
        if name not in allowed:
            raise _refusal(name, f"not a parameter of this route; it takes {', '.join(allowed)}")
        # Read as the last value alone: kind=overval&kind=poging answered for poging only.
        if len(request.query_params.getlist(name)) > 1:
            raise _refusal(name, "given more than once; this route takes one value of it")
    if query.since is not None and query.until is not None and query.since >= query.until:
        raise _refusal("until", "must be later than since: no moment lies between them")
    return query


_EVENT_PARAMETERS = ("since", "until", "police_unit", "branch_id", "kind", "limit", "cursor")
_ALERT_PARAMETERS = ("since", "until", "police_unit", "kind", "limit", "cursor")


def _event_query(
    request: Request,
    since: MomentQuery = None,
    until: MomentQuery = None,
    police_unit: PoliceUnit | None = None,
    branch_id: IdentifierQuery = None,
    kind: Annotated[EventKind | None, Query(description="An alarm's signal, a report's "
                    "incident type or 'voorverkenning' (a sighting).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: str | None = None,
) -> HistoryQuery:
    return _checked(request, HistoryQuery(
        since=since, until=until, police_unit=police_unit, branch_id=branch_id,
        kind=None if kind is None else kind.value, limit=limit, cursor=cursor,
    ), _EVENT_PARAMETERS)  # fmt: skip


def _alert_query(
    request: Request,
    since: MomentQuery = None,
    until: MomentQuery = None,
    police_unit: PoliceUnit | None = None,
    kind: AlertKind | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: str | None = None,
) -> HistoryQuery:
    # No branch_id: alerts are stored by area and unit, not by branch.
    return _checked(request, HistoryQuery(
        since=since, until=until, police_unit=police_unit,
        kind=None if kind is None else kind.value, limit=limit, cursor=cursor,
    ), _ALERT_PARAMETERS)  # fmt: skip


def history_router() -> APIRouter:
    router = APIRouter(prefix="/v1/history", tags=["history"])

    async def _run(request: Request, caller: Caller, query: HistoryQuery,
                   what: Literal["events", "alerts"]) -> Page:  # fmt: skip
        async with request.app.state.intake.pool.acquire() as connection:
            page = await (query_events if what == "events" else query_alerts)(
                connection, caller, query
            )
            await _audit(connection, caller, what, page)
        return page

    @router.get("/events", summary="Accepted events the caller may see, newest first")
    async def events(
        request: Request,
        caller: Annotated[Caller, Depends(require_scope(EVENTS_READ))],
        query: Annotated[HistoryQuery, Depends(_event_query)],
    ) -> Page:
        return await _run(request, caller, query, "events")

    @router.get(
        "/alerts",
        summary="Alerts of the caller's police unit, newest first by when what they are about "
        "happened (occurred_at); since and until bound that time",
    )
    async def alerts(
        request: Request,
        caller: Annotated[Caller, Depends(require_scope(ALERTS_READ))],
        query: Annotated[HistoryQuery, Depends(_alert_query)],
    ) -> Page:
        return await _run(request, caller, query, "alerts")

    return router
