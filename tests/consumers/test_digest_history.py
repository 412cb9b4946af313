"""The digest by event time: history imported or replayed late counts in the month it happened."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from consumers.digest import Month, write_digest
from consumers.sink import Sink, store
from producers.api import admin
from producers.cbl_import import import_cbl
from schemas.alerts import AlertKind, Area, EvidenceLink, LinkReason, Severity
from schemas.common import Location
from schemas.events import AlarmSignal, Verification, VerificationMethod
from tests import factories
from tests.kafka_helpers import eventually
from tests.producers import bodies
from tests.producers.intake_support import running_api
from tests.producers.test_cbl_import import EXAMPLE, register_cbl

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

MARCH = Month(2025, 3)
# Long after March 2025: everything below arrives as history.
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
UTRECHT = Location(lat=52.0907, lon=5.1214)


def read_csv(directory: Path, month: str, name: str) -> list[dict[str, str]]:
    path = directory / f"digest-{month}-nl-{name}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


async def _stored_by_the_sink(settings: Settings, db: asyncpg.Connection, events: int) -> None:
    """Run the sink until the database holds `events` events, then stop it."""
    stop = asyncio.Event()
    async with Sink(settings) as sink:
        running = asyncio.create_task(sink.run(stop))

        async def all_stored() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM event") == events)

        await eventually(all_stored, timeout=60)
        stop.set()
        await running


async def test_a_cbl_import_of_march_2025_lands_in_the_digest_of_march_2025(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    # Through real Kafka and PostgreSQL: the importer publishes, the sink persists.
    await register_cbl(db)
    report = await import_cbl(settings, EXAMPLE, reporting_org="cbl",
                              rejections_path=tmp_path / "afgewezen.csv")  # fmt: skip
    assert report.published == 4
    await _stored_by_the_sink(settings, db, 4)

    await write_digest(settings, "2025-03", tmp_path, now=NOW)
    march = read_csv(tmp_path, "2025-03", "incidents_by_kind")
    by_kind = {r["kind"]: int(r["count"]) for r in march}
    # The example's March rows: a robbery on the Damrak (14th) and an attempt in Rotterdam (15th).
    assert (by_kind["overval"], by_kind["poging"], by_kind["all"]) == (1, 1, 2)
    by_unit = {
        r["police_unit"]: int(r["count"])
        for r in read_csv(tmp_path, "2025-03", "incidents_by_police_unit")
    }
    assert (by_unit["amsterdam"], by_unit["rotterdam"]) == (1, 1)
    # Its April ram raid belongs to April, not to the month it was imported in.
    await write_digest(settings, "2025-04", tmp_path, now=NOW)
    april = {r["kind"]: int(r["count"]) for r in read_csv(tmp_path, "2025-04", "incidents_by_kind")}
    assert (april["ramkraak"], april["all"]) == (1, 1)
    await write_digest(settings, "2026-12", tmp_path, now=NOW)
    now_month = read_csv(tmp_path, "2026-12", "incidents_by_kind")
    assert {r["kind"]: int(r["count"]) for r in now_month}["all"] == 0


async def test_two_robberies_an_hour_apart_in_one_cbl_export_count_twice(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    # A tester's: an export with two robberies at one branch an hour apart, under two melding
    # numbers, was counted as one robbery. The shop had posted the first through the API too.
    await register_cbl(db)
    shop_key = (await admin.issue_key(db, "buurtmarkt")).key
    shop_post = bodies.incident_report(
        reporting_org="buurtmarkt", branch_id="BM-0412", plate=None
    ) | {"occurred_at": "2025-03-14T21:00:00+01:00"}
    async with running_api(settings) as (_, client):
        answer = await client.post(
            "/v1/incident-reports", json=shop_post, headers={"Authorization": f"Bearer {shop_key}"}
        )
        assert answer.status_code == 202, answer.text
    export = tmp_path / "cbl-maart.csv"
    export.write_text(
        "meldingsnummer;filiaalnummer;breedtegraad;lengtegraad;datum_tijd;soort_incident\n"
        "CBL-2025-000301;BM-0412;52,3731;4,8922;14-03-2025 21:05;overval\n"
        "CBL-2025-000302;BM-0412;52,3731;4,8922;14-03-2025 22:05;overval\n",
        encoding="utf-8",
    )
    report = await import_cbl(settings, export, reporting_org="cbl",
                              rejections_path=tmp_path / "afgewezen.csv")  # fmt: skip
    assert report.published == 2
    await _stored_by_the_sink(settings, db, 3)

    await write_digest(settings, "2025-03", tmp_path, now=NOW)

    # The shop's post and the CBL's first melding are one robbery (two organisations); the
    # CBL's second melding is another robbery, though the shop's report of the first came
    # from another organisation within the window.
    by_kind = {
        r["kind"]: int(r["count"]) for r in read_csv(tmp_path, "2025-03", "incidents_by_kind")
    }
    assert (by_kind["overval"], by_kind["all"]) == (2, 2)
    by_hour = {
        r["hour"]: int(r["count"]) for r in read_csv(tmp_path, "2025-03", "incidents_by_hour")
    }
    assert {hour: n for hour, n in by_hour.items() if n} == {"21": 1, "22": 1}


async def test_a_series_found_late_lists_every_member_with_its_local_time(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    first = factories.incident_report(occurred_at=datetime(2025, 3, 3, 20, 10, tzinfo=UTC))
    second = factories.incident_report(
        branch=factories.branch(branch_id="ah-1002", location=UTRECHT),
        occurred_at=datetime(2025, 3, 9, 18, 45, tzinfo=UTC),
    )
    # As the series stage writes it: one link per member that joined, naming the member it
    # joined; the first member appears only as `linked_with`. Found in a late import.
    series = factories.alert(
        kind=AlertKind.SERIES,
        severity=Severity.MEDIUM,
        area=Area(center=UTRECHT, radius_m=6000),
        series_id="series-2025-03-03",
        evidence=[
            EvidenceLink(
                event_id=second.event_id,
                event_type="incident_report",
                occurred_at=second.occurred_at,
                reasons=[
                    LinkReason(feature="linked_with", value=str(first.event_id), contribution=0)
                ],
            )
        ],
        dedup_key="series:series-2025-03-03:2",
        created_at=NOW - timedelta(minutes=5),
        occurred_at=second.occurred_at,
        historical=True,
    )
    for model in (first, second, series):
        await store(db, model)

    await write_digest(settings, "2025-03", tmp_path, now=NOW)

    [row] = read_csv(tmp_path, "2025-03", "series")
    assert (row["pattern_id"], row["incidents"]) == ("series-2025-03-03", "2")
    # Local (Dutch winter) time: UTC+1.
    assert (row["first"], row["last"]) == ("2025-03-03 21:10", "2025-03-09 19:45")
    members = read_csv(tmp_path, "2025-03", "series_members")
    assert [(m["label"], m["event_id"], m["occurred_at"]) for m in members] == [
        ("S1", str(first.event_id), "2025-03-03 21:10"),
        ("S1", str(second.event_id), "2025-03-09 19:45"),
    ]
    # The CSV holds the contract's codes under its English keys, the words beside them, as the
    # other tables do; each row is one robbery, named in the singular (a stranger's: the CSV
    # said "overvallen", "supermarkten", "Midden-Nederland" in Dutch and "robberies" in English),
    # its branch too ('supermarkten' stood beside one robbery).
    second_row = members[1]
    assert (second_row["kind"], second_row["kind_label"]) == ("overval", "overval")
    assert (second_row["branch_type"], second_row["branch_type_label"]) == (
        "supermarket", "supermarkt"
    )
    assert (second_row["police_unit"], second_row["police_unit_label"]) == (
        "midden-nederland", "Midden-Nederland"
    )
    html = (tmp_path / "digest-2025-03-nl.html").read_text(encoding="utf-8")
    # The page writes the date as the desk and the alert line do; the CSV keeps ISO above.
    assert "Overvallen per reeks" in html and "09-03-2025 19:45" in html
    assert "2025-03-09" not in html
    # The footer named the month 'Maanddigest overvallen 2025-03'; the series' intro 'één
    # dader(groep)', as a form would.
    assert "<footer>Heterdaad · Maanddigest overvallen · maart 2025 ·" in html
    assert "dader(groep)" not in html and "één dader of groep daders" in html


async def test_a_replayed_press_verified_days_later_counts_as_escalated(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    pressed = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)
    site = factories.alarm_activation().site
    real = factories.alarm_activation(
        site=site, signal=AlarmSignal.HOLD_UP, occurred_at=pressed,
        received_at=pressed + timedelta(seconds=5),
    )  # fmt: skip
    false = factories.alarm_activation(
        site=site.model_copy(update={"site_id": "site-2", "location": UTRECHT}),
        signal=AlarmSignal.PANIC, occurred_at=pressed, received_at=pressed + timedelta(seconds=5),
    )  # fmt: skip
    verification = factories.alarm_activation(
        site=site, signal=AlarmSignal.HOLD_UP, occurred_at=pressed + timedelta(minutes=2),
        received_at=pressed + timedelta(minutes=2),
        verification=Verification(method=VerificationMethod.CAMERA, verified=True,
                                  at=pressed + timedelta(minutes=2)),
    )  # fmt: skip
    # The centre forwarded its backlog months later: the alert is made now, about the press.
    escalation = factories.alert(
        kind=AlertKind.VERIFIED_ALARM,
        severity=Severity.MEDIUM,
        area=Area(center=site.location, radius_m=500),
        site_id=site.site_id,
        evidence=[EvidenceLink(event_id=real.event_id, event_type="alarm_activation",
                               occurred_at=pressed)],
        dedup_key=f"hold_up:{site.site_id}:{real.event_id}",
        created_at=NOW,
        occurred_at=pressed,
        historical=True,
    )  # fmt: skip
    for model in (real, false, verification, escalation):
        await store(db, model)

    await write_digest(settings, "2025-03", tmp_path, now=NOW)

    rows = read_csv(tmp_path, "2025-03", "false_alarms")
    [every] = [r for r in rows if r["alarm_centre"] == "all"]
    assert (every["episodes"], every["escalated"], every["false_alarms"]) == ("2", "1", "1")
