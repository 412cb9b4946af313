"""What every desk request needs: the running desk, the session behind the cookie, the language.

Cookies are HttpOnly and SameSite=Strict, so no other site can make a browser send them; every
POST also carries the session's CSRF token, checked here, as a second line of defence.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request, Response

from consumers.desk.users import session_for
from heterdaad.language import named, preferred

if TYPE_CHECKING:
    import asyncpg

    from consumers.desk.alerts import AlertStore
    from consumers.desk.live import ChangeListener, Fanout
    from consumers.desk.users import DeskSession
    from heterdaad.events import BrokerLink
    from heterdaad.language import Language
    from heterdaad.settings import Settings
    from heterdaad.thresholds.desk import DeskThresholds

SESSION_COOKIE = "heterdaad_desk"
LOGIN_COOKIE = "heterdaad_desk_login"
LANGUAGE_COOKIE = "heterdaad_desk_lang"


@dataclass(frozen=True)
class Desk:
    """The parts a running desk app shares between requests (app.state.desk)."""

    settings: Settings
    thresholds: DeskThresholds
    pool: asyncpg.Pool
    store: AlertStore
    fanout: Fanout
    listener: ChangeListener
    # The desk's one producer: bulletins go out through it (consumers/desk/bulletins.py).
    broker: BrokerLink


def desk_of(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


async def current_session(request: Request) -> tuple[str, DeskSession] | None:
    """The cookie's token and its session, if the user is logged in."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    session = await session_for(desk_of(request).pool, token)
    return None if session is None else (token, session)


def csrf_ok(session: DeskSession, presented: object) -> bool:
    return isinstance(presented, str) and hmac.compare_digest(presented, session.csrf_token)


def language_of(request: Request, session: DeskSession | None) -> Language:
    """?lang=, this browser's earlier choice, the user's, its Accept-Language, the deployment's.

    The user's language is chosen for the account (`desk user add --language`), so it outweighs
    the browser's; Accept-Language speaks only before anyone has logged in.
    """
    chosen = named(request.query_params.get("lang")) or named(request.cookies.get(LANGUAGE_COOKIE))
    if chosen is not None:
        return chosen
    if session is not None:
        return session.user.language
    return preferred(request.headers.get("accept-language")) or desk_of(request).settings.language


def remember_language(request: Request, response: Response) -> Response:
    """Keep a ?lang= choice for the following pages of this browser."""
    chosen = named(request.query_params.get("lang"))
    if chosen is not None:
        set_cookie(request, response, LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600)
    return response


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
