"""Camera in Beeld: the cameras owners registered with the police, stored, listed and found nearby.

The owner's contact is personal data: this module serves only police views (the desk, the
police and admin API); nothing here is ever put on an alert or sent to a branch.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import asyncpg
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from heterdaad.audit import AuditRow, write_audit_rows
from heterdaad.db import transaction
from heterdaad.spreadsheet import plain_cell
from schemas.common import Location, refuse_control_characters
from schemas.distance import METRES_PER_DEGREE_LAT, metres_between

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


logger = logging.getLogger(__name__)

CameraId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
# One column per field, in this order, in a CSV import (docs/cameras.md).
CSV_COLUMNS = (
    "camera_id", "owner", "contact_phone", "contact_email", "lat", "lon", "place", "view",
    "retention_days",
)  # fmt: skip


class CameraSpec(BaseModel):
    """A camera as its owner registers it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    camera_id: CameraId
    owner: Annotated[str, Field(min_length=1, max_length=120, description="Organisation or name.")]
    contact_phone: Annotated[str | None, Field(pattern=r"^\+?[0-9 ()-]{6,40}$")] = None
    contact_email: Annotated[
        str | None, Field(pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$", max_length=254)
    ] = None
    location: Location
    place: Annotated[str, Field(min_length=1, max_length=200, description="Address or place.")]
    view: Annotated[
        str, Field(min_length=1, max_length=200, description="What it sees: 'straat en ingang'.")
    ]
    retention_days: Annotated[int, Field(ge=1, le=366, description="How long footage is kept.")]

    @field_validator("owner", "contact_phone", "contact_email", "place", "view", mode="after")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else refuse_control_characters(value)

    @model_validator(mode="after")
    def _reachable(self) -> CameraSpec:
        # A registration is for asking footage: without a way to reach the owner it is useless.
        if self.contact_phone is None and self.contact_email is None:
            raise ValueError("contact_phone or contact_email is required")
        return self


class Camera(CameraSpec):
    registered_at: datetime


@dataclass(frozen=True)
class NearbyCamera:
    camera: Camera
    metres: float


class CameraAction(StrEnum):
    """Audit actions of the registry (audit_log.action is plain text): owners' contacts are
    personal data, so every change and every read of the registry leaves a row."""

    REGISTERED = "camera_registered"
    REMOVED = "camera_removed"
    READ = "cameras_read"




class CameraExistsError(Exception):
    """A camera id that is already registered."""


_COLUMNS = (
    "camera_id, owner, contact_phone, contact_email, lat, lon, place, view, retention_days, "
    "registered_at"
)


def _camera(row: asyncpg.Record) -> Camera:
    return Camera(
        camera_id=row["camera_id"],
        owner=row["owner"],
        contact_phone=row["contact_phone"],
        contact_email=row["contact_email"],
        location=Location(lat=row["lat"], lon=row["lon"]),
        place=row["place"],
        view=row["view"],
        retention_days=row["retention_days"],
        registered_at=row["registered_at"],
    )


def _audit_row(actor: str, action: CameraAction, subject: str, **details: object) -> AuditRow:
    return AuditRow(datetime.now(UTC), actor, action.value, subject, details)


async def add_camera(
    db: asyncpg.Connection | asyncpg.Pool, spec: CameraSpec, *, actor: str
) -> Camera:
    """Register a camera, audited; CameraExistsError when its id is taken (no overwrite)."""
    async with transaction(db) as connection:
        row = await connection.fetchrow(
            f"""INSERT INTO camera (camera_id, owner, contact_phone, contact_email, lat, lon,
                                    place, view, retention_days)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (camera_id) DO NOTHING RETURNING {_COLUMNS}""",
            spec.camera_id, spec.owner, spec.contact_phone, spec.contact_email,
            spec.location.lat, spec.location.lon, spec.place, spec.view, spec.retention_days,
        )  # fmt: skip
        if row is not None:
            audit = _audit_row(actor, CameraAction.REGISTERED, spec.camera_id)
            await write_audit_rows(connection, [audit])
    if row is None:
        raise CameraExistsError(f"camera {spec.camera_id} is already registered")
    logger.info("camera registered", extra={"camera_id": spec.camera_id})
    return _camera(row)


async def list_cameras(
    db: asyncpg.Connection | asyncpg.Pool, camera_id: str | None = None, *, actor: str
) -> list[Camera]:
    """Every registered camera (or the one asked for), by id; the read is audited."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM camera WHERE $1::text IS NULL OR camera_id = $1 "
        "ORDER BY camera_id",
        camera_id,
    )
    read = _audit_row(actor, CameraAction.READ, camera_id or "(all)",
                      camera_ids=[row["camera_id"] for row in rows])  # fmt: skip
    await write_audit_rows(db, [read])
    return [_camera(row) for row in rows]


async def remove_camera(
    db: asyncpg.Connection | asyncpg.Pool, camera_id: str, *, actor: str
) -> bool:
    """Forget a camera (its owner withdrew it), audited; False when there was none."""
    async with transaction(db) as connection:
        removed = await connection.fetchval(
            "DELETE FROM camera WHERE camera_id = $1 RETURNING camera_id", camera_id
        )
        if removed is not None:
            audit = _audit_row(actor, CameraAction.REMOVED, camera_id)
            await write_audit_rows(connection, [audit])
    if removed is not None:
        logger.info("camera removed", extra={"camera_id": camera_id})
    return removed is not None


async def cameras_near(
    db: asyncpg.Connection | asyncpg.Pool, where: Location, radius_m: float
) -> list[NearbyCamera]:
    """The cameras within radius_m of a point, nearest first (ties by id)."""
    lat_span = radius_m / METRES_PER_DEGREE_LAT
    lon_span = lat_span / max(math.cos(math.radians(where.lat)), 0.01)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM camera WHERE lat BETWEEN $1 AND $2 AND lon BETWEEN $3 AND $4",
        where.lat - lat_span, where.lat + lat_span, where.lon - lon_span, where.lon + lon_span,
    )  # fmt: skip
    found = []
    for row in rows:
        metres = metres_between(where.lat, where.lon, row["lat"], row["lon"])
        if metres <= radius_m:
            found.append(NearbyCamera(camera=_camera(row), metres=metres))
    return sorted(found, key=lambda near: (near.metres, near.camera.camera_id))


# --- CSV import ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedRow:
    """A CSV row that was not imported: its line, the column at fault and why (never the cell's
    text: it may hold a phone number or a formula)."""

    line: int
    column: str
    reason: str


def _column_of(loc: Sequence[int | str]) -> str:
    if not loc:
        return "(row)"
    if loc[0] == "location":
        return str(loc[1]) if len(loc) > 1 else "lat"
    return str(loc[0])


def _reason(message: str) -> str:
    # pydantic's messages name limits and patterns, never the input; strip its "Value error, ".
    return message.removeprefix("Value error, ")


def parse_csv(lines: Iterable[str]) -> tuple[list[CameraSpec], list[RejectedRow]]:
    """The cameras of a CSV file with the CSV_COLUMNS header, and the rows refused."""
    reader = csv.DictReader(lines)
    header = [name.strip() for name in reader.fieldnames or ()]
    missing = [name for name in CSV_COLUMNS if name not in header]
    if missing:
        return [], [RejectedRow(1, name, "column missing from the header") for name in missing]
    reader.fieldnames = header
    specs: list[CameraSpec] = []
    rejected: list[RejectedRow] = []
    seen: set[str] = set()
    for record in reader:
        line = reader.line_num
        if None in record:
            rejected.append(RejectedRow(line, "(row)", "more cells than columns"))
            continue
        # `camera list --csv` quoted what a spreadsheet would run ('+31 20…): unquoted again.
        cells = {name: plain_cell((record.get(name) or "").strip()) for name in CSV_COLUMNS}
        try:
            spec = CameraSpec(
                camera_id=cells["camera_id"],
                owner=cells["owner"],
                contact_phone=cells["contact_phone"] or None,
                contact_email=cells["contact_email"] or None,
                location={"lat": cells["lat"], "lon": cells["lon"]},
                place=cells["place"],
                view=cells["view"],
                retention_days=cells["retention_days"],
            )
        except ValidationError as error:
            for problem in error.errors(include_input=False):
                rejected.append(RejectedRow(line, _column_of(problem["loc"]),
                                            _reason(problem["msg"])))  # fmt: skip
            continue
        if spec.camera_id in seen:
            rejected.append(RejectedRow(line, "camera_id", "appears twice in the file"))
            continue
        seen.add(spec.camera_id)
        specs.append(spec)
    return specs, rejected
