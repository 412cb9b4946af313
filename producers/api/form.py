"""The reconnaissance web form for shop staff (/meld): log in with a code, report, confirm.

Staff log in with a one-time code (or the QR link carrying it) that an admin issued for their
branch (`heterdaad org meld-code`), and get a session of their own (producers/api/staff_sessions):
short-lived, revoked at logout, never the organisation's API key. Its token is kept in an
HttpOnly, SameSite=Strict cookie limited to /meld, so another site cannot post the form on the
user's behalf; every report goes through the same intake as the API. The login form carries a
token of its own that must match a cookie (double submit, as the desk's login does): a page of
another site cannot log this browser in with a code of its own organisation. The sighting and
logout forms carry a token bound to the session (`form_token`), so that a report is posted
from our page, not from another site, even in a browser that ignores SameSite.

The pages speak Dutch unless English is chosen, as the desk does it (heterdaad/language.py):
?lang= first, then this browser's earlier choice (a cookie), then the browser's Accept-Language,
then HETERDAAD_LANGUAGE. Every page says so to caches (Vary).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from heterdaad.language import VARY, named, preferred
from heterdaad.notation import DUTCH_TIME, SkippedTime, dutch_wall_time
from producers.api import pages, permissions
from producers.api.answers import FieldProblem, Refused
from producers.api.audit import audit_entry, write_audit
from producers.api.intake import malformed
from producers.api.kinds import RECON_SIGHTING
from producers.api.pages import Words
from producers.api.staff_sessions import find_session, open_session, revoke_session
from producers.reasons import said_in
from schemas.events import AuditAction

if TYPE_CHECKING:
    from starlette.datastructures import FormData

    from heterdaad.auth import Caller
    from heterdaad.language import Language
    from producers.api.intake import Intake
    from producers.api.staff_sessions import StaffSession

logger = logging.getLogger(__name__)

COOKIE = "heterdaad_meld"
COOKIE_PATH = "/meld"
LANGUAGE_COOKIE = "heterdaad_meld_lang"
LOGIN_COOKIE = "heterdaad_meld_login"
LOGIN_FORM_SECONDS = 3600  # how long a login page may stay open before its form is refused
_TEXT_FIELDS = (
    "branch_id",
    "observed_at",
    "height_band",
    "build",
    "face_covering",
    "clothing",
    "vehicle_kind",
    "vehicle_make",
    "vehicle_colour",
    "free_text",
)


# The pages hold a one-time code, the branch and what staff saw: no browser or proxy may keep
# a copy (a shop's shared computer), no other site may frame them, and the inline style is all
# they load, so nothing else may run or load should markup ever get in.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


async def _session(request: Request) -> StaffSession | None:
    token = request.cookies.get(COOKIE)
    return None if not token else await find_session(_intake(request).pool, token)


def _page(html: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page in the language of the request, which caches must not hand to another browser,
    kept by none, framed by no other site, and running no script."""
    return HTMLResponse(html, status, headers=_PAGE_HEADERS | {"Vary": VARY} | (headers or {}))


def _to_login() -> RedirectResponse:
    return RedirectResponse("/meld/login", status_code=303)


def _login_form(
    request: Request, language: Language, error: str | None, status: int, *, code: str = ""
) -> Response:
    """The login page with a fresh form token, and the cookie that token must match."""
    token = secrets.token_urlsafe(32)
    page = pages.login_page(language, error, code=code, login_token=token)
    response = _page(page, status)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return _remember(request, response)


def _same_token(presented: object, expected: str) -> bool:
    """A token posted with a form is the one expected (none expected: no match)."""
    return (
        isinstance(presented, str)
        and bool(expected)
        and hmac.compare_digest(presented.encode(), expected.encode())
    )


def _from_this_site(request: Request, form: FormData) -> bool:
    """The form's token matches this browser's cookie: the login page was ours."""
    return _same_token(form.get("login_token"), request.cookies.get(LOGIN_COOKIE, ""))


def form_token(session_token: str) -> str:
    """The token of the session's forms: derived from the session's cookie, which no other
    site can read, so it needs no storage and ends with the session."""
    return hmac.new(session_token.encode(), b"heterdaad meld form", hashlib.sha256).hexdigest()


