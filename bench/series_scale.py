"""What one more robbery costs the series stage as its series grows: `python -m bench.series_scale`.

One crew's robberies at one place, all linked into one series (what the long kill test in
tests/test_fault_tolerance.py sends), through `link_report` and the alert, with the state in
JSON tables as the worker holds it (`TableLinkage` over dicts: the Faust tables' memory
store). Each size is timed over the next `--batch` reports after `size` have been linked; the
figure is the seconds a report takes, and its ratio to the smallest size measured in the same
run, so the noise of a shared machine cancels out. Pure, no broker.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime

from heterdaad.settings import Settings
from schemas.events import IncidentReport
from streams.link_series import TableLinkage, link_report, member_reports
from streams.series_scoring import SeriesState, series_alert
from tests import factories

SIZES = (10, 50, 100, 150)


def seconds_per_report(size: int, batch: int, settings: Settings) -> float:
    """Link `size` reports of one crew, then time the next `batch`."""
    reports = [
        factories.incident_report(branch=factories.branch(branch_id=f"b-{uuid.uuid4().hex[:8]}"))
        for _ in range(size + batch)
    ]
    t = settings.series
    tables: tuple[dict[bytes, bytes], ...] = ({}, {}, {})
    linkage = TableLinkage(*tables)  # type: ignore[arg-type]  # a dict stands in for a table

    def link(report: IncidentReport) -> None:
        decision = link_report(report, linkage, t)
        if decision.grown is not None and decision.window is not None:
            assert decision.window.newest is not None
            members = member_reports(decision.grown, decision, linkage)
            series_alert(decision.grown, members, decision.window.newest, t, settings.time,
                         datetime.now(UTC), None)  # fmt: skip
        linkage.apply(decision)

    for report in reports[:size]:
        link(report)
    start = time.perf_counter()
    for report in reports[size:]:
        link(report)
    seconds = (time.perf_counter() - start) / batch
    # Measured what it says: every report in the one series.
    [series] = [SeriesState.model_validate_json(raw) for raw in tables[1].values()]
    if series.size != size + batch:
        raise RuntimeError(f"{series.size} of {size + batch} reports in the series")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--batch", type=int, default=10, help="reports timed at each size")
    args = parser.parse_args()
    settings = Settings(_env_file=None)
    figures = [(size, seconds_per_report(size, args.batch, settings)) for size in args.sizes]
    base = figures[0][1]
    print("| series members before | s per report | ratio to the first row |")
    print("|---|---|---|")
    for size, seconds in figures:
        print(f"| {size} | {seconds:.3f} | {seconds / base:.1f} |")


if __name__ == "__main__":
    main()
