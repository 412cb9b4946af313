"""The monthly digest: its rules on their own, and whole digests against SQL and the truth."""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import TYPE_CHECKING

import pytest

from consumers.digest import Month, charts, text, write_digest
from consumers.digest.alarms import Episode, episodes, escalated_mask
from consumers.digest.content import Rules
from consumers.digest.export import write_csv
from consumers.digest.incidents import deduplicate
from consumers.digest.patterns import patterns
from consumers.digest.read import (
    Escalation,
    Incident,
    PatternAlert,
    Press,
    Sighting,
    read_snapshot,
)
from consumers.digest.reconnaissance import followed_by_robbery
from consumers.digest.render import table_html
from consumers.digest.tables import Column, Table
from consumers.sink import store
from heterdaad.thresholds.digest import DigestThresholds
from producers.simulator import SimulationConfig, generate
from schemas.alerts import Alert, AlertKind, Area, EvidenceLink, Severity
from schemas.common import BranchType
from schemas.events import (
    AlarmActivation,
    GetawayMode,
    IncidentReport,
    IncidentType,
    PersonDescription,
    ReconSighting,
    Vehicle,
)
from schemas.geography import police_unit_for
from tests import factories

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.language import Language
    from heterdaad.settings import Settings
    from producers.simulator import Scenario
    from schemas.common import Location

MONTH = Month(2026, 10)  # has the switch to winter time on its last Sunday
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # every 14-day follow-up window has closed
T0 = datetime(2026, 10, 7, 12, 0, tzinfo=UTC)
DAM = (52.3731, 4.8926)
CENTRE_NAME = "NoordWacht Alarmcentrale"

# --- the rules on their own -------------------------------------------------------------


def test_month_boundaries_are_dutch_midnights() -> None:
    assert Month.parse("2026-10") == Month.parse(date(2026, 10, 17)) == MONTH
    assert MONTH.start == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)  # summer time
    assert MONTH.end == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # winter time
    assert [str(m) for m in Month(2026, 2).last(3)] == ["2025-12", "2026-01", "2026-02"]
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse("oktober")


@pytest.mark.parametrize("month", ["0000-01", "0001-06", "9999-12", "1899-12"])
def test_a_month_beyond_what_the_digest_can_reach_is_refused_naming_it(month: str) -> None:
    # The trend reaches a year back, the scan weeks on: these stopped with a traceback.
    from typer.testing import CliRunner

    from assembly.cli import app

    result = CliRunner().invoke(app, ["digest", "--month", month])
    assert result.exit_code == 2, result.output
    assert month in result.output and "Traceback" not in result.output
    with pytest.raises(ValueError, match=month):
        Month.parse(month)
    with pytest.raises(ValueError, match="years 1900 to 9998"):
        Month.parse(date(int(month[:4]) or 1, 1, 1))


def test_a_month_that_has_not_begun_is_refused_naming_it() -> None:
    # A mistyped year gave a digest of zeros that looked like a quiet month.
    from typer.testing import CliRunner

    from assembly.cli import app

    result = CliRunner().invoke(app, ["digest", "--month", "2999-01"])
    assert result.exit_code == 2 and "2999-01 has not begun" in result.output, result.output
    with pytest.raises(ValueError, match="2026-12 has not begun yet"):
        Month.parse("2026-12", now=NOW)
    # The month it is now may be made (it says it is provisional), and every one before.
    assert Month.parse("2026-11", now=NOW) == Month.parse(date(2026, 1, 1), now=NOW).shift(10)


def test_the_first_and_last_months_it_takes_have_their_whole_trend_and_scan() -> None:
    for month in (Month.parse("1900-01"), Month.parse("9998-12")):
        assert month.last(12)[0].start - timedelta(days=5 * 365) < month.shift(2).end


EPISODE = timedelta(minutes=5)  # the settings' defaults
LATE = timedelta(hours=6)
RULES = DigestThresholds()  # 100 m and 5 minutes for escalations; 1 km and 14 days for recon


def _press(minute: float, *, centre: str = "pac-a", lat: float = 52.0) -> Press:
    return Press(centre, lat, 5.0, T0 + timedelta(minutes=minute))


@pytest.mark.parametrize(
    ("presses", "expected"),
    [
        # a press, a colleague's press 2 minutes later and the verification update: one
        ([_press(0), _press(2), _press(2)], [3]),
        # within 5 minutes of the first press, not of the last: a press at 6 starts another
        ([_press(0), _press(4), _press(6)], [2, 1]),
        # the same minute at another site (another centre, another spot): three episodes
        ([_press(0), _press(0, centre="pac-b"), _press(0, lat=52.1)], [1, 1, 1]),
    ],
)
def test_presses_form_episodes(presses: list[Press], expected: list[int]) -> None:
    assert [e.presses for e in episodes(presses, EPISODE)] == expected


def _escalation(minutes_after_first: float, metres_north: float = 0) -> Escalation:
    return Escalation(
        "hold_up_in_progress",
        52.0 + metres_north / 111_195,
        5.0,
        T0 + timedelta(minutes=minutes_after_first),
    )


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        (_escalation(1), True),  # the hold-up alert a minute after the press, at the site
        (_escalation(5 * 60), True),  # a robbery report entered hours later still escalates
        (_escalation(2 + 6 * 60 + 1), False),  # more than 6 hours after the last press
        (_escalation(-4), True),  # the centre's clock a little ahead
        (_escalation(-6), False),
        (_escalation(1, metres_north=90), True),  # within 100 m
        (_escalation(1, metres_north=150), False),  # the shop next door is another site
    ],
)
def test_escalation_belongs_to_its_episode(alert: Escalation, expected: bool) -> None:
    episode = Episode("pac-a", 52.0, 5.0, T0, T0 + timedelta(minutes=2), 2)
    assert _escalated([episode], [alert]) == [expected]


