"""The intake API through real Kafka and PostgreSQL: accept, replay, refuse, limit, fail loudly."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import secrets
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from asyncpg import connection as asyncpg_connection
from asyncpg import exceptions as asyncpg_errors

from assembly.api import create_app
from consumers.sink import store
from heterdaad.logs import JsonFormatter
from heterdaad.settings import Settings
from producers.api import ApiLimits, admin
from schemas.events import IncidentReport
from schemas.pseudonym import pseudonymise_plate
from schemas.topics import ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS
from schemas.wire import decode_as
from tests import factories
from tests.kafka_helpers import read_topic
from tests.producers import bodies
from tests.producers.intake_support import Registry, published_count, running_api

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    import httpx


async def audit_rows(db: asyncpg.Connection, subject: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT actor, action, subject, details FROM audit_log WHERE subject = $1 ORDER BY at",
        subject,
    )
    return [{**dict(row), "details": json.loads(row["details"])} for row in rows]


def test_openapi_lists_every_endpoint() -> None:
    app = create_app(Settings(plate_key=secrets.token_urlsafe(32), _env_file=None))
    spec = app.openapi()
    for path in ("alarm-activations", "incident-reports", "recon-sightings"):
        assert "post" in spec["paths"][f"/v1/{path}"]
        batch = spec["paths"][f"/v1/{path}/batch"]["post"]
        assert batch["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"
    schemas = spec["components"]["schemas"]
    # The edge models are published, and a raw plate is documented as write-only.
    plate = schemas["ReportedVehicle"]["properties"]["plate"]["anyOf"][0]
    assert plate["writeOnly"] is True
    assert {"IncidentReportIn", "ReconSightingIn", "AlarmActivation"} <= set(schemas)


async def test_openapi_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert "/v1/recon-sightings/batch" in response.json()["paths"]


async def test_incident_report_is_published_with_the_plate_only_pseudonymised(
    settings: Settings,
    db: asyncpg.Connection,
    registry: Registry,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    body = bodies.incident_report()
    response = await client.post(
        "/v1/incident-reports", json=body, headers=registry.auth("retail-a")
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"event_id": body["event_id"]}

    [record] = await read_topic(
        settings.kafka_bootstrap, INCIDENT_REPORTS.name(settings.topic_prefix), count=1
    )
    headers = dict(record.headers)
    assert headers["ce_id"] == body["event_id"].encode()
    assert headers["ce_type"] == INCIDENT_REPORTS.ce_type.encode()
    assert headers["ce_source"] == b"/producers/api/retail-a"
    assert headers["ce_specversion"] == b"1.0"
    assert record.key == b"a-001"
    raw = record.value + b"".join(name.encode() + value for name, value in record.headers)
    for form in bodies.PLATE_FORMS:
        assert form not in raw
    report = decode_as(IncidentReport, INCIDENT_REPORTS, record.value, record.headers)
    assert report.getaway is not None and report.getaway.vehicle is not None
    assert report.getaway.vehicle.plate_pseudonym == pseudonymise_plate(
        bodies.RAW_PLATE, settings.require_plate_key(), settings.plate_key_id
    )

    receipt = await db.fetchrow(
        "SELECT organisation_id, status_code, body::text FROM ingest_receipt WHERE event_id = $1",
        uuid.UUID(body["event_id"]),
    )
    assert receipt is not None
    assert (receipt["organisation_id"], receipt["status_code"]) == ("retail-a", 202)
    [audit] = await audit_rows(db, body["event_id"])
    assert (audit["actor"], audit["action"]) == ("retail-a", "event_accepted")
    assert audit["details"]["kind"] == "incident_report"
    # Nothing the intake wrote to the database holds the raw plate either.
    stored = await db.fetchval(
        "SELECT string_agg(t::text, '') FROM (SELECT * FROM ingest_receipt) t"
    ) + await db.fetchval("SELECT string_agg(t::text, '') FROM (SELECT * FROM audit_log) t")
    for form in bodies.PLATE_FORMS:
        assert form.decode() not in stored
    # Nor any log line, extras included.
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "event accepted" in logged
    for form in bodies.PLATE_FORMS:
        assert form.decode() not in logged


async def test_a_report_under_the_id_of_a_stored_press_is_refused(
    settings: Settings, db: asyncpg.Connection, registry: Registry, client: httpx.AsyncClient
) -> None:
    # A press came in over SIA (no receipt); its id is in the hold-up alert's dedup key.
    press = factories.alarm_activation(alarm_centre="pac-1")
    await store(db, press)
    body = bodies.incident_report(event_id=str(press.event_id))
    response = await client.post(
        "/v1/incident-reports", json=body, headers=registry.auth("retail-a")
    )
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == (
        f"event id {press.event_id} was already used for another event"
    )
    assert await published_count(settings, INCIDENT_REPORTS) == 0


async def test_alarm_activation_of_own_subscriber_is_published(
    settings: Settings, registry: Registry, client: httpx.AsyncClient
) -> None:
    body = bodies.alarm_activation()
    response = await client.post("/v1/alarm-activations", json=body, headers=registry.auth("pac-1"))
    assert response.status_code == 202, response.text
    [record] = await read_topic(
        settings.kafka_bootstrap, ALARM_ACTIVATIONS.name(settings.topic_prefix), count=1
    )
    assert record.key == b"site-1"


async def test_replay_gets_the_first_answer_and_publishes_nothing_new(
    settings: Settings, db: asyncpg.Connection, registry: Registry, client: httpx.AsyncClient
) -> None:
    body = bodies.recon_sighting()
    auth = registry.auth("retail-a")
    first = await client.post("/v1/recon-sightings", json=body, headers=auth)
    again = await client.post("/v1/recon-sightings", json=body, headers=auth)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()

    changed = {**body, "free_text": "toch een andere melding"}
    conflict = await client.post("/v1/recon-sightings", json=changed, headers=auth)
    assert conflict.status_code == 409
    assert body["event_id"] in conflict.json()["detail"]
    # Another organisation reusing the id is refused as well, without learning more.
    other = await client.post(
        "/v1/recon-sightings",
        json=bodies.recon_sighting(
            event_id=body["event_id"], reporter_org="retail-b", branch_id="b-001"
        ),
        headers=registry.auth("retail-b"),
    )
    assert other.status_code == 409

    assert await published_count(settings, RECON_SIGHTINGS) == 1
    audit = await audit_rows(db, body["event_id"])
    assert [row["details"]["status"] for row in audit] == [202, 202, 409, 409]
    assert audit[1]["details"]["replay"] is True


async def test_concurrent_deliveries_of_one_event_publish_it_once(
    settings: Settings, registry: Registry, client: httpx.AsyncClient
) -> None:
    body = bodies.alarm_activation()
    answers = await asyncio.gather(
        *(
            client.post("/v1/alarm-activations", json=body, headers=registry.auth("pac-1"))
            for _ in range(5)
        )
    )
    assert [answer.status_code for answer in answers] == [202] * 5
    assert await published_count(settings, ALARM_ACTIVATIONS) == 1


async def test_full_batch_is_published(
    settings: Settings, registry: Registry, client: httpx.AsyncClient
) -> None:
    batch = [bodies.alarm_activation() for _ in range(500)]
    response = await client.post(
        "/v1/alarm-activations/batch", json=batch, headers=registry.auth("pac-1")
    )
    assert response.status_code == 207
    assert {result["status"] for result in response.json()["results"]} == {202}
    assert await published_count(settings, ALARM_ACTIVATIONS) == 500


async def test_an_accepted_report_is_serialised_once(
    settings: Settings,
    registry: Registry,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its JSON was made three times (a digest on validating, again once judged, again for the
    # record): now once, for the receipt's digest and the record alike.
    made: list[str] = []
    dump = IncidentReport.model_dump_json

    def counted(self: IncidentReport, **options: Any) -> str:
        made.append(str(self.event_id))
        return dump(self, **options)

    monkeypatch.setattr(IncidentReport, "model_dump_json", counted)
    batch = [bodies.incident_report(plate=None) for _ in range(3)]
    response = await client.post(
        "/v1/incident-reports/batch", json=batch, headers=registry.auth("retail-a")
    )
    assert {result["status"] for result in response.json()["results"]} == {202}
    monkeypatch.undo()
    assert sorted(made) == sorted(body["event_id"] for body in batch)
    # What is published is what the receipt's digest was taken of.
    records = await read_topic(
        settings.kafka_bootstrap, INCIDENT_REPORTS.name(settings.topic_prefix), count=3
    )
    receipts = {
        str(row["event_id"]): row["body_sha256"]
        for row in await db.fetch("SELECT event_id, body_sha256 FROM ingest_receipt")
    }
    assert {
        str(decode_as(IncidentReport, INCIDENT_REPORTS, r.value, r.headers).event_id):
        hashlib.sha256(r.value).hexdigest() for r in records
    } == receipts  # fmt: skip


async def test_batch_is_answered_per_event(
    settings: Settings, registry: Registry, client: httpx.AsyncClient
) -> None:
    good = bodies.incident_report()
    invalid = bodies.incident_report(lat=10.0)
    foreign = bodies.incident_report(branch_id="b-001")
    response = await client.post(
        "/v1/incident-reports/batch",
        json=[good, invalid, foreign, good],
        headers=registry.auth("retail-a"),
    )
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [result["status"] for result in results] == [202, 422, 403, 202]
    assert results[1]["detail"][0]["field"] == "branch.location.lat"
    assert "b-001" in results[2]["detail"]
    assert results[3]["event_id"] == good["event_id"]
    assert await published_count(settings, INCIDENT_REPORTS) == 1


async def test_batch_larger_than_allowed_is_refused(settings: Settings, registry: Registry) -> None:
    limits = ApiLimits(max_batch_items=2, event_burst=10)
    async with running_api(settings, limits) as (_, client):
        response = await client.post(
            "/v1/incident-reports/batch",
            json=[bodies.incident_report() for _ in range(3)],
            headers=registry.auth("retail-a"),
        )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "(body)"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no key"),
        pytest.param({"Authorization": "Bearer hd_000000000000_guessed"}, id="unknown key"),
        pytest.param({"Authorization": "Bearer not-a-key"}, id="malformed key"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="not a bearer key"),
    ],
)
async def test_without_a_valid_key_is_401(
    registry: Registry, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/incident-reports", json=bodies.incident_report(), headers=headers
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_revoked_key_is_401(
    db: asyncpg.Connection, registry: Registry, client: httpx.AsyncClient
) -> None:
    key_id = registry.keys["retail-a"].split("_")[1]
    assert await admin.revoke_key(db, key_id) is True
    response = await client.post(
        "/v1/incident-reports", json=bodies.incident_report(), headers=registry.auth("retail-a")
    )
    assert response.status_code == 401


FORBIDDEN = [
    # police read alerts elsewhere; they post nothing here
    (
        "politie-ams",
        "incident-reports",
        bodies.incident_report(reporting_org="politie-ams"),
        "police",
    ),
    # a retailer is not an alarm centre
    (
        "retail-a",
        "alarm-activations",
        bodies.alarm_activation(alarm_centre="retail-a"),
        "role retailer",
    ),
    # an alarm centre may not post for another centre's site
    (
        "pac-1",
        "alarm-activations",
        bodies.alarm_activation(site_id="site-2", subscriber_account="acct-9"),
        "site-2",
    ),
    # nor under another centre's name
    ("pac-1", "alarm-activations", bodies.alarm_activation(alarm_centre="pac-2"), "pac-2"),
    # nor for its own site under another subscriber account
    (
        "pac-1",
        "alarm-activations",
        bodies.alarm_activation(subscriber_account="acct-2"),
        "subscriber account",
    ),
    # a retailer may not report for another retailer's branch
    ("retail-b", "incident-reports", bodies.incident_report(reporting_org="retail-b"), "a-001"),
    # nor in another organisation's name
    ("retail-b", "incident-reports", bodies.incident_report(branch_id="b-001"), "retail-a"),
    # a retailer's sighting names one of its branches
    ("retail-a", "recon-sightings", bodies.recon_sighting(branch_id=None), "branches"),
    # the CBL reports for its members' branches only
    (
        "cbl",
        "incident-reports",
        bodies.incident_report(reporting_org="cbl", branch_id="b-001"),
        "member",
    ),
]


@pytest.mark.parametrize(("organisation_id", "path", "body", "reason"), FORBIDDEN)
async def test_scope_violations_are_403_with_the_reason(
    settings: Settings,
    db: asyncpg.Connection,
    registry: Registry,
    client: httpx.AsyncClient,
    organisation_id: str,
    path: str,
    body: dict[str, Any],
    reason: str,
) -> None:
    response = await client.post(f"/v1/{path}", json=body, headers=registry.auth(organisation_id))
    assert response.status_code == 403, response.text
    assert reason in response.json()["detail"]
    [audit] = await audit_rows(db, body["event_id"])
    assert (audit["actor"], audit["action"]) == (organisation_id, "event_rejected")
    assert audit["details"]["status"] == 403


async def test_trade_association_reports_for_member_branches_and_by_location(
    registry: Registry, client: httpx.AsyncClient
) -> None:
    auth = registry.auth("cbl")
    report = bodies.incident_report(reporting_org="cbl", branch_id="a-001")
    sighting = bodies.recon_sighting(reporter_org="cbl", branch_id=None)
    assert (await client.post("/v1/incident-reports", json=report, headers=auth)).status_code == 202
    assert (
        await client.post("/v1/recon-sightings", json=sighting, headers=auth)
    ).status_code == 202


async def test_key_without_the_scope_is_403(
    db: asyncpg.Connection, registry: Registry, client: httpx.AsyncClient
) -> None:
    narrow = await admin.issue_key(db, "retail-a", scopes=["incident-reports:write"])
    response = await client.post(
        "/v1/recon-sightings",
        json=bodies.recon_sighting(),
        headers={"Authorization": f"Bearer {narrow.key}"},
    )
    assert response.status_code == 403
    assert "recon-sightings:write" in response.json()["detail"]


async def test_invalid_event_is_422_naming_each_field(
    db: asyncpg.Connection, registry: Registry, client: httpx.AsyncClient
) -> None:
    body = bodies.incident_report(lat=10.0, plate="!!")
    del body["incident_type"]
    response = await client.post(
        "/v1/incident-reports", json=body, headers=registry.auth("retail-a")
    )
    assert response.status_code == 422
    fields = {problem["field"]: problem["reason"] for problem in response.json()["detail"]}
    assert set(fields) == {"branch.location.lat", "incident_type", "getaway.vehicle.plate"}
    assert "greater than or equal to 50.7" in fields["branch.location.lat"]
    assert "letters and digits" in fields["getaway.vehicle.plate"]
    [audit] = await audit_rows(db, body["event_id"])
    assert audit["details"]["status"] == 422


async def test_malformed_json_is_422(registry: Registry, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/incident-reports",
        content=b'{"event_id": ',
        headers={**registry.auth("retail-a"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "(body)"


async def test_a_compressed_body_is_422_saying_so(
    registry: Registry, client: httpx.AsyncClient
) -> None:
    # Before, the reason was "Invalid JSON: 'utf-8' codec can't decode byte 0x8b".
    response = await client.post(
        "/v1/incident-reports",
        content=gzip.compress(json.dumps(bodies.incident_report()).encode()),
        headers={
            **registry.auth("retail-a"),
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem == {
        "field": "(body)",
        "reason": "Content-Encoding gzip is not taken: send the JSON uncompressed",
    }


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        # A repeated key: most parsers keep the last, some the first; a check in front of
        # the API could have read the other one.
        (b'{"event_id": "a", "incident_type": "overval", "incident_type": "winkeldiefstal"}',
         "the key 'incident_type' appears more than once"),
        (b'[{"event_id": "a"}, {"event_id": "b", "event_id": "c"}]',
         "the key 'event_id' appears more than once"),
        (b'{"offender_count": NaN}', "NaN is not a JSON number"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)  # fmt: skip
async def test_json_that_readers_could_read_differently_is_422(
    registry: Registry, client: httpx.AsyncClient, content: bytes, reason: str
) -> None:
    path = "/v1/incident-reports/batch" if content.startswith(b"[") else "/v1/incident-reports"
    response = await client.post(
        path, content=content,
        headers={**registry.auth("retail-a"), "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["field"] == "(body)" and reason in problem["reason"], problem


async def test_body_over_the_limit_is_413(settings: Settings, registry: Registry) -> None:
    limits = ApiLimits(max_body_bytes=2048)
    body = bodies.incident_report()
    body["free_text"] = "x" * 1900
    async with running_api(settings, limits) as (_, client):
        declared = await client.post(
            "/v1/incident-reports", json=body, headers=registry.auth("retail-a")
        )

        async def chunks() -> AsyncIterator[bytes]:
            # Streamed without Content-Length: the limit is counted as the body arrives.
            encoded = json.dumps(body).encode()
            for start in range(0, len(encoded), 512):
                yield encoded[start : start + 512]

        streamed = await client.post(
            "/v1/incident-reports",
            content=chunks(),
            headers={**registry.auth("retail-a"), "Content-Type": "application/json"},
        )
    assert declared.status_code == 413
    assert streamed.status_code == 413


async def test_rate_limit_is_429_with_retry_after(
    settings: Settings, db: asyncpg.Connection, registry: Registry
) -> None:
    limits = ApiLimits(events_per_second=0.01, event_burst=2, max_batch_items=2)
    async with running_api(settings, limits) as (_, client):
        answers = []
        for _ in range(3):
            body = bodies.recon_sighting()
            answers.append(
                await client.post(
                    "/v1/recon-sightings", json=body, headers=registry.auth("retail-a")
                )
            )
        # Another organisation has a bucket of its own.
        other = await client.post(
            "/v1/recon-sightings",
            json=bodies.recon_sighting(reporter_org="retail-b", branch_id="b-001"),
            headers=registry.auth("retail-b"),
        )
    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert other.status_code == 202
    [audit] = await audit_rows(db, body["event_id"])
    assert audit["details"]["status"] == 429


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_broker_is_503_with_retry_after(
    settings: Settings, db: asyncpg.Connection, registry: Registry
) -> None:
    dead = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{_dead_port()}"})
    body = bodies.incident_report()
    async with running_api(dead) as (_, client):
        response = await client.post(
            "/v1/incident-reports", json=body, headers=registry.auth("retail-a")
        )
        health = await client.get("/health")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert health.status_code == 503
    assert health.json() == {"database": True, "broker": False}
    # Not acknowledged, so not kept: the retry is judged afresh.
    assert await db.fetchval("SELECT count(*) FROM ingest_receipt") == 0
    [audit] = await audit_rows(db, body["event_id"])
    assert audit["details"]["status"] == 503


async def test_producer_lost_underway_is_503_after_the_timeout_and_a_retry_succeeds(
    settings: Settings, registry: Registry
) -> None:
    body = bodies.alarm_activation()
    auth = registry.auth("pac-1")
    async with running_api(settings, ApiLimits(publish_timeout_seconds=1.0)) as (app, client):
        link = app.state.intake.broker
        await link.producer.stop()
        failed = await client.post("/v1/alarm-activations", json=body, headers=auth)
        # A fresh link (as after a restart) takes the same event and accepts it once.
        await link.stop()
        await link.start()
        retried = await client.post("/v1/alarm-activations", json=body, headers=auth)
    assert failed.status_code == 503
    assert "no acknowledgement within" in failed.json()["detail"]
    assert "Retry-After" in failed.headers
    assert retried.status_code == 202
    assert await published_count(settings, ALARM_ACTIVATIONS) == 1


@pytest.mark.parametrize(
    "error",
    [
        # What asyncpg raised in tests/test_fault_database.py while PostgreSQL was away; each
        # was a 500 (the client gives up) before the app mapped every kind to 503.
        asyncpg_errors.CannotConnectNowError("the database system is starting up"),
        asyncpg_errors.AdminShutdownError("terminating connection due to administrator command"),
        ConnectionResetError(104, "Connection reset by peer"),
        ConnectionError("unexpected connection_lost() call"),
        asyncpg_errors.InternalClientError("cannot switch to state 12"),
        # Mapped before: the connection refused or gone.
        asyncpg_errors.ConnectionDoesNotExistError("connection was closed"),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_database_away_is_503_with_retry_after(
    settings: Settings, registry: Registry, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    async def database_away(*args: object, **kwargs: object) -> None:
        raise error

    async with running_api(settings) as (_, client):
        # The first query of a request (the caller's key) meets the database away.
        monkeypatch.setattr(asyncpg_connection.Connection, "fetchrow", database_away)
        response = await client.post(
            "/v1/incident-reports", json=bodies.incident_report(), headers=registry.auth("retail-a")
        )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1


async def test_intake_policy_is_a_422_naming_the_field_single_and_batch(
    settings: Settings, registry: Registry, client: httpx.AsyncClient
) -> None:
    # The wire takes any aware time and any point in the box; the API's edge policy
    # (producers/edge_policy.py) refuses a time ahead of its clock and a point abroad.
    ahead = bodies.incident_report() | {
        "occurred_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    }
    brussels = bodies.incident_report()
    brussels["branch"]["location"] = {"lat": 50.85, "lon": 4.35}
    response = await client.post(
        "/v1/incident-reports", json=ahead, headers=registry.auth("retail-a")
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["field"] == "occurred_at"
    assert "in the future" in problem["reason"]

    good = bodies.incident_report()
    response = await client.post(
        "/v1/incident-reports/batch", json=[brussels, good], headers=registry.auth("retail-a")
    )
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [result["status"] for result in results] == [422, 202]
    [problem] = results[0]["detail"]
    assert problem["field"] == "branch.location"
    assert "outside the Netherlands" in problem["reason"]
    assert await published_count(settings, INCIDENT_REPORTS) == 1


@pytest.mark.parametrize(
    ("occurred_at", "reason"),
    [
        # A tester's: accepted before, it crashed the sink and notify for good (year 0 in UTC).
        ("0001-01-01T00:30:00+01:00", "lies outside 1970-01-01 to 9999-01-01 (UTC)"),
        ("1900-01-01T00:00:00Z", "lies outside 1970-01-01 to 9999-01-01 (UTC)"),
        # Inside the contract, but older than the history a deployment loads.
        ("2015-06-01T12:00:00+02:00", "lies more than 1826 days in the past (max_event_age_days)"),
        # An offset no place has, which PostgreSQL cannot read back from the stored JSON: the
        # unit's desk list answered 500 for as long as the alert was in it.
        ("2026-12-07T07:00:00+23:59", "has a UTC offset beyond ±14:00"),
    ],
)
async def test_a_time_years_back_is_a_422_naming_the_field(
    settings: Settings,
    registry: Registry,
    client: httpx.AsyncClient,
    occurred_at: str,
    reason: str,
) -> None:
    body = bodies.incident_report() | {"occurred_at": occurred_at}
    response = await client.post(
        "/v1/incident-reports", json=body, headers=registry.auth("retail-a")
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["field"] == "occurred_at"
    assert reason in problem["reason"]
    assert await published_count(settings, INCIDENT_REPORTS) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("offender_count", True),  # a count is no boolean
        ("offender_count", 2.0),  # nor a fraction
        ("occurred_at", 1765000000),  # a time is an RFC 3339 string, not a Unix number
        ("incident_type", 1),
    ],
)
async def test_the_api_takes_the_types_its_schema_publishes(
    settings: Settings, registry: Registry, client: httpx.AsyncClient, field: str, value: object
) -> None:
    body = bodies.incident_report() | {field: value}
    response = await client.post(
        "/v1/incident-reports", json=body, headers=registry.auth("retail-a")
    )
    assert response.status_code == 422, response.text
    assert [problem["field"] for problem in response.json()["detail"]] == [field]
    assert await published_count(settings, INCIDENT_REPORTS) == 0
