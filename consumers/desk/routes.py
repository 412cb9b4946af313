"""The desk's pages and actions: the unit's alerts, an alert's evidence, handling."""

from __future__ import annotations

import logging
import math
import uuid
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from consumers.desk import pages
from consumers.desk.alerts import AlertNotFound, Outcome
from consumers.desk.audit import DeskAction, write_audit
from consumers.desk.bulletins import BulletinRefusal, read_bulletin, send_bulletin
from consumers.desk.judgements import Verdict, judge, judgements_of, pattern_of
from consumers.desk.nearby import lookable
from consumers.desk.passwords import new_token
from consumers.desk.texts import Words
from consumers.desk.throttle import clear_failures, record_failure, wait_seconds
from consumers.desk.users import (
    INVALID_NAME,
    USERNAME,
    authenticate,
    close_session,
    open_session,
)
from consumers.desk.web import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    csrf_ok,
    current_session,
    desk_of,
    language_of,
    remember_language,
    set_cookie,
)
from heterdaad.events import BrokerUnavailable
from heterdaad.language import VARY
from schemas.alerts import BULLETIN_MAX_CHARS

if TYPE_CHECKING:
    from starlette.datastructures import FormData

    from consumers.desk.users import DeskSession
    from heterdaad.language import Language

logger = logging.getLogger(__name__)

LOGIN_FORM_SECONDS = 30 * 60
# Pages show police data: no browser or proxy may keep a copy; and they are in the language of
# the request (consumers/desk/web.py:language_of).
_HEADERS = {"Cache-Control": "no-store", "Vary": VARY}


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status, headers=_HEADERS)


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _login_form(request: Request, language: Language, error: str | None, status: int) -> Response:
    # Double-submit token: a login form posted from another site has no matching cookie.
    token = new_token()
    response = _page(pages.login_page(language, login_token=token, error=error), status)
    set_cookie(request, response, LOGIN_COOKIE, token, max_age=LOGIN_FORM_SECONDS)
    return remember_language(request, response)


def _alert_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _not_found(language: Language, session: DeskSession) -> Response:
    return _page(pages.message_page(language, "not_found", session=session), 404)


def _next_page(presented: object, alert_id: uuid.UUID) -> str:
    # Only back to the list or to this alert: never an address from the form to elsewhere.
    return f"/alerts/{alert_id}" if presented == f"/alerts/{alert_id}" else "/"