def test_an_escalation_goes_to_the_latest_episode_at_the_site() -> None:
    false_press = Episode("pac-a", 52.0, 5.0, T0, T0, 1)
    hold_up = Episode("pac-a", 52.0, 5.0, T0 + timedelta(hours=2), T0 + timedelta(hours=2), 1)
    assert _escalated([false_press, hold_up], [_escalation(121)]) == [False, True]


def _escalated(found: list[Episode], alerts: list[Escalation]) -> list[bool]:
    return escalated_mask(
        found, alerts, LATE,
        radius_m=RULES.alarm_escalation_radius_m, lead=RULES.alarm_escalation_lead,
    )  # fmt: skip


def _incident(
    minute: float,
    *,
    kind: str = "overval",
    metres_north: float = 0,
    org: str = "buurtmarkt",
    channel: str = "api",
) -> Incident:
    return Incident(
        uuid.uuid4(), kind, "supermarket", "amsterdam", 52.0 + metres_north / 111_195, 5.0,
        T0 + timedelta(minutes=minute), org, channel,
    )  # fmt: skip


def test_a_robbery_reported_twice_counts_once() -> None:
    shop, trade_association = _incident(0), _incident(20, metres_north=10, org="cbl")
    later_same_shop = _incident(180)
    next_street = _incident(5, metres_north=400)
    kept = deduplicate([trade_association, later_same_shop, shop, next_street], timedelta(hours=2))
    assert kept == [shop, next_street, later_same_shop]


@pytest.mark.parametrize(
    ("reports", "robberies"),
    [
        # A tester's: two CBL meldingen of one branch an hour apart are two robberies.
        ([(0, "cbl", "cbl"), (60, "cbl", "cbl")], 2),
        # So are two events the shop posted through the API an hour apart.
        ([(0, "buurtmarkt", "api"), (60, "buurtmarkt", "api")], 2),
        # The shop posts it and imports its own CBL export: one robbery through two channels.
        ([(0, "buurtmarkt", "api"), (10, "buurtmarkt", "cbl")], 1),
        # The shop posts it and the trade association reports it again: two organisations.
        ([(0, "buurtmarkt", "api"), (20, "cbl", "api")], 1),
        ([(0, "buurtmarkt", "api"), (20, "cbl", "cbl")], 1),
        # The shop posted one robbery, the CBL export has it and a second an hour later: the
        # shop's report stands for the first, so the CBL's second is a robbery of its own.
        ([(0, "buurtmarkt", "api"), (5, "cbl", "cbl"), (60, "cbl", "cbl")], 2),
        # Both robberies from both sources: two robberies, each reported twice.
        ([(0, "buurtmarkt", "api"), (5, "cbl", "cbl"), (60, "buurtmarkt", "api"),
          (65, "cbl", "cbl")], 2),
        # Another organisation's report after the window is another robbery.
        ([(0, "buurtmarkt", "api"), (121, "cbl", "cbl")], 2),
    ],
)  # fmt: skip
def test_one_source_never_reports_one_robbery_twice(
    reports: list[tuple[float, str, str]], robberies: int
) -> None:
    incidents = [_incident(minute, org=org, channel=channel) for minute, org, channel in reports]
    kept = deduplicate(incidents, timedelta(hours=2))
    assert len(kept) == robberies
    assert kept[0] == incidents[0]  # the earliest report stands for the robbery


def test_a_pattern_without_its_incidents_is_dated_by_event_time_not_when_raised() -> None:
    # A tester's: a hotspot raised on 6 December from October's history showed 6 December as
    # first and last in October's digest (its incidents were not at hand).
    def raised(on: datetime, happened: datetime) -> PatternAlert:
        return PatternAlert(
            kind="hotspot", pattern_id="h-1", severity="medium", police_unit="rotterdam",
            lat=51.92, lon=4.48, created_at=on, occurred_at=happened, radius_m=2000.0,
            branch_types=("supermarket",), member_ids=(),
        )  # fmt: skip

    december = datetime(2026, 12, 6, 13, 54, tzinfo=UTC)
    alerts = [
        raised(december, datetime(2026, 10, 3, 21, tzinfo=UTC)),
        raised(december + timedelta(minutes=1), datetime(2026, 10, 17, 20, tzinfo=UTC)),
    ]
    [hotspot] = patterns(alerts, {}, "hotspot")
    assert (hotspot.first_event, hotspot.last_event) == (
        datetime(2026, 10, 3, 21, tzinfo=UTC), datetime(2026, 10, 17, 20, tzinfo=UTC)
    )
    assert hotspot.incidents == ()


def test_a_series_re_labelled_by_a_late_report_counts_once() -> None:
    # A tester's: robberies 20 h and 2 h ago made series A (id: the first); a robbery three
    # days ago, reported after them, re-labelled it B (docs/series-linkage.md). The alert of
    # A keeps its id, and December's digest listed A and B as two series.
    late, first, second = _incident(0), _incident(60 * 52), _incident(60 * 70)
    raised = datetime(2026, 12, 7, 7, tzinfo=UTC)

    def alert(pattern_id: uuid.UUID, members: list[Incident], minutes: int) -> PatternAlert:
        return PatternAlert(
            kind="series", pattern_id=str(pattern_id), severity="high",
            police_unit="amsterdam", lat=52.0, lon=5.0,
            created_at=raised + timedelta(minutes=minutes), occurred_at=second.occurred_at,
            radius_m=5000.0, branch_types=("supermarket",),
            member_ids=tuple(i.event_id for i in members),
        )  # fmt: skip

    incidents = {i.event_id: i for i in (late, first, second)}
    alerts = [alert(first.event_id, [first, second], 0),
              alert(late.event_id, [late, first, second], 1)]  # fmt: skip
    [series] = patterns(alerts, incidents, "series")
    assert series.pattern_id == str(late.event_id)  # the id it has now
    assert series.incidents == (late, first, second)
    assert series.alerts == 2
    # Two series that name no robbery in common stay two.
    other = _incident(60 * 24 * 20)
    incidents[other.event_id] = other
    assert len(patterns([*alerts, alert(other.event_id, [other], 2)], incidents, "series")) == 2


