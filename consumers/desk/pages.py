"""Rendering the desk's pages (Jinja2 templates in consumers/desk/templates), escaped throughout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from consumers.alert_text import BRANCH_TYPE, UNIT
from consumers.desk.alerts import Outcome
from consumers.desk.basemap import base_map, metres, project
from consumers.desk.nearby import Lookable
from consumers.desk.texts import Words
from heterdaad.notation import number
from schemas.alerts import BULLETIN_MAX_CHARS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from consumers.desk.alerts import AlertCard
    from consumers.desk.judgements import Judged, Judgement
    from consumers.desk.users import DeskSession
    from heterdaad.language import Language
    from heterdaad.thresholds.desk import DeskThresholds

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# A cells-only area has no radius; drawn this size it is still visible on a unit's map.
_CELLS_RADIUS_M = 500.0

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _map_point(card: AlertCard) -> dict[str, str]:
    """Where an alert's area lies, for the row's data attributes: in degrees and metres for the
    tile map, in SVG units for the offline sketch."""
    x, y = project(card.lat, card.lon)
    radius_m = card.radius_m or _CELLS_RADIUS_M
    return {
        "x": f"{x:.2f}",
        "y": f"{y:.2f}",
        "r": f"{metres(radius_m):.2f}",
        "lat": f"{card.lat:.6f}",
        "lon": f"{card.lon:.6f}",
        "radius_m": f"{radius_m:.0f}",
    }


_environment.globals["map_point"] = _map_point


def _render(name: str, **context: Any) -> str:
    return _environment.get_template(name).render(**context)


def login_page(language: Language, *, login_token: str, error: str | None = None) -> str:
    return _render("login.html", t=Words(language), login_token=login_token, error=error)


def desk_page(
    session: DeskSession,
    language: Language,
    *,
    cards: list[AlertCard],
    history: list[AlertCard],
    position: str,
    hours: float,
    escalate_seconds: float,
    tiles: DeskThresholds,
) -> str:
    return _render(
        "desk.html",
        tiles=tiles,
        t=Words(language),
        session=session,
        unit_name=UNIT[session.user.police_unit],
        cards=cards,
        history=history,
        csrf=session.csrf_token,
        position=position,
        # '1,5' in Dutch, '1.5' in English; a whole number as it is.
        hours=f"{hours:g}" if hours == int(hours) else number(hours, 1, language),
        no_alerts="no_alerts_one" if hours == 1 else "no_alerts",
        escalate_seconds=f"{escalate_seconds:g}",
        escalated=sum(card.state == "escalated" for card in cards),
        basemap=base_map(session.user.police_unit),
    )


def detail_page(
    session: DeskSession,
    language: Language,
    card: AlertCard,
    *,
    escalate_seconds: float,
    tiles: DeskThresholds,
    nearby: Lookable | None = None,
    judgements: Sequence[Judgement] = (),
    judged: Judged | None = None,
) -> str:
    return _render(
        "detail.html",
        nearby=nearby or Lookable(),
        judgements=judgements,
        judged=judged,
        camera_radius=f"{tiles.camera_radius_m:g}",
        tiles=tiles,
        t=Words(language),
        session=session,
        unit_name=UNIT[session.user.police_unit],
        card=card,
        csrf=session.csrf_token,
        outcomes=list(Outcome),
        escalate_seconds=f"{escalate_seconds:g}",
        basemap=base_map(session.user.police_unit),
    )


def alert_row(card: AlertCard, language: Language, csrf: str) -> str:
    """One alert of the list, as the page first shows it and as the live stream sends it."""
    return _render("_row.html", t=Words(language), card=card, csrf=csrf)


def message_page(language: Language, key: str, *, session: DeskSession | None = None) -> str:
    return _render("message.html", t=Words(language), key=key, session=session)


def bulletin_page(
    session: DeskSession,
    language: Language,
    *,
    text: str = "",
    chosen: Sequence[str] = (),
    error: str | None = None,
    sent: bool = False,
) -> str:
    """The form a unit's police write a modus operandi bulletin on (consumers/desk/bulletins)."""
    return _render(
        "bulletin.html",
        t=Words(language),
        session=session,
        unit_name=UNIT[session.user.police_unit],
        csrf=session.csrf_token,
        branch_types=[(kind.value, labels[language]) for kind, labels in BRANCH_TYPE.items()],
        text=text,
        chosen=frozenset(chosen),
        error=error,
        sent=sent,
        most=BULLETIN_MAX_CHARS,
    )
