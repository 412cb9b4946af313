"""`heterdaad model fit` end to end: judged on the desk, fitted by the CLI, used by the worker."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from consumers.sink import store
from heterdaad.thresholds.time import TimeModel
from streams.link_series import MemoryLinkage, link_report
from streams.series_model import load, series_model_dir
from streams.series_scoring import series_alert
from tests.consumers.test_desk import csrf_token, logged_in, served_desk, users
from tests.kafka_helpers import publish_all
from tests.processes import running
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


def fit_model(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assembly.cli", "model", "fit", "--seed", "41", "--days", "20"],
        env=os.environ | settings.to_env(), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


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
        assert 'id="basis"' in page.text and "model hand-set, kans" in page.text
        answer = await client.post(f"/alerts/{judged.alert_id}/judge",
                                   data={"csrf": csrf_token(page.text), "verdict": "confirmed"})
        assert answer.status_code == 303

    fitted = await asyncio.to_thread(fit_model, settings)
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