@pytest.mark.parametrize(
    ("incident", "expected"),
    [
        (_incident(60 * 24 * 3), True),  # three days later at the branch sighted
        (_incident(60 * 24 * 3, metres_north=900), True),  # at a branch 900 m away
        (_incident(60 * 24 * 3, metres_north=1100), False),  # 1.1 km: too far
        (_incident(60 * 24 * 15), False),  # after 15 days: too late
        (_incident(-60), False),  # before the sighting
        (_incident(60, kind="ramkraak"), False),  # a ram raid is not a robbery
        (_incident(60, kind="poging"), True),  # an attempt is
    ],
)
def test_sighting_followed_by_robbery(incident: Incident, expected: bool) -> None:
    sighting = Sighting(uuid.uuid4(), "supermarket", "amsterdam", 52.0, 5.0, T0)
    within, radius_m = RULES.recon_follow_up, RULES.recon_follow_up_radius_m
    assert followed_by_robbery(sighting, [incident], within=within, radius_m=radius_m) is expected


# --- whole digests through PostgreSQL ---------------------------------------------------


@dataclass(frozen=True)
class Filled:
    scenario: Scenario
    episodes_by_centre: dict[str, tuple[int, int]]  # (episodes, real hold-ups) of the month


def _unit(where: Location) -> str:
    return police_unit_for(where).value


def _links(models: list[IncidentReport] | list[ReconSighting]) -> list[EvidenceLink]:
    kind = "incident_report" if isinstance(models[0], IncidentReport) else "recon_sighting"
    return [EvidenceLink(event_id=m.event_id, event_type=kind) for m in models]


def _escalations(scenario: Scenario) -> list[Alert]:
    """What the alarm stage would raise: a hold-up alert for the first press of a real hold-up."""
    alerts = []
    for event in scenario.events:
        truth, press = event.truth, event.model
        if truth.alarm != "true" or truth.alarm_role != "press":
            continue
        assert isinstance(press, AlarmActivation)
        key = f"hold_up_in_progress:{press.event_id}"
        alerts.append(
            Alert(
                alert_id=uuid.uuid5(uuid.NAMESPACE_URL, key),
                kind=AlertKind.HOLD_UP_IN_PROGRESS,
                severity=Severity.CRITICAL,
                area=Area(center=press.site.location, radius_m=1000),
                police_unit=police_unit_for(press.site.location),
                site_id=press.site.site_id,
                evidence=[EvidenceLink(event_id=press.event_id, event_type="alarm_activation")],
                dedup_key=key,
                created_at=press.received_at + timedelta(seconds=30),
                occurred_at=press.occurred_at,
            )
        )
    return alerts


def _series_alerts(scenario: Scenario, reports: dict[uuid.UUID, IncidentReport]) -> list[Alert]:
    """A series alert each time a planted series grows, with the crew's plate and looks."""
    alerts = []
    for series in scenario.series:
        linked = [reports[i] for i in series.incident_ids]
        for size in range(2, len(linked) + 1):
            latest = linked[size - 1]
            key = f"series:{series.series_id}:{size}"
            alerts.append(
                Alert(
                    alert_id=uuid.uuid5(uuid.NAMESPACE_URL, key),
                    kind=AlertKind.SERIES,
                    severity=Severity.HIGH,
                    area=Area(center=latest.branch.location, radius_m=5000),
                    police_unit=police_unit_for(latest.branch.location),
                    branch_types_at_risk=[latest.branch.branch_type],
                    series_id=series.series_id,
                    vehicles=[
                        Vehicle(kind=GetawayMode.CAR, plate_pseudonym=series.plate_pseudonym)
                    ],
                    persons=[PersonDescription(clothing=["donkere jas"])],
                    evidence=_links(linked[:size]),
                    dedup_key=key,
                    created_at=latest.occurred_at + timedelta(hours=2),
                )
            )
    return alerts


