"""The registered cameras (Camera in Beeld) near a robbery or hold-up, for its detail page.

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


@dataclass(frozen=True)
class Lookable:
    """The cameras near an alert, and whether its kind has a camera section at all."""

    cameras: tuple[NearbyCamera, ...] = ()
    shows_cameras: bool = False


async def lookable(pool: asyncpg.Pool, card: AlertCard, radius_m: float) -> Lookable:
    if card.kind not in CAMERA_KINDS:
        return Lookable()
    cameras = await cameras_near(pool, Location(lat=card.lat, lon=card.lon), radius_m)
    return Lookable(tuple(cameras), shows_cameras=True)
