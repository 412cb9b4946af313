"""What the police can look at for a robbery or hold-up: registered cameras and Liveview.

Police only: the desk is the police's, and nothing here is put on the alert itself, so branch
views and webhooks never carry it (tests/consumers/test_desk_cameras.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from heterdaad.camera_registry import NearbyCamera, cameras_near
from schemas.alerts import AlertKind
from schemas.common import Location

if TYPE_CHECKING:
    import asyncpg

    from consumers.desk.alerts import AlertCard

# Robberies and hold-ups: where footage of the offenders arriving or fleeing is worth asking for.
CAMERA_KINDS = frozenset(
    {AlertKind.HOLD_UP_IN_PROGRESS, AlertKind.VERIFIED_ALARM, AlertKind.ROBBERY_REPORTED}
)
# Liveview is for watching while it happens: a hold-up alarm, verified or not.
LIVEVIEW_KINDS = frozenset({AlertKind.HOLD_UP_IN_PROGRESS, AlertKind.VERIFIED_ALARM})


@dataclass(frozen=True)
class Lookable:
    """The cameras near an alert (empty when its kind has none) and its site's Liveview link."""

    cameras: tuple[NearbyCamera, ...] = ()
    liveview_url: str | None = None
    shows_cameras: bool = False


async def liveview_of(pool: asyncpg.Pool, card: AlertCard) -> str | None:
    """The Liveview link of the alarm site a hold-up alert is about, if it has one."""
    if card.kind not in LIVEVIEW_KINDS or card.alert is None or card.alert.site_id is None:
        return None
    url: str | None = await pool.fetchval(
        "SELECT liveview_url FROM alarm_site WHERE site_id = $1", card.alert.site_id
    )
    return url


async def lookable(pool: asyncpg.Pool, card: AlertCard, radius_m: float) -> Lookable:
    if card.kind not in CAMERA_KINDS:
        return Lookable(liveview_url=await liveview_of(pool, card))
    cameras = await cameras_near(pool, Location(lat=card.lat, lon=card.lon), radius_m)
    return Lookable(tuple(cameras), await liveview_of(pool, card), shows_cameras=True)