def _hotspot_alerts(reports: list[IncidentReport]) -> list[Alert]:
    """A hotspot over October's robberies in the unit Amsterdam, confirmed once more later."""
    amsterdam = sorted(
        (r for r in reports
         if _unit(r.branch.location) == "amsterdam"
         and MONTH.start <= r.occurred_at < MONTH.end - timedelta(hours=3)),
        key=lambda r: r.occurred_at,
    )  # fmt: skip
    assert len(amsterdam) >= 4, "the seed should put a few robberies in Amsterdam"
    alerts = []
    for number, linked in enumerate((amsterdam[: len(amsterdam) // 2], amsterdam), start=1):
        key = f"hotspot:ams:{number}"
        center = min(linked, key=lambda r: abs(r.branch.location.lat - DAM[0])).branch.location
        alerts.append(
            Alert(
                alert_id=uuid.uuid5(uuid.NAMESPACE_URL, key),
                kind=AlertKind.HOTSPOT,
                severity=Severity.MEDIUM,
                area=Area(center=center, radius_m=4000),
                police_unit=police_unit_for(center),
                hotspot_id="hotspot-ams-2026-10",
                evidence=_links(linked),
                dedup_key=key,
                created_at=linked[-1].occurred_at + timedelta(hours=1),
            )
        )
    return alerts


def _recon_warnings(scenario: Scenario, sightings: dict[uuid.UUID, ReconSighting]) -> list[Alert]:
    alerts = []
    for pattern in scenario.recon:
        seen = [sightings[i] for i in pattern.sighting_ids]
        key = f"reconnaissance_warning:{pattern.pattern_id}"
        where = seen[-1].where
        alerts.append(
            Alert(
                alert_id=uuid.uuid5(uuid.NAMESPACE_URL, key),
                kind=AlertKind.RECONNAISSANCE_WARNING,
                severity=Severity.MEDIUM,
                area=Area(center=where, radius_m=3000),
                police_unit=police_unit_for(where),
                vehicles=[Vehicle(kind=GetawayMode.CAR, plate_pseudonym=pattern.plate_pseudonym)],
                evidence=_links(seen),
                dedup_key=key,
                created_at=seen[-1].observed_at + timedelta(hours=1),
            )
        )
    return alerts


async def fill(
    db: asyncpg.Connection, *, seed: int = 7, days: float = 61, **knobs: float
) -> Filled:
    """Simulated months up to the end of October, with the alerts the stages would raise."""
    # Fewer false presses than nationwide keep the test quick; the rule is the same.
    knobs = {"alarm_activations_per_day": 30, "test_signals_per_day": 5} | knobs
    scenario = generate(SimulationConfig(seed=seed, days=days, end=MONTH.end, **knobs))
    reports = {e.model.event_id: e.model for e in scenario.events
               if isinstance(e.model, IncidentReport)}  # fmt: skip
    sightings = {e.model.event_id: e.model for e in scenario.events
                 if isinstance(e.model, ReconSighting)}  # fmt: skip
    # The shop reported a robbery and the trade association reported it again 20 minutes on.
    first = min(
        (r for r in reports.values()
         if r.incident_type is IncidentType.OVERVAL and r.occurred_at > MONTH.start),
        key=lambda r: r.occurred_at,
    )  # fmt: skip
    duplicate = first.model_copy(
        update={"event_id": uuid.uuid4(), "reporting_org": "cbl-tool",
                "occurred_at": first.occurred_at + timedelta(minutes=20)}
    )  # fmt: skip
    # Another shop was robbed twice an hour apart, two events it posted: two robberies. The
    # shop's own CBL export then brought the second again (an import receipt): one robbery.
    second = min(
        (r for r in reports.values()
         if r.incident_type is IncidentType.OVERVAL and r.occurred_at > first.occurred_at
         and r.branch.branch_id != first.branch.branch_id),
        key=lambda r: r.occurred_at,
    )  # fmt: skip
    robbed_again = second.model_copy(
        update={"event_id": uuid.uuid4(), "occurred_at": second.occurred_at + timedelta(hours=1)}
    )
    imported = robbed_again.model_copy(
        update={"event_id": uuid.uuid4(),
                "occurred_at": robbed_again.occurred_at + timedelta(minutes=10)}
    )  # fmt: skip
    escalations = _escalations(scenario)
    alerts = [
        *escalations,
        *_series_alerts(scenario, reports),
        *_hotspot_alerts(list(reports.values())),
        *_recon_warnings(scenario, sightings),
    ]
    async with db.transaction():
        for event in scenario.events:
            await store(db, event.model)
        for report in (duplicate, robbed_again, imported):
            await store(db, report)
        await db.execute(
            "INSERT INTO organisation (organisation_id, name, role) VALUES ($1, $1, 'retailer') "
            "ON CONFLICT DO NOTHING",
            imported.reporting_org,
        )
        await db.execute(
            "INSERT INTO import_receipt (event_id, organisation_id, source, source_ref, "
            "body_sha256, file_sha256, file_row) VALUES ($1, $2, 'cbl', 'CBL-2026-000017', "
            "'-', '-', 2)",
            imported.event_id, imported.reporting_org,
        )  # fmt: skip
        for alert in alerts:
            await store(db, alert)
        await db.execute(
            "INSERT INTO organisation (organisation_id, name, role) "
            "VALUES ('pac-noordwacht', $1, 'alarm_centre')",
            CENTRE_NAME,
        )
    return Filled(scenario, _true_episodes(scenario))


def _true_episodes(scenario: Scenario) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = {}
    for event in scenario.events:
        truth, press = event.truth, event.model
        if truth.alarm_role == "press" and MONTH.start <= truth.occurred_at < MONTH.end:
            assert isinstance(press, AlarmActivation)
            row = counts.setdefault(press.alarm_centre, [0, 0])
            row[0] += 1
            row[1] += truth.alarm == "true"
    return {centre: (n, real) for centre, (n, real) in counts.items()}


def read_csv(directory: Path, stem: str, name: str) -> list[dict[str, str]]:
    with (directory / f"{stem}-{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _files_containing(directory: Path, *needles: str) -> list[str]:
    return [
        str(path.relative_to(directory))
        for path in sorted(directory.rglob("*"))
        if path.is_file() and any(needle.encode() in path.read_bytes() for needle in needles)
    ]


def _column(rows: list[dict[str, str]], key: str, value: str) -> dict[str, int]:
    return {row[key]: int(row[value]) for row in rows}


DISTANCE_M = """2 * 6371008.8 * asin(least(1, sqrt(
    power(sin(radians({b}.lat - {a}.lat) / 2), 2)
    + cos(radians({a}.lat)) * cos(radians({b}.lat)) * power(sin(radians({b}.lon - {a}.lon) / 2), 2)
)))"""

# Incidents of the month, an incident reported twice (within 50 m and 120 minutes, by another
# organisation or through the other channel) counted once. This pairwise form agrees with the
# digest's rule on the test's data, where no source's second robbery follows another's report.
SOURCE_SQL = """ROW({e}.organisation_id, EXISTS (
    SELECT 1 FROM import_receipt r WHERE r.event_id = {e}.event_id))"""
INCIDENTS_SQL = f"""
SELECT * FROM event a
WHERE a.event_type = 'incident_report' AND a.occurred_at >= $1 AND a.occurred_at < $2
  AND NOT EXISTS (
    SELECT 1 FROM event b
    WHERE b.event_type = 'incident_report' AND b.event_id <> a.event_id
      AND {SOURCE_SQL.format(e="b")} IS DISTINCT FROM {SOURCE_SQL.format(e="a")}
      AND (b.occurred_at, b.event_id::text) < (a.occurred_at, a.event_id::text)
      AND b.occurred_at >= a.occurred_at - interval '120 minutes'
      AND {DISTANCE_M.format(a="a", b="b")} <= 50)
"""


async def _grouped(db: asyncpg.Connection, expression: str) -> dict[str, int]:
    rows = await db.fetch(
        f"SELECT ({expression})::text AS key, count(*) AS n FROM ({INCIDENTS_SQL}) i GROUP BY 1",
        MONTH.start, MONTH.end,
    )  # fmt: skip
    return {row["key"]: row["n"] for row in rows}


RECON_SQL = f"""
SELECT coalesce(s.branch_type, 'unknown') AS branch_type, count(*) AS sightings,
       count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM event r
         WHERE r.event_type = 'incident_report' AND r.kind IN ('overval', 'poging', 'woningoverval')
           AND r.occurred_at > s.occurred_at AND r.occurred_at <= s.occurred_at + interval '14 days'
           AND {DISTANCE_M.format(a="s", b="r")} <= 1000)) AS followed
FROM event s
WHERE s.event_type = 'recon_sighting' AND s.occurred_at >= $1 AND s.occurred_at < $2
GROUP BY 1
"""


async def test_dutch_digest_agrees_with_the_database(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    filled = await fill(db)
    steps: list[tuple[str, int, int]] = []

    html_path = await write_digest(
        settings, "2026-10", tmp_path, progress=lambda *step: steps.append(step), now=NOW
    )

    stem = "digest-2026-10-nl"
    assert html_path == tmp_path / f"{stem}.html"
    # Incidents by branch type, police unit, local hour and weekday; the double reports once,
    # the shop robbed twice an hour apart twice.
    by_kind = _column(read_csv(tmp_path, stem, "incidents_by_kind"), "kind", "count")
    raw_total = await db.fetchval(
        "SELECT count(*) FROM event WHERE event_type = 'incident_report' "
        "AND occurred_at >= $1 AND occurred_at < $2",
        MONTH.start, MONTH.end,
    )  # fmt: skip
    assert by_kind["all"] == raw_total - 2 == sum(v for k, v in by_kind.items() if k != "all")
    assert _column(
        read_csv(tmp_path, stem, "incidents_by_branch_type"), "branch_type", "count"
    ) == await _grouped(db, "coalesce(branch_type, 'unknown')")
    by_unit = _column(read_csv(tmp_path, stem, "incidents_by_police_unit"), "police_unit", "count")
    assert len(by_unit) == 10
    assert {k: v for k, v in by_unit.items() if v} == await _grouped(db, "police_unit")
    by_hour = _column(read_csv(tmp_path, stem, "incidents_by_hour"), "hour", "count")
    local_hour = "extract(hour FROM occurred_at AT TIME ZONE 'Europe/Amsterdam')::int"
    assert {k: v for k, v in by_hour.items() if v} == await _grouped(db, local_hour)
    by_day = _column(read_csv(tmp_path, stem, "incidents_by_weekday"), "iso_weekday", "count")
    local_day = "extract(isodow FROM occurred_at AT TIME ZONE 'Europe/Amsterdam')::int"
    assert {k: v for k, v in by_day.items() if v} == await _grouped(db, local_day)

    # False alarms per alarm centre, against the simulator's truth: each of its episodes is
    # one episode here, and each real hold-up got one escalation alert.
    alarm_rows = read_csv(tmp_path, stem, "false_alarms")
    centres = {r["alarm_centre"]: r for r in alarm_rows if r["alarm_centre"] != "all"}
    assert {k: (int(r["episodes"]), int(r["escalated"])) for k, r in centres.items()} == (
        filled.episodes_by_centre
    )
    assert centres["pac-noordwacht"]["name"] == CENTRE_NAME
    everything = alarm_rows[-1]
    presses = await db.fetchval(
        "SELECT count(*) FROM event WHERE event_type = 'alarm_activation' "
        "AND kind IN ('panic', 'hold_up', 'duress') AND occurred_at >= $1 AND occurred_at < $2",
        MONTH.start, MONTH.end,
    )  # fmt: skip
    assert int(everything["episodes"]) < presses  # second presses and verifications joined
    assert int(everything["false_alarms"]) == sum(
        int(r["episodes"]) - int(r["escalated"]) for r in centres.values()
    )
    assert 0.5 < float(everything["false_share"]) < 1

    # Reconnaissance followed by a robbery within 1 km and 14 days.
    recon = read_csv(tmp_path, stem, "reconnaissance")
    assert {r["branch_type"]: (int(r["sightings"]), int(r["followed_by_robbery"]))
            for r in recon if r["branch_type"] != "all"} == {
        row["branch_type"]: (row["sightings"], row["followed"])
        for row in await db.fetch(RECON_SQL, MONTH.start, MONTH.end)
    }  # fmt: skip
    assert int(recon[-1]["followed_by_robbery"]) >= 1  # a planted pattern robbed a sighted shop
    assert all(r["window_open"] == "0" for r in recon)  # NOW lies past every window

    # Hotspots and series: one row per pattern with alerts this month, however many alerts.
    hotspots = read_csv(tmp_path, stem, "hotspots")
    [hotspot] = [h for h in hotspots if h["found"] == "live"]
    # The simulator's own clusters (a planted series' robberies, a crew's sightings) that the
    # alerts made up here do not name: the digest's scan finds them, with no alert.
    afterwards = [h for h in hotspots if h["found"] == "afterwards"]
    assert {(h["alerts"], h["found_label"]) for h in afterwards} <= {("0", "achteraf gevonden")}
    assert [h["label"] for h in hotspots] == [f"H{n}" for n in range(1, len(hotspots) + 1)]
    assert (hotspot["pattern_id"], hotspot["alerts"]) == ("hotspot-ams-2026-10", "2")
    assert int(hotspot["incidents"]) >= 4
    # The contract's codes under the English keys, the words beside them, as the other tables
    # do (a stranger's: 'Amsterdam', 'middel', 'supermarkten' stood under police_units,
    # severity and branch_types).
    assert (hotspot["police_units"], hotspot["police_units_label"]) == ("amsterdam", "Amsterdam")
    assert (hotspot["severity"], hotspot["severity_label"]) == ("medium", "middel")
    codes = hotspot["branch_types"].split(", ")
    assert codes and set(codes) <= {kind.value for kind in BranchType}
    assert hotspot["branch_types_label"] == ", ".join(text.branch_type(c, "nl") for c in codes)
    series = read_csv(tmp_path, stem, "series")
    assert {s["severity"] for s in series} == {"high"}
    assert {s["severity_label"] for s in series} == {"urgent"}
    assert {s["pattern_id"] for s in series} == {
        row["id"] for row in await db.fetch(
            "SELECT DISTINCT payload->>'series_id' AS id FROM alert "
            "WHERE kind = 'series' AND created_at >= $1 AND created_at < $2",
            MONTH.start, MONTH.end,
        )
    }  # fmt: skip

    # The trend: both simulated months counted; the months before the data began are unknown.
    trend = {row["month"]: row["robberies"] for row in read_csv(tmp_path, stem, "trend")}
    assert len(trend) == 12
    assert trend["2026-08"] == ""
    assert int(trend["2026-10"]) == sum(by_kind[k] for k in ("overval", "poging", "woningoverval"))
    september = await db.fetchval(
        "SELECT count(*) FROM event WHERE event_type = 'incident_report' "
        "AND kind IN ('overval', 'poging', 'woningoverval') "
        "AND occurred_at >= $1 AND occurred_at < $2",
        Month(2026, 9).start, Month(2026, 9).end,
    )  # fmt: skip
    assert int(trend["2026-09"]) == september
    ambitions = {row["ambition"]: row for row in read_csv(tmp_path, stem, "ambitions")}
    assert ambitions["robbery_clearance"]["actual"] == ""  # no clearance data: n.b.
    assert ambitions["robberies_12_months"]["months_of_data"] == "2"

    # The page: Dutch, charts and maps inside it, nothing fetched from elsewhere.
    html = unescape(html_path.read_text(encoding="utf-8"))
    for heading in (
        "Naar soort vestiging",
        "Naar politie-eenheid",
        "Naar uur van de dag",
        "Voorverkenningen",
        "Loze alarmeringen per alarmcentrale",
        "Hotspots",
        "Overvalreeksen",
        "Ambities van de Taskforce",
        "oktober 2026",
        "n.b.",
        "Nog geen beoordeelde alerts.",  # nobody judged a pattern in this database
    ):
        assert heading in html, heading  # fmt: skip
    assert html.count('src="data:image/svg+xml;base64,') >= 5
    assert html.count('src="data:image/png;base64,') >= 3
    assert 'src="http' not in html and "<script" not in html and "<link" not in html

    # Aggregates only: the plate pseudonyms and descriptions in the alerts stay behind.
    assert _files_containing(tmp_path, "hp1:", "donkere jas") == []

    audit = await db.fetchrow("SELECT * FROM audit_log WHERE action = 'data_exported'")
    assert audit["subject"] == "digest:2026-10:nl"
    assert f"{stem}.html" in json.loads(audit["details"])["files"]
    assert [done for _, done, _ in steps] == list(range(1, len(steps) + 1))
    assert steps[-1][1] == steps[-1][2]
    # progress is the operator's: English, in a Dutch digest too
    named = [step for step, _, _ in steps]
    assert named[:3] == ["reading data", "scanning for hotspots", "counting"]


async def test_a_robbery_linked_back_is_no_reconnaissance_warning_issued(
    db: asyncpg.Connection,
) -> None:
    # A robbery linked back to reconnaissance is published as a warning update (recon-link:),
    # judged as a link of its own kind: the digest's count of warnings issued leaves it out.
    during = MONTH.start + timedelta(days=3)
    for key in ("recon:rp-1:2", "recon:rp-1:3+1", f"recon-link:{uuid.uuid4()}:2"):
        await store(db, factories.alert(
            kind=AlertKind.RECONNAISSANCE_WARNING, dedup_key=key, occurred_at=during,
            created_at=during,
        ))  # fmt: skip
    snapshot = await read_snapshot(
        db, MONTH, follow_up=timedelta(days=14), escalation_window=timedelta(hours=1), now=NOW
    )
    assert snapshot.recon_warnings == 2


async def test_a_month_before_the_data_began_says_no_data_not_zero(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    # The demo's history begins in August: its digest of January said "0 Overvallen" at the
    # top and "gehaald" (met) for the month's ceiling, while its own trend row said no data
    # (a stranger's).
    await store(db, factories.incident_report(occurred_at=datetime(2026, 8, 12, 18, tzinfo=UTC)))
    await write_digest(settings, "2026-01", tmp_path, now=NOW)
    rows = read_csv(tmp_path, "digest-2026-01-nl", "ambitions")
    ambitions = {row["ambition"]: row for row in rows}
    for code in ("robberies_month", "street_robberies_month"):
        assert (ambitions[code]["actual"], ambitions[code]["verdict"]) == ("", "niet te bepalen")
    html = unescape((tmp_path / "digest-2026-01-nl.html").read_text(encoding="utf-8"))
    top = html[html.index("In het kort"):html.index("Incidenten")]
    assert top.count("geen gegevens") >= 7 and ">0<" not in top
    # A month with data keeps its zero and its verdict.
    await write_digest(settings, "2026-09", tmp_path, now=NOW)
    rows = read_csv(tmp_path, "digest-2026-09-nl", "ambitions")
    ambitions = {row["ambition"]: row for row in rows}
    assert (ambitions["robberies_month"]["actual"], ambitions["robberies_month"]["verdict"]) == (
        "0", "gehaald"
    )


async def test_a_reconnaissance_warning_counts_in_the_month_it_is_about(
    db: asyncpg.Connection,
) -> None:
    # By event time, as every count of the digest: a warning raised after the month (history
    # loaded, a late import) about reconnaissance of the month is one of the month's; one raised
    # in the month about an earlier month is not (a stranger's: the demo's November digest said
    # 0 warnings, its December one counted August's).
    during, after = MONTH.start + timedelta(days=3), MONTH.end + timedelta(days=20)
    before = MONTH.start - timedelta(days=40)
    for key, occurred, raised in (
        ("recon:rp-1:2", during, after),
        ("recon:rp-1:3", during, after),
        ("recon:rp-2:2", before, during),
        ("recon:rp-3:2", during, during),
    ):
        await store(db, factories.alert(
            kind=AlertKind.RECONNAISSANCE_WARNING, dedup_key=key, occurred_at=occurred,
            created_at=raised,
        ))  # fmt: skip
    snapshot = await read_snapshot(
        db, MONTH, follow_up=timedelta(days=14), escalation_window=timedelta(hours=1), now=NOW
    )
    assert snapshot.recon_warnings == 3


async def test_the_stated_chances_are_set_against_the_verdicts_given_by_the_months_end(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """The working group sees whether the alerts' stated chances hold (issue 15 item 5)."""
    series, certain, hotspot, link = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    verdicts = [
        (series, "series", "confirmed", datetime(2026, 10, 10, 9, tzinfo=UTC), 0.9, None),
        (certain, "series", "rejected", datetime(2026, 10, 12, 9, tzinfo=UTC), 0.85, None),
        # Rejected after the month's end: October's digest keeps the verdict it had then.
        (series, "series", "rejected", datetime(2026, 11, 3, 9, tzinfo=UTC), 0.9, None),
        # Judged in September: the check adds up every month until this one.
        (hotspot, "hotspot", "confirmed", datetime(2026, 9, 20, 9, tzinfo=UTC), None, 400.0),
        # A robbery linked back to reconnaissance: the link is what it stated, no chance.
        (link, "reconnaissance_link", "confirmed", datetime(2026, 10, 14, 9, tzinfo=UTC), None,
         None),
    ]
    for alert_id, kind, verdict, at, probability, recurrence in verdicts:
        # No alert row: what was stated is kept with the verdict, so a purged payload or a
        # deleted alert does not change the digest.
        await db.execute(
            "INSERT INTO judgement (alert_id, kind, pattern, verdict, judged_by, judged_at, "
            "model_version, stated_probability, stated_recurrence_days) "
            "VALUES ($1, $2, 'p', $3, 'analist', $4, $5, $6, $7)",
            alert_id, kind, verdict, at, f"{kind}-test", probability, recurrence,
        )  # fmt: skip

    for language in ("nl", "en"):
        html_path = await write_digest(settings, "2026-10", tmp_path, language=language,
                                       now=NOW)  # fmt: skip
        html = unescape(html_path.read_text(encoding="utf-8"))
        rows = read_csv(tmp_path, f"digest-2026-10-{language}", "reliability")
        if language == "nl":
            assert "Kloppen de vermelde kansen?" in html
            assert "Oordelen deze maand: 3" in html
            assert "binnen de marge" in html and "herhalingstijd 365+ dagen" in html
            assert "overval na voorverkenning" in html and "overval gekoppeld" in html
        else:
            assert "Do the stated chances hold?" in html and "within the margin" in html
            assert "robbery after reconnaissance" in html
    # One point per band with a stated probability: the calibration chart is drawn.
    section = html[html.index('id="reliability"'):html.index('id="method"')]
    assert section.count('src="data:image/svg+xml;base64,') == 1
    assert [(r["kind"], r["model_version"], r["stated"], r["judged"], r["confirmed"],
             r["confirmed_share"], r["mean_stated"], r["verdict"]) for r in rows] == [
        ("hotspot", "hotspot-test", "recurrence 365+ days", "1", "1", "1.0", "", ""),
        ("reconnaissance_link", "reconnaissance_link-test", "robbery linked back", "1", "1",
         "1.0", "", ""),
        ("series", "series-test", "chance 0.80-0.95", "2", "1", "0.5", "0.875",
         "within the margin"),
    ]  # fmt: skip
    assert (float(rows[2]["interval_low"]), float(rows[2]["interval_high"])) == pytest.approx(
        (0.0945, 0.9055), abs=1e-4
    )


async def test_the_hand_set_model_is_named_in_words(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    # The series stage's version id without a fitted model, 'hand-set', read as English on the
    # Dutch page; the CSV keeps the id, as it keeps every code.
    await db.execute(
        "INSERT INTO judgement (alert_id, kind, pattern, verdict, judged_by, judged_at, "
        "model_version, stated_probability) VALUES ($1, 'series', 'p', 'confirmed', 'analist', "
        "$2, 'hand-set', 0.9)",
        uuid.uuid4(), datetime(2026, 10, 10, 9, tzinfo=UTC),
    )  # fmt: skip
    cases: tuple[tuple[Language, str], ...] = (("nl", "handmatig ingesteld"), ("en", "hand-set"))
    for language, words in cases:
        html_path = await write_digest(settings, "2026-10", tmp_path, language=language,
                                       now=NOW)  # fmt: skip
        html = unescape(html_path.read_text(encoding="utf-8"))
        section = html[html.index('id="reliability"'):html.index('id="method"')]
        assert f'<td class="">{words}</td>' in section
        assert ("hand-set" in section) is (language == "en")
        [row] = read_csv(tmp_path, f"digest-2026-10-{language}", "reliability")
        assert (row["model_version"], row["model_label"]) == ("hand-set", words)


async def test_english_digest_with_pdf_renders_offline(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await fill(db, days=31)

    html_path = await write_digest(settings, date(2026, 10, 1), tmp_path, language="en", pdf=True,
                                   now=NOW)  # fmt: skip

    html = unescape(html_path.read_text(encoding="utf-8"))
    assert html_path.name == "digest-2026-10-en.html"
    for heading in (
        "By branch type",
        "False alarms per alarm centre",
        "Reconnaissance reports",
        "Robbery series",
        "The taskforce's ambitions",
        "October 2026",
    ):
        assert heading in html, heading  # fmt: skip
    assert "Voorverkenningen" not in html
    # weasyprint is a dev dependency, so the PDF is always tested here.
    assert (tmp_path / "digest-2026-10-en.pdf").read_bytes().startswith(b"%PDF")
    chromium = shutil.which("chromium")
    assert chromium is not None, (
        "the browser checks need Debian's chromium (apt-get install chromium)"
    )
    screenshot = tmp_path / "page.png"
    # A browser with no network: --screenshot returns once the page has loaded.
    await asyncio.to_thread(
        subprocess.run,
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={screenshot}", "--window-size=1200,1600", html_path.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert screenshot.stat().st_size > 50_000  # charts and maps drawn, not a blank page


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_stated_chances_name_where_and_how_each_kind_is_calibrated(
    language: Language,
) -> None:
    # The desk is the police's robbery desk, not an emergency control room (meldkamer); and
    # `heterdaad model fit` fits series only: reconnaissance is calibrated by its bench script
    # (docs/desk.md). The digest named the meldkamer and model fit alone (a stranger's).
    intro = text.phrase("reliability_intro", language)
    assert "meldkamer" not in intro
    assert "heterdaad model fit" in intro and "bench.evaluation.calibrate_recon" in intro


def test_the_method_section_says_the_rules_the_settings_chose() -> None:
    rules = Rules(
        duplicate_window=timedelta(hours=2), episode_window=EPISODE, escalation_window=LATE,
        recon_follow_up=timedelta(days=10), recon_follow_up_radius_m=1500,
        escalation_radius_m=150, escalation_lead=timedelta(minutes=2),
    )  # fmt: skip
    dutch = " ".join(text.method_rules("nl", rules))
    assert "binnen 1,5 km" in dutch and "binnen 10 dagen" in dutch
    assert "binnen 150 m" in dutch and "met 2 minuten speling" in dutch
    # Reports at one spot are one robbery only from two sources (a tester's: two CBL meldingen
    # an hour apart at one branch were counted as one).
    assert "binnen 50 m) binnen 120 minuten zijn één incident als ze van twee organisaties" in (
        dutch
    )
    assert "langs dezelfde weg zijn twee overvallen" in dutch
    english = " ".join(text.method_rules("en", rules))
    assert "one organisation through the same channel are two robberies" in english
    intro = text.with_rules(text.phrase("recon_intro", "en"), "en", rules)
    assert intro.endswith("within 10 days by a robbery within 1.5 km.")


@pytest.mark.parametrize(
    "name", ["Alarmcentrale $\\foo$", "Beveiliging $5 en $6", "x_$^{$"]
)
def test_a_name_with_dollars_is_drawn_as_written_not_as_a_formula(name: str) -> None:
    """An alarm centre's name (organisation.name) labels its bar in the false-alarm chart."""
    uri = charts.horizontal_bars([name, CENTRE_NAME], [3, 1])
    svg = base64.b64decode(uri.split(",", 1)[1]).decode()
    # Matplotlib's mathtext would set what lies between dollars in italics (or fail).
    assert "Oblique" not in svg


@pytest.mark.parametrize(
    ("language", "shown"),
    [("nl", "<td class=\"date\">02-11-2026 05:47</td>"),
     ("en", "<td class=\"date\">2026-11-02 05:47</td>")],
)  # fmt: skip
def test_a_table_dates_its_events_as_the_reader_writes_dates(
    language: Language, shown: str, tmp_path: Path
) -> None:
    # The Dutch page read '2026-11-02 05:47' beside Dutch words, where the desk and the alert
    # line write '02-11-2026 05:47' (a tester's). The CSV keeps one notation in both languages.
    # The cell holds the moment (04:47 UTC is 05:47 in Amsterdam); each output writes it: the
    # page parsed the CSV's text back, and showed any other text as it was.
    table = Table("series_members", "Overvallen per reeks",
                  (Column("label", "nr."), Column("occurred_at", "gebeurd op", "date")),
                  (("S1", datetime(2026, 11, 2, 4, 47, tzinfo=UTC)), ("S1", None)))  # fmt: skip
    html = table_html(table, language)
    assert shown in html
    assert '<td class="date">-</td>' in html
    write_csv(table, tmp_path / "members.csv")
    with (tmp_path / "members.csv").open(encoding="utf-8", newline="") as stream:
        assert list(csv.reader(stream))[1:] == [["S1", "2026-11-02 05:47"], ["S1", ""]]


def test_no_phrase_of_the_digest_writes_a_plural_or_a_group_as_a_form() -> None:
    # The series' intro read 'aan één dader(groep) toeschreef'.
    for key, (dutch, english) in text.PHRASES.items():
        for phrase in (dutch, english):
            assert re.search(r"\w\((s|en|len|n|groep)\)", phrase) is None, key


@pytest.mark.parametrize(("language", "label"), [("nl", "nov '26"), ("en", "Nov '26")])
def test_a_chart_month_cannot_be_read_as_a_day(language: Language, label: str) -> None:
    # The trend chart's "nov 26" reads as 26 November.
    assert text.short_month(Month(2026, 11), language) == label