def _posted_from_our_page(request: Request, form: FormData) -> bool:
    """The form's token is the one of this browser's session: the form page was ours."""
    session_token = request.cookies.get(COOKIE, "")
    expected = form_token(session_token) if session_token else ""
    return _same_token(form.get("form_token"), expected)


def _refused(request: Request, language: Language, refusal: str) -> Response:
    """The login page saying why this session cannot report sightings; the cookie is ended."""
    logger.info("meld code refused", extra={"refusal": refusal})
    message = Words(language)("code_refused")
    response = _login_form(request, language, message, 403)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def form_router(session_lasts: timedelta, default_language: Language = "nl") -> APIRouter:
    """/meld in `default_language` (Settings.language) unless the browser chose another."""
    router = APIRouter(prefix="/meld", tags=["form"], include_in_schema=False)

    def language_of(request: Request) -> Language:
        """?lang=, this browser's earlier choice, its Accept-Language, then the deployment's."""
        return (
            named(request.query_params.get("lang"))
            or named(request.cookies.get(LANGUAGE_COOKIE))
            or preferred(request.headers.get("accept-language"))
            or default_language
        )

    @router.get("/login")
    async def login_form(request: Request, code: str = "") -> Response:
        # The QR link fills the code in but does not log in: a link preview or scanner that
        # fetches the link must not spend the one-time code.
        language = language_of(request)
        return _login_form(request, language, None, 200, code=code[:32])

    @router.post("/login")
    async def login(request: Request) -> Response:
        language = language_of(request)
        form = await request.form()
        code = str(form.get("code", "")).strip()[:64]
        if not _from_this_site(request, form):
            # Before the code is looked at: it is not spent, and filled in again.
            return _login_form(request, language, Words(language)("form_expired"), 403,
                               code=code[:32])  # fmt: skip
        pool = _intake(request).pool
        opened = await open_session(pool, code, lasts=session_lasts) if code else None
        if opened is None:
            return _login_form(request, language, Words(language)("unknown_code"), 401)
        token, session = opened
        caller = session.caller()
        refusal = permissions.kind_refusal(caller, RECON_SIGHTING)
        await write_audit(
            _intake(request).pool,
            [
                audit_entry(
                    caller.organisation_id,
                    AuditAction.LOGIN,
                    "meld",
                    {
                        "session": session.session_id,
                        "branch_id": session.branch_id,
                        "refused": refusal,
                    },
                )
            ],
        )
        if refusal is not None:
            await revoke_session(_intake(request).pool, token)
            return _refused(request, language, refusal)
        response = RedirectResponse("/meld", status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(session_lasts.total_seconds()),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if await _session(request) is not None and not _posted_from_our_page(
            request, await request.form()
        ):
            # Another site cannot log staff out either: back to the form, still logged in.
            return RedirectResponse("/meld", status_code=303)
        if token:
            # Revoked where it is checked: a copy of the cookie dies with the session.
            await revoke_session(_intake(request).pool, token)
        response = _to_login()
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

    @router.get("")
    async def sighting_form(request: Request) -> Response:
        session = await _session(request)
        if session is None:
            return _to_login()
        branches = await _branch_choices(_intake(request), session)
        # The time is filled in with the page, so a double submit carries the same event.
        now = datetime.now(DUTCH_TIME).strftime("%Y-%m-%dT%H:%M")
        page = pages.form_page(
            language_of(request),
            event_id=str(uuid.uuid4()),
            form_token=form_token(request.cookies[COOKIE]),
            branches=branches,
            values={"observed_at": now},
        )
        return _remember(request, _page(page))

    @router.post("")
    async def report_sighting(request: Request) -> Response:
        session = await _session(request)
        if session is None:
            return _to_login()
        caller = session.caller()
        language = language_of(request)
        words = Words(language)
        # Before any branch is looked up: a caller that may not report learns nothing of branches.
        if (not_allowed := permissions.kind_refusal(caller, RECON_SIGHTING)) is not None:
            return _refused(request, language, not_allowed)
        intake = _intake(request)
        form = await request.form()
        values = _values(form)
        if values["branch_id"] != session.branch_id:
            # Staff report at the branch their code was for; any other is answered as unknown.
            values["branch_id"] = ""
        event_id = _event_id(form)
        token = form_token(request.cookies[COOKIE])
        if not _posted_from_our_page(request, form):
            # Nothing is taken in; what was entered is shown again (never the plate), with a
            # token of this session, so that staff who did post it check it and send it again.
            page = pages.form_page(
                language, event_id=event_id, form_token=token,
                branches=await _branch_choices(intake, session), values=values,
                errors=[words("report_expired")],
            )  # fmt: skip
            return _page(page, 403)
        errors, item = await _sighting(intake, caller, form, values, event_id, words)
        if item is not None:
            try:
                [answer] = await intake.take_in(caller, RECON_SIGHTING, [item])
            except Refused as refusal:
                headers = None
                if refusal.retry_after is not None:
                    headers = {"Retry-After": str(refusal.retry_after)}
                page = pages.failed_page(language, _refusal_text(words, refusal))
                return _page(page, refusal.status, headers)
            if answer.status == 202:
                [branch] = await _branch_choices(intake, session)
                page = pages.done_page(language, branch=branch["label"], event_id=event_id)
                return _page(page, 202)
            if answer.status != 422:
                message = _answer_text(words, answer.status, answer.detail)
                headers = None
                if answer.retry_after is not None:
                    headers = {"Retry-After": str(answer.retry_after)}
                page = pages.failed_page(language, message)
                return _page(page, answer.status, headers)
            assert isinstance(answer.detail, list)
            errors = [_problem_text(words, problem) for problem in answer.detail]
        branches = await _branch_choices(intake, session)
        page = pages.form_page(
            language, event_id=event_id, form_token=token, branches=branches, values=values,
            errors=errors,
        )  # fmt: skip
        return _page(page, 422)

    return router


def _remember(request: Request, response: Response) -> Response:
    """Keep a ?lang= choice for the following pages of this browser (the form posts to /meld)."""
    chosen = named(request.query_params.get("lang"))
    if chosen is not None:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


async def _sighting(
    intake: Intake,
    caller: Caller,
    form: FormData,
    values: dict[str, Any],
    event_id: str,
    words: Words,
) -> tuple[list[str], dict[str, Any] | None]:
    """The sighting as the intake takes it, or what to correct first (in the page's words)."""
    errors = []
    named = set()  # the fields the form has refused itself, in its own words
    branch = await _branch(intake, caller, values["branch_id"]) if values["branch_id"] else None
    if branch is None:
        errors.append(f"{words('branch')}: {words('pick_branch')}")
        named.add("branch")
    if not values["behaviours"]:
        errors.append(f"{words('behaviours')}: {words('pick_behaviour')}")
        named.add("behaviours")
    observed_at = datetime.now(UTC)
    if values["observed_at"]:
        try:
            # The form's time is Dutch wall-clock time, without an offset (datetime-local); a
            # client that posts one gets it honoured, not dropped and read as Dutch time.
            moment = datetime.fromisoformat(values["observed_at"])
            observed_at = moment if moment.tzinfo is not None else dutch_wall_time(moment)
        except SkippedTime as skipped:
            errors.append(f"{words('observed_at')}: {skipped.reason(words.language)}")
            named.add("observed_at")
        except ValueError:
            errors.append(f"{words('observed_at')}: {words('give_time')}")
            named.add("observed_at")
    person = {
        "height_band": values["height_band"] or None,
        "build": values["build"] or None,
        "face_covering": values["face_covering"] or None,
        "clothing": [part.strip() for part in values["clothing"].split(",") if part.strip()],
    }
    plate = str(form.get("plate", "")).strip()
    vehicle = None
    if values["vehicle_kind"] or plate or values["vehicle_make"] or values["vehicle_colour"]:
        vehicle = {
            "kind": values["vehicle_kind"] or "unknown",
            "make": values["vehicle_make"] or None,
            "colour": values["vehicle_colour"] or None,
            "plate": plate or None,
        }
    item = {
        "event_id": event_id,
        "reporter_org": caller.organisation_id,
        "branch": branch,
        "observed_at": observed_at.isoformat(),
        "behaviours": values["behaviours"],
        "persons": [person] if any(person.values()) else [],
        "vehicle": vehicle,
        "free_text": values["free_text"] or None,
    }
    if errors:
        # The rest is judged as the intake would (a time ahead, an unreadable plate), so that
        # staff correct everything in one go; a whole-report reason waits for the fields.
        others = [
            problem
            for problem in malformed(RECON_SIGHTING, item)
            if problem.field.split(".")[0] not in named and problem.field != "(body)"
        ]
        return errors + [_problem_text(words, problem) for problem in others], None
    return [], item


def _values(form: FormData) -> dict[str, Any]:
    """What was entered, to fill the form again; never the plate, which is not echoed back."""
    values: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in _TEXT_FIELDS}
    values["behaviours"] = [str(value) for value in form.getlist("behaviours")]
    return values