def desk_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login")
    async def login_form(request: Request) -> Response:
        if await current_session(request) is not None:
            return _to("/")
        return _login_form(request, language_of(request, None), None, 200)

    @router.post("/login")
    async def login(request: Request) -> Response:
        desk = desk_of(request)
        language = language_of(request, None)
        form = await request.form()
        presented = str(form.get("login_token", ""))
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or presented != expected:
            return _login_form(request, language, Words(language)("form_expired"), 403)
        typed = str(form.get("username", "")).strip().lower()
        # A name no user can have (a NUL, which PostgreSQL text cannot hold, markup, 10 kB) is
        # looked up, throttled and audited as one: it can only fail, and never reach the store.
        username = typed if USERNAME.fullmatch(typed) else INVALID_NAME
        password = str(form.get("password", ""))
        actor = f"desk:{username}"
        address = request.client.host if request.client else "unknown"
        now = desk.store.clock()
        wait = await wait_seconds(desk.pool, username, address, now, desk.thresholds)
        if wait is not None:
            # Answered before the password is looked at: a guess now learns nothing.
            await write_audit(
                desk.pool, at=now, actor=actor, action=DeskAction.LOGIN, subject="desk",
                details={"succeeded": False, "throttled": True},
            )  # fmt: skip
            logger.warning("desk login throttled", extra={"username": username[:40],
                                                          "retry_after_s": wait})  # fmt: skip
            minutes = math.ceil(wait / 60)
            key = "login_throttled_one" if minutes == 1 else "login_throttled"
            error = Words(language)(key, minutes=minutes)
            response = _login_form(request, language, error, 429)
            response.headers["Retry-After"] = str(wait)
            return response
        user = await authenticate(desk.pool, username, password)
        await write_audit(
            desk.pool, at=now, actor=actor, action=DeskAction.LOGIN,
            subject="desk", details={"succeeded": user is not None},
        )  # fmt: skip
        if user is None:
            await record_failure(desk.pool, username, address, now, desk.thresholds)
            logger.info("desk login refused", extra={"username": username[:40]})
            error = Words(language)("login_failed")
            return _login_form(request, language, error, 401)
        await clear_failures(desk.pool, username)
        token, _ = await open_session(desk.pool, user, hours=desk.thresholds.session_hours)
        logger.info(
            "desk login", extra={"username": user.username, "police_unit": user.police_unit.value}
        )
        response = _to("/")
        set_cookie(
            request, response, SESSION_COOKIE, token,
            max_age=int(desk.thresholds.session_hours * 3600),
        )  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        found = await current_session(request)
        if found is not None:
            token, session = found
            form = await request.form()
            if not csrf_ok(session, form.get("csrf")):
                return _page(pages.message_page(language_of(request, session), "forbidden"), 403)
            await close_session(desk_of(request).pool, token)
        response = _to("/login")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/")
    async def alert_list(request: Request) -> Response:
        found = await current_session(request)
        if found is None:
            return _to("/login")
        _, session = found
        desk = desk_of(request)
        # The position before the read: whatever happens in between is sent again, not lost.
        position = desk.fanout.position
        cards, history = await desk.store.recent(
            session.user.police_unit,
            hours=desk.thresholds.recent_hours,
            limit=desk.thresholds.list_limit,
            actor=session.user.actor,
        )
        html = pages.desk_page(
            session, language_of(request, session), cards=cards, history=history,
            position=position,
            hours=desk.thresholds.recent_hours,
            escalate_seconds=desk.thresholds.escalate_hold_up_after_seconds,
            tiles=desk.thresholds,
        )  # fmt: skip
        return remember_language(request, _page(html))

    @router.get("/bulletins/new")
    async def bulletin_form(request: Request) -> Response:
        found = await current_session(request)
        if found is None:
            return _to("/login")
        _, session = found
        html = pages.bulletin_page(session, language_of(request, session),
                                   sent=request.query_params.get("sent") == "1")  # fmt: skip
        return remember_language(request, _page(html))

    @router.post("/bulletins")
    async def send_bulletin_form(request: Request) -> Response:
        """Share a modus operandi with the branches of the user's own unit (docs/desk.md)."""
        posted = await _posted_form(request)
        if isinstance(posted, Response):
            return posted
        session, language, form = posted
        text, chosen = form.get("text"), form.getlist("branch_types")
        read = read_bulletin(text, chosen, form.get("police_unit"), session.user.police_unit)

        def refused(field: str, reason: str, status: int) -> Response:
            words = Words(language)
            said = words(f"bulletin_{reason}", most=BULLETIN_MAX_CHARS)
            label = words(f"bulletin_field_{field}")
            error = words("bulletin_refused", label=label, field=field, reason=said)
            html = pages.bulletin_page(
                session, language, text=text if isinstance(text, str) else "",
                chosen=[str(kind) for kind in chosen], error=error,
            )  # fmt: skip
            return _page(html, status)

        if isinstance(read, BulletinRefusal):
            # Another unit is not this user's to warn (403); a field to correct is 422.
            status = 403 if read.reason == "other_unit" else 422
            return refused(read.field, read.reason, status)
        try:
            await send_bulletin(desk_of(request), session.user, read)
        except BrokerUnavailable:
            logger.warning("bulletin not sent, broker unavailable",
                           extra={"username": session.user.username})  # fmt: skip
            response = refused("text", "broker_unavailable", 503)
            response.headers["Retry-After"] = "5"
            return response
        return _to("/bulletins/new?sent=1")

    @router.get("/alerts/{alert_text}")
    async def alert_detail(request: Request, alert_text: str) -> Response:
        found = await current_session(request)
        if found is None:
            return _to("/login")
        _, session = found
        desk = desk_of(request)
        language = language_of(request, session)
        alert_id = _alert_id(alert_text)
        if alert_id is None:
            return _not_found(language, session)
        try:
            card = await desk.store.view(session.user, alert_id)
        except AlertNotFound:
            return _not_found(language, session)
        html = pages.detail_page(
            session, language, card,
            escalate_seconds=desk.thresholds.escalate_hold_up_after_seconds,
            tiles=desk.thresholds,
            nearby=await lookable(desk.store.pool, card, desk.thresholds.camera_radius_m),
            judgements=await judgements_of(desk.store.pool, card),
            judged=pattern_of(card),
        )  # fmt: skip
        return remember_language(request, _page(html))

    @router.post("/alerts/{alert_text}/judge")
    async def judge_pattern(request: Request, alert_text: str) -> Response:
        """Confirm or reject the series, reconnaissance pattern, robbery linked back to
        reconnaissance or hotspot an alert names."""
        posted = await _posted_form(request)
        if isinstance(posted, Response):
            return posted
        session, language, form = posted
        alert_id = _alert_id(alert_text)
        if alert_id is None:
            return _not_found(language, session)
        desk = desk_of(request)
        card = await desk.store.card(session.user.police_unit, alert_id)
        if card is None:
            return _not_found(language, session)
        try:
            verdict = Verdict(str(form.get("verdict", "")))
        except ValueError:
            return _page(pages.message_page(language, "choose_verdict", session=session), 422)
        if not await judge(desk.store.pool, session.user, card, verdict, desk.store.clock()):
            return _page(pages.message_page(language, "not_judgeable", session=session), 422)
        return _to(f"/alerts/{alert_id}")

    @router.post("/alerts/{alert_text}/acknowledge")
    async def acknowledge(request: Request, alert_text: str) -> Response:
        return await _handle(request, alert_text, outcome_required=False)

    @router.post("/alerts/{alert_text}/resolve")
    async def resolve(request: Request, alert_text: str) -> Response:
        return await _handle(request, alert_text, outcome_required=True)

    return router


async def _posted_form(request: Request) -> tuple[DeskSession, Language, FormData] | Response:
    """The logged-in user's session, language and posted form, its CSRF token checked; else
    the answer to give: 401 without a session, 403 (logged) without the session's token."""
    found = await current_session(request)
    if found is None:
        return Response(status_code=401)
    _, session = found
    language = language_of(request, session)
    form = await request.form()
    if not csrf_ok(session, form.get("csrf")):
        logger.warning("desk form without csrf token", extra={"username": session.user.username})
        return _page(pages.message_page(language, "forbidden", session=session), 403)
    return session, language, form


async def _handle(request: Request, alert_text: str, *, outcome_required: bool) -> Response:
    """Acknowledge or resolve for the logged-in user, then back to where the form was."""
    posted = await _posted_form(request)
    if isinstance(posted, Response):
        return posted
    session, language, form = posted
    alert_id = _alert_id(alert_text)
    if alert_id is None:
        return _not_found(language, session)
    store = desk_of(request).store
    try:
        if outcome_required:
            try:
                outcome = Outcome(str(form.get("outcome", "")))
            except ValueError:
                return _page(pages.message_page(language, "choose_outcome", session=session), 422)
            await store.resolve(session.user, alert_id, outcome)
        else:
            await store.acknowledge(session.user, alert_id)
    except AlertNotFound:
        return _not_found(language, session)
    return _to(_next_page(form.get("next"), alert_id))
