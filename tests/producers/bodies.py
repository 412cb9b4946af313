"""Request bodies as callers send them, with keyword defaults naming the test registry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

RAW_PLATE = "12-ABC-3"
# The forms a raw plate could leak in: as sent and normalised.
PLATE_FORMS = (b"12-ABC-3", b"12ABC3", b"12-abc-3", b"12abc3")


def _now(minutes_ago: int = 1) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def branch(
    branch_id: str = "a-001", *, lat: float = 52.3731, lon: float = 4.8922
) -> dict[str, Any]:
    return {
        "branch_id": branch_id,
        "chain": "Super A",
        "branch_type": "supermarket",
        "location": {"lat": lat, "lon": lon},
    }


def incident_report(
    *,
    event_id: str | None = None,
    reporting_org: str = "retail-a",
    branch_id: str = "a-001",
    plate: str | None = RAW_PLATE,
    lat: float = 52.3731,
    offender_count: int = 2,
) -> dict[str, Any]:
    getaway: dict[str, Any] = {"mode": "scooter", "direction": "richting centrum"}
    if plate is not None:
        getaway["vehicle"] = {
            "kind": "scooter",
            "make": "Piaggio",
            "colour": "zwart",
            "plate": plate,
        }
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "reporting_org": reporting_org,
        "branch": branch(branch_id, lat=lat),
        "incident_type": "overval",
        "occurred_at": _now(),
        "offender_count": offender_count,
        "weapons": ["knife"],
        "loot": ["cash"],
        "getaway": getaway,
    }


def alarm_activation(
    *,
    event_id: str | None = None,
    alarm_centre: str = "pac-1",
    subscriber_account: str = "acct-1",
    site_id: str = "site-1",
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "alarm_centre": alarm_centre,
        "subscriber_account": subscriber_account,
        "site": {
            "site_id": site_id,
            "location": {"lat": 51.9244, "lon": 4.4777},
            "branch_type": "petrol_station",
        },
        "signal": "hold_up",
        "occurred_at": _now(2),
        "received_at": _now(1),
    }


def recon_sighting(
    *,
    event_id: str | None = None,
    reporter_org: str = "retail-a",
    branch_id: str | None = "a-001",
    plate: str | None = RAW_PLATE,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "reporter_org": reporter_org,
        "observed_at": _now(),
        "behaviours": ["films_entrance", "asks_closing_time"],
    }
    if branch_id is None:
        body["location"] = {"lat": 52.09, "lon": 5.12}
    else:
        body["branch"] = branch(branch_id)
    if plate is not None:
        body["vehicle"] = {"kind": "car", "colour": "grijs", "plate": plate}
    return body
