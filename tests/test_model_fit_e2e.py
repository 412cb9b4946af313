"""`heterdaad model fit` end to end: judged on the desk, fitted by the CLI, used by the worker."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from consumers.sink import store
from heterdaad.thresholds.time import TimeModel
from schemas.alerts import AlertKind, DetectionBasis
from schemas.events import Weapon
from streams.link_series import MemoryLinkage, link_report
from streams.series_model import load, series_model_dir
from streams.series_scoring import series_alert
from tests import factories
from tests.consumers.test_desk import csrf_token, logged_in, served_desk, users
from tests.kafka_helpers import publish_all
from tests.processes import model_command, running
from tests.streams.test_link_series import NOW, crew_report, east, series_alerts

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings
    from schemas.alerts import Alert
    from schemas.events import IncidentReport

pytestmark = pytest.mark.integration


def judged_series(settings: Settings, crew: list[IncidentReport]) -> Alert:
    """The series alert the stage raises for these robberies, with its evidence."""
    state = MemoryLinkage()
    grown = None
    for report in crew:
        decision = link_report(report, state, settings.series)
        state.apply(decision)
        grown = decision.grown or grown
    assert grown is not None
    newest = max(r.occurred_at for r in crew)
    return series_alert(grown, {r.event_id: r for r in crew}, newest, settings.series,
                        TimeModel(), NOW)  # fmt: skip


async def test_a_model_fitted_from_desk_judgements_is_named_by_the_worker_alerts(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await users(db)
    judged = judged_series(settings, [crew_report(east(km), d) for km, d in ((0, 9), (3, 8),
                                                                          (6, 7))])  # fmt: skip
    await store(db, judged)
    async with served_desk(settings) as base_url, logged_in(base_url) as client:
        page = await client.get(f"/alerts/{judged.alert_id}")
        # The detail page names the model and probability the series rests on.
        assert 'id="basis"' in page.text and "handmatig ingesteld model, kans" in page.text
        answer = await client.post(f"/alerts/{judged.alert_id}/judge",
                                   data={"csrf": csrf_token(page.text), "verdict": "confirmed"})
        assert answer.status_code == 303
    # Retention purges the alert's payload; the judgement kept the links it rests on.
    await db.execute("UPDATE alert SET payload = NULL, payload_purged_at = now()")

    fitted = await asyncio.to_thread(model_command, settings, "fit", "--seed", "41",
                                     "--days", "20")
    assert fitted.returncode == 0, fitted.stderr
    # The judged series' two links are among the pairs learnt from.
    assert "(2 from judgements)" in fitted.stdout, fitted.stdout
    assert re.search(r"cross-validated AUC \(5 folds\): 0\.\d+", fitted.stdout), fitted.stdout
    model = load(series_model_dir(settings.state_dir) / "current.json")
    version = model.version
    assert version.startswith("series-") and version in fitted.stdout
    # The set-level rules are on in what the fit writes (their thresholds replay-checked).
    assert model.triangles and model.path_continuation and model.crew_consistency

    crew = [crew_report(east(km), d) for km, d in ((20, 2), (23, 1))]
    with running(settings, "worker", log=tmp_path / "worker.log") as worker:
        await publish_all(settings, *crew)
        alerts = await series_alerts(settings, worker, until=f"series:{crew[0].event_id}:2")
    alert = next(a for a in alerts if a.series_id == str(crew[0].event_id))
    assert alert.basis is not None and alert.basis.model_version == version
    assert alert.basis.probability is not None and alert.basis.probability > 0.5
    assert "false series alert(s) per 30 days" in alert.basis.calibrated_to


def fit_on_cases(settings: Settings, cases: Path) -> subprocess.CompletedProcess[str]:
    return model_command(settings, "fit", "--no-simulated", "--no-judgements", "--solved-cases",
                         str(cases), "--calibration-seed", "2001", "--days", "20", "--actor",
                         "analist-jansen")  # fmt: skip


async def test_a_model_is_fitted_from_solved_cases_whose_reports_are_stored(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    first = [crew_report(east(km), d) for km, d in ((0, 9), (3, 8), (6, 7))]
    second = [crew_report(east(km), d, offender_count=1, weapons=[Weapon.KNIFE])
              for km, d in ((30, 9), (33, 6))]  # fmt: skip
    press = factories.alarm_activation()
    for event in (*first, *second, press):
        await store(db, event)
    current = series_model_dir(settings.state_dir) / "current.json"

    # A file with rows the store cannot answer: every one named, nothing fitted.
    hostile = tmp_path / "zaken.csv"
    hostile.write_text(f"event_id;case\n{first[0].event_id};PL-1\n{uuid.uuid4()};PL-1\n"
                       f"{press.event_id};PL-2\n", encoding="utf-8")  # fmt: skip
    refused = await asyncio.to_thread(fit_on_cases, settings, hostile)
    assert refused.returncode == 2, refused.stdout
    assert "zaken.csv line 3: event_id: no event with this id is stored" in refused.stderr
    assert "zaken.csv line 4: event_id: the event is alarm_activation" in refused.stderr
    assert not current.exists()

    # The last robbery came in through the CBL import: the analyst names its melding number.
    await db.execute("INSERT INTO organisation (organisation_id, name, role) "
                     "VALUES ('cbl-leden', 'CBL', 'trade_association')")  # fmt: skip
    await db.execute(
        "INSERT INTO import_receipt (event_id, organisation_id, source, source_ref, body_sha256,"
        " file_sha256, file_row) VALUES ($1, 'cbl-leden', 'cbl', 'CBL-0042', 'b', 'f', 2)",
        second[1].event_id,
    )  # fmt: skip
    cases = tmp_path / "opgeloste-zaken.csv"
    rows = [f"{r.event_id};;PL-1" for r in first] + [f"{second[0].event_id};;PL-2",
                                                      ";CBL-0042;PL-2"]  # fmt: skip
    cases.write_text("\ufeffevent_id;melding;case\n" + "\n".join(rows) + "\n",
                     encoding="utf-8")  # fmt: skip
    fitted = await asyncio.to_thread(fit_on_cases, settings, cases)
    assert fitted.returncode == 0, fitted.stderr
    # Within a case: 3 + 1 linked pairs; across the two cases: 3 x 2 unlinked.
    assert "pairs: 4 linked, 6 unlinked" in fitted.stdout, fitted.stdout
    model = load(current)
    assert model.report is not None
    assert model.report.sources == [
        "solved cases opgeloste-zaken.csv: 5 robberies in 2 cases, 10 pairs"
    ]
    # Reading the reports (descriptions, plate pseudonyms) is logged, with who read them.
    audit = await db.fetchrow(
        "SELECT actor, subject, details FROM audit_log WHERE action = 'model_fit_read'"
    )
    assert audit is not None
    assert (audit["actor"], audit["subject"]) == ("analist-jansen", "opgeloste-zaken.csv")
    assert json.loads(audit["details"]) == {"reports": 5, "cases": 2}


async def test_the_stated_chances_are_set_against_the_newest_judgements(
    settings: Settings, db: asyncpg.Connection
) -> None:
    def pattern(kind: AlertKind, probability: float) -> Alert:
        return factories.alert(kind=kind, basis=DetectionBasis(
            model_version="series-test", probability=probability))  # fmt: skip

    series = [pattern(AlertKind.SERIES, p) for p in (0.9, 0.9, 0.85)]
    recon = pattern(AlertKind.RECONNAISSANCE_WARNING, 0.6)
    # What the alert stated, as the desk keeps it with each verdict.
    stated = {alert.alert_id: p for alert, p in zip((*series, recon), (0.9, 0.9, 0.85, 0.6),
                                                    strict=True)}  # fmt: skip
    day = datetime(2026, 11, 2, 9, tzinfo=UTC)
    verdicts = [(series[0], "confirmed", day), (series[1], "confirmed", day),
                # Another analyst rejects it a day later: the newest verdict counts.
                (series[1], "rejected", day + timedelta(days=1)),
                (series[2], "rejected", day), (recon, "confirmed", day - timedelta(days=30))]
    for alert in (*series, recon):
        await store(db, alert)
    for alert, verdict, at in verdicts:
        await db.execute(
            "INSERT INTO judgement (alert_id, kind, pattern, verdict, judged_by, judged_at, "
            "model_version, stated_probability) VALUES ($1, $2, 'p', $3, 'analist', $4, $5, $6)",
            alert.alert_id, alert.kind.value, verdict, at, "series-test", stated[alert.alert_id],
        )  # fmt: skip

    shown = await asyncio.to_thread(model_command, settings, "judged", "--since", "2026-11-01")
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()[1:]]
    # The reconnaissance warning was judged before the 1st; of the three series alerts
    # stating 0.85-0.9, one stands: 33 % (6-79 %), and 0.88 lies above that interval.
    assert rows == [["series", "series-test", "probability", "0.80-0.95", "3", "1", "33%",
                     "(6%-79%)", "0.88", "overstates"]]  # fmt: skip
    everything = await asyncio.to_thread(model_command, settings, "judged")
    assert "reconnaissance_warning" in everything.stdout
    # Retention purges the alerts' payloads; what they stated was kept with the verdicts.
    await db.execute("UPDATE alert SET payload = NULL, payload_purged_at = now()")
    purged = await asyncio.to_thread(model_command, settings, "judged", "--since", "2026-11-01")
    assert [line.split() for line in purged.stdout.splitlines()[1:]] == rows
    reads = await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'model_judged_read'")
    assert reads == 3
