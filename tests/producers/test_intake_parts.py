"""The intake's pure parts, without a broker: edge models, keys, the rate limiter, the labels."""

from __future__ import annotations

import secrets
from enum import Enum
from typing import Any

import pytest
from pydantic import ValidationError

from consumers.desk.texts import term
from heterdaad.auth import hash_secret, new_key, split_key
from heterdaad.vocabulary import (
    BEHAVIOUR_LABELS,
    BUILD_LABELS,
    FACE_LABELS,
    HEIGHT_LABELS,
    VEHICLE_LABELS,
    WEAPON_LABELS,
    in_language,
)
from producers.api.edge import IncidentReportIn, PlateKey, ReconSightingIn, ReportedVehicle
from producers.api.kinds import allowed_scopes, default_scopes
from producers.api.limits import ApiLimits, RateLimiter
from schemas.events import (
    Build,
    FaceCovering,
    GetawayMode,
    HeightBand,
    IncidentReport,
    ReconBehaviour,
    ReconSighting,
    Weapon,
)
from schemas.pseudonym import pseudonymise_plate
from tests.producers import bodies

PLATE_KEY = PlateKey(secrets.token_bytes(32), "k1")


def test_incident_report_in_becomes_the_contract_with_a_pseudonym() -> None:
    edge = IncidentReportIn.model_validate(bodies.incident_report())
    report = edge.pseudonymised(PLATE_KEY)
    assert type(report) is IncidentReport
    assert report.getaway is not None and report.getaway.vehicle is not None
    assert report.getaway.vehicle.plate_pseudonym == pseudonymise_plate(
        bodies.RAW_PLATE, PLATE_KEY.key, PLATE_KEY.key_id
    )
    assert "plate" not in report.getaway.vehicle.model_dump()
    assert report.getaway.direction == "richting centrum"


def test_recon_sighting_in_becomes_the_contract() -> None:
    sighting = ReconSightingIn.model_validate(bodies.recon_sighting()).pseudonymised(PLATE_KEY)
    assert type(sighting) is ReconSighting
    assert sighting.vehicle is not None and sighting.vehicle.plate_pseudonym is not None


@pytest.mark.parametrize(
    "typed",
    [
        "12-A\u200bBC-3",  # a zero-width space inside the plate
        "12\u00ad-ABC-3",  # a soft hyphen, as a word processor leaves it
        "12-ABC-\u202e3",  # a right-to-left override before the last digit
        "\u2066\u200d12-ABC-3\u2069",  # an isolate and a zero-width joiner around it
    ],
)
def test_a_plate_with_invisible_characters_in_free_text_is_pseudonymised(typed: str) -> None:
    # Each reads as 12-ABC-3 on a screen; before, the plate pattern missed it and the raw
    # plate was published in the free text.
    body = bodies.incident_report(plate=None) | {"free_text": f"vluchtauto {typed} reed weg"}
    report = IncidentReportIn.model_validate(body).pseudonymised(PLATE_KEY)
    pseudonym = pseudonymise_plate(bodies.RAW_PLATE, PLATE_KEY.key, PLATE_KEY.key_id)
    assert report.free_text == f"vluchtauto {pseudonym} reed weg"


def test_a_text_of_invisible_characters_only_is_left_as_it_is() -> None:
    # Emptied, a chain (at least 1 character) made the CBL import stop with a traceback.
    body = bodies.incident_report(plate=None)
    body["branch"]["chain"] = "\u200b"
    report = IncidentReportIn.model_validate(body).pseudonymised(PLATE_KEY)
    assert report.branch.chain == "\u200b"


def test_a_text_without_invisible_characters_is_left_as_typed() -> None:
    body = bodies.incident_report(plate=None) | {"free_text": "café \u00e9\u0301 \U0001f697"}
    report = IncidentReportIn.model_validate(body).pseudonymised(PLATE_KEY)
    assert report.free_text == "café \u00e9\u0301 \U0001f697"


def test_the_raw_plate_does_not_show_in_repr_or_dumps() -> None:
    edge = IncidentReportIn.model_validate(bodies.incident_report())
    for text in (repr(edge), str(edge), edge.model_dump_json()):
        assert bodies.RAW_PLATE not in text


VEHICLES: list[tuple[dict[str, Any], str | None]] = [
    # a raw plate is pseudonymised
    ({"kind": "car", "plate": "12-abc-3"}, "pseudonym"),
    # a pseudonym made by the caller is kept
    ({"kind": "car", "plate_pseudonym": "hp1:k1:" + "ab" * 16}, "hp1:k1:" + "ab" * 16),
    # no plate at all is fine
    ({"kind": "scooter"}, None),
]


