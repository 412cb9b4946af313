"""The intake policy: every event time and every place of an event, judged once at the edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from producers.edge_policy import OUTSIDE_NETHERLANDS, admit
from schemas.common import BranchType, Location
from schemas.events import AlarmSite, Verification, VerificationMethod
from schemas.wire import explain
from tests import factories

# The factories stamp their events a few minutes before the real now.
NOW = datetime.now(UTC)
SKEW = timedelta(minutes=2)
AHEAD = NOW + timedelta(minutes=5)
# Brussels lies inside the contract's box but is nearer to Belgian places.
BRUSSELS = Location(lat=50.85, lon=4.35)


def _refusal(model: object) -> str:
    with pytest.raises(ValidationError) as caught:
        admit(model, clock_skew=SKEW, now=NOW)  # type: ignore[type-var]
    return explain(caught.value)


@pytest.mark.parametrize(
    ("model", "field"),
    [
        # The time of the robbery.
        (factories.incident_report(occurred_at=AHEAD), "occurred_at"),
        # The press, and when the centre received it.
        (factories.alarm_activation(occurred_at=NOW, received_at=AHEAD), "received_at"),
        # A time nested in the activation: when the centre verified it.
        (
            factories.alarm_activation(
                occurred_at=NOW,
                received_at=NOW,
                verification=Verification(
                    method=VerificationMethod.CAMERA, verified=True, at=AHEAD
                ),
            ),
            "verification.at",
        ),
        # When the reconnaissance was seen.
        (factories.recon_sighting(observed_at=AHEAD), "observed_at"),
    ],
)
def test_a_time_in_the_future_is_refused_naming_the_field(model: object, field: str) -> None:
    assert _refusal(model) == (
        f"{field}: Value error, lies in the future by more than the allowed clock skew (2 minutes)"
    )


def test_a_time_within_the_clock_skew_is_admitted_as_it_is() -> None:
    report = factories.incident_report(occurred_at=NOW + SKEW)
    assert admit(report, clock_skew=SKEW, now=NOW) is report


def test_a_time_beyond_the_oldest_history_is_refused_and_one_within_admitted() -> None:
    max_age = timedelta(days=1826)
    old = factories.incident_report(occurred_at=NOW - max_age - timedelta(minutes=1))
    with pytest.raises(ValidationError) as caught:
        admit(old, clock_skew=SKEW, max_age=max_age, now=NOW)
    assert explain(caught.value) == (
        "occurred_at: Value error, lies more than 1826 days in the past (max_event_age_days)"
    )
    within = factories.incident_report(occurred_at=NOW - max_age + timedelta(minutes=1))
    assert admit(within, clock_skew=SKEW, max_age=max_age, now=NOW) is within


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (factories.incident_report(branch=factories.branch(location=BRUSSELS)), "branch.location"),
        (factories.recon_sighting(branch=None, location=BRUSSELS), "location"),
        (
            factories.alarm_activation(
                site=AlarmSite(site_id="s-1", location=BRUSSELS, branch_type=BranchType.BANK)
            ),
            "site.location",
        ),
    ],
)
def test_a_place_abroad_is_refused_naming_the_field(model: object, field: str) -> None:
    assert _refusal(model) == f"{field}: Value error, {OUTSIDE_NETHERLANDS}"


def test_every_violation_is_named_at_once() -> None:
    report = factories.incident_report(
        occurred_at=AHEAD, branch=factories.branch(location=BRUSSELS)
    )
    assert _refusal(report).count("Value error") == 2


@pytest.mark.parametrize(
    ("verified_after_press", "refused"),
    [
        # Exactly the skew before the press: the centre's clock may lag the panel's that much.
        (-SKEW, False),
        # A second more: verified before it was pressed.
        (-SKEW - timedelta(seconds=1), True),
        # The usual order.
        (timedelta(seconds=30), False),
    ],
)
def test_a_verification_before_the_press_is_refused_beyond_the_clock_skew(
    verified_after_press: timedelta, refused: bool
) -> None:
    pressed = NOW - timedelta(minutes=10)
    verdict = Verification(
        method=VerificationMethod.CALLBACK, verified=True, at=pressed + verified_after_press
    )
    activation = factories.alarm_activation(
        occurred_at=pressed, received_at=pressed, verification=verdict
    )
    if not refused:
        assert admit(activation, clock_skew=SKEW, now=NOW) is activation
        return
    assert _refusal(activation) == (
        f"verification.at: Value error, lies before occurred_at ({pressed.isoformat()}) by more "
        "than the allowed clock skew (2 minutes)"
    )
