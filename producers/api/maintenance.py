"""`/v1/alarm-sites/{site_id}/maintenance`: an alarm centre puts its own sites in maintenance.

Decisions (docs/alarm-verification.md, "Maintenance"):
- only organisations with role `alarm_centre`, with a key issued with `maintenance:write`
  (opt-in: a window silences a site's hold-up button, a bigger power than posting presses);
  every other role gets 403 whatever its key holds;
- only the centre's own sites: another centre's site answers 404 exactly as one that does not
  exist, so nothing is learnt of others' sites;
- the same rules as `heterdaad org maintenance` (producers/api/admin.py, one implementation):
  an end after the start, not before what the worker still reads (`time.late_bound_days`),
  plus a bound the operator does not have: at most `api_limits.maintenance_max_days` (14) at
  once. Every reason in one 422, each naming `starts_at` or `ends_at`;
- audited as the command is (`alarm_site_maintenance_set` / `_ended`), with the caller as actor.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from heterdaad.auth import MAINTENANCE_ROLES, MAINTENANCE_WRITE, Caller, require_scope
from producers.api import admin
from producers.api.answers import FieldProblem, Problem, ValidationProblem
from schemas.common import Identifier

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import ApiLimits

logger = logging.getLogger(__name__)

# The API's words for a window's start and end, in its refusals (the command says from/until).
FIELDS = ("starts_at", "ends_at")


# An alarm centre's caller whose key may set maintenance.
Keeper = Annotated[Caller, Depends(require_scope(
    MAINTENANCE_WRITE, MAINTENANCE_ROLES,
    "maintenance windows are set by alarm centres, not role {role}",
))]  # fmt: skip
SiteId = Annotated[Identifier, Path()]


class MaintenanceIn(BaseModel):
    """A window to set: from `starts_at` (default: now) until `ends_at`, both with a zone."""

    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime | None = Field(
        None, description="Start of the window (inclusive); now when left out."
    )
    ends_at: AwareDatetime = Field(description="End of the window (exclusive).")


class MaintenanceOut(BaseModel):
    starts_at: datetime
    ends_at: datetime
    set_at: datetime = Field(description="When the window was set or last changed.")

    @classmethod
    def of(cls, window: admin.MaintenanceWindow) -> MaintenanceOut:
        return cls(starts_at=window.starts_at, ends_at=window.ends_at, set_at=window.set_at)


def _actor(caller: Caller) -> str:
    return f"api:{caller.organisation_id}:{caller.key_id}"


def _unknown(site_id: str) -> HTTPException:
    return HTTPException(404, f"no alarm site {site_id} of your alarm centre")


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.intake.pool
    return pool


def maintenance_router(
    limits: ApiLimits, late_bound: timedelta, clock_skew: timedelta
) -> APIRouter:
    """The routes; `late_bound` is how far back the worker reads windows (time.late_bound_days),
    `clock_skew` how far before the API's clock a window may start (clock_skew_seconds): a
    centre may not set one over presses already made, which a backlog may still hold."""
    longest = timedelta(days=limits.maintenance_max_days)
    router = APIRouter(
        prefix="/v1/alarm-sites/{site_id}/maintenance",
        tags=["alarm sites"],
        responses={
            401: {"model": Problem, "description": "No key, or one unknown, revoked or expired."},
            403: {"model": Problem, "description": "Not an alarm centre, or the key lacks "
                  f"the scope {MAINTENANCE_WRITE}."},
            404: {"model": Problem, "description": "No alarm site of the caller's with this id."},
        },
    )  # fmt: skip

    @router.get("", summary="The site's maintenance windows kept, oldest first")
    async def list_windows(
        request: Request, caller: Keeper, site_id: SiteId
    ) -> list[MaintenanceOut]:
        try:
            windows = await admin.list_maintenance(
                _pool(request), site_id, alarm_centre=caller.organisation_id
            )
        except admin.UnknownSite:
            raise _unknown(site_id) from None
        return [MaintenanceOut.of(window) for window in windows]

    @router.post(
        "",
        status_code=201,
        response_model=MaintenanceOut,
        summary="Put the site in maintenance",
        description="Presses made in the window (from starts_at, inclusive, to ends_at, "
        "exclusive) are ignored by alarm verification however late they arrive. A window "
        "with the same starts_at as one kept is changed to the new end. At most "
        f"api_limits.maintenance_max_days ({limits.maintenance_max_days:g}) days; an end "
        "before what the worker still reads (time.late_bound_days) is refused.",
        responses={422: {"model": ValidationProblem, "description": "Each field and why."}},
    )
    async def set_window(
        request: Request, caller: Keeper, site_id: SiteId, window: MaintenanceIn
    ) -> MaintenanceOut | JSONResponse:
        now = datetime.now(UTC)
        try:
            kept = await admin.set_maintenance(
                _pool(request), site_id, window.ends_at, starts_at=window.starts_at,
                forget_before=now - late_bound, longest=longest,
                earliest_start=now - clock_skew,
                alarm_centre=caller.organisation_id, names=FIELDS, actor=_actor(caller),
            )  # fmt: skip
        except admin.UnknownSite:
            raise _unknown(site_id) from None
        except admin.MaintenanceRefused as refused:
            problems: list[dict[str, Any]] = [
                FieldProblem(field=field, reason=reason).model_dump()
                for field, reason in refused.refusals
            ]
            return JSONResponse({"detail": problems}, status_code=422)
        logger.info("alarm site maintenance set by api", extra={
            "organisation_id": caller.organisation_id, "site_id": site_id})  # fmt: skip
        return MaintenanceOut.of(kept)

    @router.delete(
        "",
        status_code=204,
        summary="End the site's maintenance now",
        description="A window in progress ends now (what was pressed in it stays maintenance); "
        "windows not yet begun are dropped; past windows stay.",
    )
    async def end_windows(request: Request, caller: Keeper, site_id: SiteId) -> None:
        try:
            await admin.end_maintenance(
                _pool(request), site_id, alarm_centre=caller.organisation_id,
                actor=_actor(caller),
            )  # fmt: skip
        except admin.UnknownSite:
            raise _unknown(site_id) from None

    return router
