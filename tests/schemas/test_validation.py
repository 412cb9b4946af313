"""The contract refuses what is wrong and says which field and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from schemas.events import IncidentReport, ReconSighting
from schemas.wire import explain
from tests import factories


def _errors(model: type[IncidentReport] | type[ReconSighting], payload: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(payload, default=str))
    return explain(caught.value)


def _report_payload() -> dict[str, object]:
    payload: dict[str, object] = json.loads(factories.incident_report().model_dump_json())
    return payload


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        # An unknown field is refused, not ignored: a typo must not lose information.
        ({"weapon": ["knife"]}, "weapon", "Extra inputs are not permitted"),
        # Amsterdam is fine, London is not in the Netherlands.
        (
            {
                "branch": {
                    **factories.branch().model_dump(mode="json"),
                    "location": {"lat": 51.5, "lon": -0.12},
                }
            },
            "branch.location.lon",
            "greater than or equal to 3.3",
        ),
        # A time without a zone is ambiguous around the DST change.
        ({"occurred_at": "2026-11-01T12:00:00"}, "occurred_at", "timezone"),
        # Enums are closed: an unknown incident type is an error, not a new category.
        ({"incident_type": "inbraak"}, "incident_type", "Input should be"),
        # Plates travel only as pseudonyms; a raw plate in that field is refused.
        (
            {"getaway": {"mode": "car", "vehicle": {"kind": "car", "plate_pseudonym": "12-ABC-3"}}},
            "getaway.vehicle.plate_pseudonym",
            "should match pattern",
        ),
        # A NUL byte is no text: PostgreSQL would refuse it in the store, so the contract does.
        ({"free_text": "overval\u0000"}, "free_text", "contains a control character"),
        # At least one offender when a count is given, and not an army.
        ({"offender_count": 0}, "offender_count", "greater than or equal to 1"),
    ],
)
def test_incident_report_rejects(change: dict[str, object], field: str, reason: str) -> None:
    message = _errors(IncidentReport, _report_payload() | change)
    assert field in message
    assert reason in message


@pytest.mark.parametrize(
    "change",
    [
        # An hour ahead of this reader's clock: the writer's clock may run ahead of it, and
        # the edge that took the event in has judged its time (producers/edge_policy.py).
        {"occurred_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
        # Brussels lies inside the bounding box: the edge's gazetteer refuses it, not the wire.
        {
            "branch": {
                **factories.branch().model_dump(mode="json"),
                "location": {"lat": 50.85, "lon": 4.35},
            }
        },
    ],
)
def test_the_wire_checks_shape_not_intake_policy(change: dict[str, object]) -> None:
    IncidentReport.model_validate_json(json.dumps(_report_payload() | change))


def test_sighting_needs_a_branch_or_a_location() -> None:
    payload = json.loads(factories.recon_sighting().model_dump_json()) | {"branch": None}
    assert "give the branch or the location" in _errors(ReconSighting, payload)


def test_alarm_received_before_it_occurred_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        factories.alarm_activation(
            occurred_at=datetime.now(UTC), received_at=datetime.now(UTC) - timedelta(minutes=5)
        )
    [error] = refused.value.errors()
    assert error["loc"] == ("received_at",)
    assert "lies before occurred_at" in error["msg"]


def test_models_are_immutable() -> None:
    report = factories.incident_report()
    with pytest.raises(ValidationError):
        report.offender_count = 3  # type: ignore[misc]