@pytest.mark.parametrize(("vehicle", "expected"), VEHICLES)
def test_vehicle_plates(vehicle: dict[str, Any], expected: str | None) -> None:
    result = ReportedVehicle.model_validate(vehicle).pseudonymised(PLATE_KEY)
    if expected == "pseudonym":
        expected = pseudonymise_plate("12ABC3", PLATE_KEY.key, PLATE_KEY.key_id)
    assert result.plate_pseudonym == expected


@pytest.mark.parametrize(
    ("vehicle", "reason"),
    [
        # both forms at once is ambiguous
        ({"kind": "car", "plate": "12ABC3", "plate_pseudonym": "hp1:k1:" + "ab" * 16}, "not both"),
        # punctuation only is not a plate
        ({"kind": "car", "plate": "--"}, "letters and digits"),
    ],
)
def test_vehicle_plate_errors_do_not_echo_the_plate(vehicle: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ReportedVehicle.model_validate(vehicle)
    messages = " ".join(error["msg"] for error in caught.value.errors())
    assert reason in messages
    assert "12ABC3" not in messages


def test_key_round_trip() -> None:
    key = new_key()
    assert split_key(key.plain) == (key.key_id, key.plain.split("_", 2)[2])
    assert hash_secret(key.plain.split("_", 2)[2]) == key.key_hash
    assert key.plain not in key.key_hash


@pytest.mark.parametrize(
    "presented",
    ["", "hd", "hd__secret", "xx_0123456789ab_secret", "hd_0123456789ab_", "hd_short_secret"],
)
def test_malformed_keys_are_not_split(presented: str) -> None:
    assert split_key(presented) is None


def test_scopes_follow_the_role() -> None:
    # Every role reads its own part of the event history; alerts are police information.
    assert default_scopes("alarm_centre") == ["alarm-activations:write", "events:read"]
    assert set(default_scopes("retailer")) == {
        "incident-reports:write", "recon-sightings:write", "events:read"
    }
    # The camera registry holds owners' contacts: police and admin keep it (docs/cameras.md).
    assert default_scopes("police") == ["events:read", "alerts:read", "cameras:write"]
    assert "alarm-activations:write" not in allowed_scopes("trade_association")
    # Managing subscriptions is opt-in for every role that receives alerts, never for admin.
    for role in ("alarm_centre", "retailer", "trade_association", "police"):
        assert "subscriptions:write" in allowed_scopes(role) - set(default_scopes(role))
    assert allowed_scopes("admin") == {"events:read", "alerts:read", "cameras:write"}
    for role in ("alarm_centre", "retailer", "trade_association"):
        assert "cameras:write" not in allowed_scopes(role)
    # Setting maintenance silences a site's presses: opt-in, and for alarm centres only.
    opt_in = allowed_scopes("alarm_centre") - set(default_scopes("alarm_centre"))
    assert "maintenance:write" in opt_in
    for role in ("retailer", "trade_association", "police", "admin", "neighbourhood_watch"):
        assert "maintenance:write" not in allowed_scopes(role)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_is_a_bucket_per_organisation() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2.0, burst=4, clock=clock)
    assert limiter.take("a", 4) is None  # a full bucket pays a burst
    assert limiter.take("a", 1) == 1  # empty: half a second to one token, rounded up
    assert limiter.take("b", 1) is None  # another organisation has its own bucket
    clock.now = 1.0
    assert limiter.take("a", 2) is None  # two tokens back after a second
    assert limiter.take("a", 3) == 2  # three missing at two a second
    clock.now = 100.0
    assert limiter.take("a", 5) == 1  # never more than the burst, however long one waits


def test_limits_refuse_a_batch_that_could_never_pass() -> None:
    with pytest.raises(ValidationError, match="event_burst"):
        ApiLimits(max_batch_items=500, event_burst=100)


@pytest.mark.parametrize(
    ("labels", "vocabulary"),
    [
        (BEHAVIOUR_LABELS, ReconBehaviour),
        (VEHICLE_LABELS, GetawayMode),
        (HEIGHT_LABELS, HeightBand),
        (BUILD_LABELS, Build),
        (FACE_LABELS, FaceCovering),
    ],
)
def test_every_choice_has_a_dutch_label(labels: dict[Any, str], vocabulary: type[Enum]) -> None:
    assert set(labels) == set(vocabulary)
    # and an English one, for the form and the desk in English
    assert set(in_language(labels, "en")) == set(vocabulary)


def test_a_value_two_vocabularies_share_has_each_ones_english_words() -> None:
    """FaceCovering.NONE and Weapon.NONE are both 'none', one key of a dict of members: the
    English form offered 'no weapon seen' for a face, and the English desk said it too."""
    assert in_language(FACE_LABELS, "en")[FaceCovering.NONE] == "not covered"
    assert in_language(WEAPON_LABELS, "en")[Weapon.NONE] == "no weapon seen"
    assert term(FaceCovering.NONE, "en") == "not covered"
    assert term(Weapon.NONE, "en") == "no weapon seen"
