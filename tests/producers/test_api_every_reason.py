"""A refused event names every reason the API can know at once, through Kafka and PostgreSQL.

A field the model refuses used to stop the intake policy (producers/edge_policy.py) from
running: a report with a count of 'drie' and a time a year ahead was answered for the count
only, and the time was heard of after the fix.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from schemas.topics import ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS
from tests.producers import bodies
from tests.producers.intake_support import published_count

if TYPE_CHECKING:
    import httpx

    from heterdaad.settings import Settings
    from schemas.topics import TopicSpec
    from tests.producers.intake_support import Registry

FUTURE = "lies in the future by more than the allowed clock skew (2 minutes)"


def _ahead() -> str:
    return (datetime.now(UTC) + timedelta(days=365)).isoformat()


def _reasons(detail: list[dict[str, str]]) -> dict[str, str]:
    return {problem["field"]: problem["reason"] for problem in detail}


def _incident_report() -> dict[str, Any]:
    return bodies.incident_report() | {"offender_count": "drie", "occurred_at": _ahead()}


def _alarm_activation() -> dict[str, Any]:
    return bodies.alarm_activation() | {"signal": "boom", "received_at": _ahead()}


def _recon_sighting() -> dict[str, Any]:
    return bodies.recon_sighting() | {"behaviours": [], "observed_at": _ahead()}


@pytest.mark.parametrize(
    ("path", "key", "body", "spec", "malformed", "ahead"),
    [
        # A count that is no number, and a robbery a year from now.
        ("incident-reports", "retail-a", _incident_report, INCIDENT_REPORTS,
         "offender_count", "occurred_at"),
        # A signal no alarm sends, and received a year from now.
        ("alarm-activations", "pac-1", _alarm_activation, ALARM_ACTIVATIONS,
         "signal", "received_at"),
        # No behaviour seen, and seen a year from now.
        ("recon-sightings", "retail-a", _recon_sighting, RECON_SIGHTINGS,
         "behaviours", "observed_at"),
    ],
)  # fmt: skip
async def test_a_malformed_field_and_a_time_ahead_are_named_in_one_422(
    settings: Settings,
    registry: Registry,
    client: httpx.AsyncClient,
    path: str,
    key: str,
    body: Any,
    spec: TopicSpec,
    malformed: str,
    ahead: str,
) -> None:
    response = await client.post(f"/v1/{path}", json=body(), headers=registry.auth(key))
    assert response.status_code == 422, response.text
    reasons = _reasons(response.json()["detail"])
    assert set(reasons) == {malformed, ahead}, reasons
    # The reason as said, without pydantic's "Value error, " before it.
    assert reasons[ahead] == FUTURE

    response = await client.post(f"/v1/{path}/batch", json=[body()], headers=registry.auth(key))
    assert response.status_code == 207, response.text
    for result in response.json()["results"]:
        assert result["status"] == 422
        assert set(_reasons(result["detail"])) == {malformed, ahead}
    assert await published_count(settings, spec) == 0


def _verified(minutes_after_press: float, **changes: Any) -> dict[str, Any]:
    body = bodies.alarm_activation() | changes
    pressed = datetime.fromisoformat(body["occurred_at"])
    at = pressed + timedelta(minutes=minutes_after_press)
    body["verification"] = {"method": "camera", "verified": True, "at": at.isoformat()}
    return body


async def test_a_verification_before_the_press_is_refused_beyond_the_clock_skew(
    settings: Settings, registry: Registry, client: httpx.AsyncClient
) -> None:
    # Ten minutes before the press: no centre verifies an alarm before it is pressed.
    early = _verified(-10)
    response = await client.post(
        "/v1/alarm-activations", json=early, headers=registry.auth("pac-1")
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["field"] == "verification.at"
    assert problem["reason"] == (
        f"lies before occurred_at ({early['occurred_at']}) by more than the "
        "allowed clock skew (2 minutes)"
    )
    # With a field of its own refused, it is named beside it.
    response = await client.post(
        "/v1/alarm-activations", json=_verified(-10, signal="boom"), headers=registry.auth("pac-1")
    )
    assert response.status_code == 422, response.text
    assert set(_reasons(response.json()["detail"])) == {"signal", "verification.at"}
    # A minute before: the centre's clock and the panel's differ within the skew.
    response = await client.post(
        "/v1/alarm-activations", json=_verified(-1), headers=registry.auth("pac-1")
    )
    assert response.status_code == 202, response.text
    assert await published_count(settings, ALARM_ACTIVATIONS) == 1