def _event_id(form: FormData) -> str:
    # The id comes with the page, so a double submit is a replay, not a second report.
    try:
        return str(uuid.UUID(str(form.get("event_id", ""))))
    except ValueError:
        return str(uuid.uuid4())


async def _branch(intake: Intake, caller: Caller, branch_id: str) -> dict[str, Any] | None:
    """One of the caller's branches (as in the form's choices), as registered; else None.

    Another organisation's branch is None just like an unknown one, so the form never tells
    which branch ids exist (a 403 for one and a 422 for the other did). The intake still judges
    ownership and takes the branch from the registry (producers/api/registry.py).
    """
    row = await intake.pool.fetchrow(
        """SELECT branch_id, chain, branch_type, lat, lon, street, postcode, city FROM branch
            WHERE branch_id = $2
              AND (organisation_id = $1
                   OR organisation_id IN (SELECT member_id FROM association_member
                                           WHERE association_id = $1))""",
        caller.organisation_id,
        branch_id,
    )
    if row is None:
        return None
    address = None
    if row["street"] and row["postcode"] and row["city"]:
        address = {"street": row["street"], "postcode": row["postcode"], "city": row["city"]}
    return {
        "branch_id": row["branch_id"],
        "chain": row["chain"],
        "branch_type": row["branch_type"],
        "location": {"lat": row["lat"], "lon": row["lon"]},
        "address": address,
    }


