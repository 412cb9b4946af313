"""Modus operandi bulletins (§7.3 c, §7.6 d): a unit's police share a new way of working of
robbers with the branches at risk in their unit, as one alert on the alerts topic."""

from __future__ import annotations

import functools
import logging
import math
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consumers.desk.audit import DeskAction, write_audit
from consumers.desk.basemap import places, unproject
from schemas.alerts import (
    BULLETIN_MAX_CHARS,
    Alert,
    AlertKind,
    Area,
    Severity,
    alert_id_for,
)
from schemas.common import BranchType, Location, PoliceUnit
from schemas.distance import metres_between
from schemas.pseudonym import PSEUDONYM_IN_TEXT, plates_in, without_invisible
from schemas.topics import ALERTS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from consumers.desk.users import DeskUser
    from consumers.desk.web import Desk

logger = logging.getLogger(__name__)

# Tab and newline may stay in a bulletin; every other C0 control, DEL and the C1 controls go.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The unit's circle reaches this far beyond its outermost place (a place is a town's centre).
_UNIT_MARGIN_M = 5000.0
_AREA_MAX_M = 100_000.0
BULLETIN_PREFIX = "mo-bulletin"


@dataclass(frozen=True)
class Bulletin:
    """What a police user wrote: the way of working, and the kinds of branch it concerns."""

    text: str
    branch_types: tuple[BranchType, ...]


@dataclass(frozen=True)
class BulletinRefusal:
    """A field of the form that cannot be sent, and why (texts.py keys `bulletin_<reason>`)."""

    field: str
    reason: str


def read_bulletin(
    text: object, branch_types: Sequence[object], unit: object, own_unit: PoliceUnit
) -> Bulletin | BulletinRefusal:
    """The bulletin a form gives, or the first of its fields that cannot be sent.

    The area is the user's own unit: a unit's coordinator warns its own branches (need to
    know); a form naming another unit is refused, not quietly narrowed.
    """
    if unit not in (None, "", own_unit.value):
        return BulletinRefusal("police_unit", "other_unit")
    cleaned = without_invisible(_CONTROL.sub("", text if isinstance(text, str) else "")).strip()
    if not cleaned:
        return BulletinRefusal("text", "text_missing")
    if len(cleaned) > BULLETIN_MAX_CHARS:
        return BulletinRefusal("text", "text_too_long")
    # A bulletin goes to branches, and no plate reaches a branch, nor a plate's pseudonym
    # (masked in their views of everything else; desk users see pseudonyms and may paste one):
    # refused with the reason, so the writer says the way of working without it.
    if plates_in(cleaned) or PSEUDONYM_IN_TEXT.search(cleaned):
        return BulletinRefusal("text", "text_has_plate")
    if not branch_types:
        return BulletinRefusal("branch_types", "branch_types_missing")
    kinds: list[BranchType] = []
    for given in branch_types:
        try:
            kind = BranchType(str(given))
        except ValueError:
            return BulletinRefusal("branch_types", "branch_type_unknown")
        if kind not in kinds:
            kinds.append(kind)
    return Bulletin(cleaned, tuple(kinds))


@functools.cache
def unit_area(unit: PoliceUnit) -> Area:
    """A circle around the unit's places, for the map and the neighbours' views; who receives
    a bulletin is decided by the unit a branch lies in (consumers/notify/route.py)."""
    points = [unproject(place.x, place.y) for place in places() if place.unit is unit]
    lats, lons = [lat for lat, _ in points], [lon for _, lon in points]
    lat, lon = (min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2
    reach = max(metres_between(lat, lon, p_lat, p_lon) for p_lat, p_lon in points)
    radius = min(math.ceil((reach + _UNIT_MARGIN_M) / 1000) * 1000, _AREA_MAX_M)
    return Area(center=Location(lat=round(lat, 4), lon=round(lon, 4)), radius_m=radius)


def bulletin_alert(user: DeskUser, bulletin: Bulletin, now: datetime) -> Alert:
    """The bulletin as one alert of its unit: information, happening now, a key of its own."""
    dedup_key = f"{BULLETIN_PREFIX}:{uuid.uuid4()}"
    return Alert(
        alert_id=alert_id_for(dedup_key),
        kind=AlertKind.MODUS_OPERANDI_BULLETIN,
        severity=Severity.INFO,
        area=unit_area(user.police_unit),
        police_unit=user.police_unit,
        branch_types_at_risk=list(bulletin.branch_types),
        dedup_key=dedup_key,
        created_at=now,
        occurred_at=now,
        bulletin=bulletin.text,
    )


async def send_bulletin(desk: Desk, user: DeskUser, bulletin: Bulletin) -> Alert:
    """Publish the bulletin to the alerts topic, then audit it; BrokerUnavailable when the
    broker did not acknowledge it (nothing audited: nothing was sent)."""
    now = desk.store.clock()
    alert = bulletin_alert(user, bulletin, now)
    await desk.broker.publish(ALERTS, alert, source=f"/consumers/desk/{user.police_unit.value}")
    await write_audit(
        desk.pool, at=now, actor=user.actor, action=DeskAction.BULLETIN_SENT,
        subject=str(alert.alert_id), details={
            "police_unit": user.police_unit.value,
            "branch_types": [kind.value for kind in bulletin.branch_types],
            "chars": len(bulletin.text)},
    )  # fmt: skip
    logger.info("bulletin sent", extra={"alert_id": str(alert.alert_id),
                                        "police_unit": user.police_unit.value})  # fmt: skip
    return alert