async def _branch_choices(intake: Intake, session: StaffSession) -> list[dict[str, str]]:
    """The session's branch, named as staff know it ('Super A, Damrak 1, Amsterdam'): its id
    is an organisation's number, which the form posts but staff need not read."""
    rows = await intake.pool.fetch(
        "SELECT branch_id, chain, street, city FROM branch WHERE branch_id = $1",
        session.branch_id,
    )
    return [
        {
            "branch_id": row["branch_id"],
            "label": ", ".join(part for part in (row["chain"], row["street"], row["city"]) if part)
            or row["branch_id"],
        }
        for row in rows
    ]


# pydantic's words for a value not among an enum's ("Input should be 'slim', 'medium' or
# 'heavy'"): the identifiers mean nothing to staff, who chose from the form's list.
_NOT_A_CHOICE = re.compile(r"(Value error, )?Input should be '")


def _problem_text(words: Words, problem: FieldProblem) -> str:
    """'Kleding: mag ten hoogste 60 tekens hebben': the form's label and the reason."""
    field = re.sub(r"\.\d+$", "", problem.field)  # "persons.0.clothing.0": the clothing field
    if _NOT_A_CHOICE.match(problem.reason):
        return f"{words.field(field)}: {words('pick_option')}"
    return f"{words.field(field)}: {said_in(problem.reason, words.language)}"


def _refusal_text(words: Words, refusal: Refused) -> str:
    """Why the report was refused, as staff can act on it: the intake's reason ('an
    organisation with role police may not post ...') is the log's, not theirs."""
    if refusal.status == 429:
        return words("too_many", seconds=refusal.retry_after)
    logger.info("meld report refused", extra={"status": refusal.status, "reason": refusal.reason})
    return words("not_allowed")


def _answer_text(words: Words, status: int, detail: object) -> str:
    if status == 503:
        return words("unavailable")
    logger.info("meld report not taken", extra={"status": status, "detail": str(detail)})
    if status == 403:
        return words("not_your_branch")
    if status == 409:
        return words("conflict")
    return words("failed")
