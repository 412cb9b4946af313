"""The monthly digest for the retailer-police working group: read, count, draw, write, audit."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from consumers.digest import export, render
from consumers.digest.content import Rules, compose
from consumers.digest.found import found_hotspots
from consumers.digest.period import Month
from consumers.digest.read import read_snapshot
from consumers.digest.tables import all_tables
from heterdaad.audit import row_of, write_audit_rows
from heterdaad.db import create_pool
from schemas.events import AuditAction, AuditEvent

if TYPE_CHECKING:
    from consumers.digest.read import Snapshot
    from heterdaad.language import Language
    from heterdaad.settings import Settings
    from heterdaad.thresholds.hotspots import HotspotThresholds

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called after each step with (what was done, steps done, steps in all)."""

# What the callback is told: progress is the operator's, so English in a digest of either
# language (README.md, "Languages").
STEPS = {
    "step_read": "reading data",
    "step_scan": "scanning for hotspots",
    "step_count": "counting",
    "step_charts": "drawing charts",
    "step_maps": "drawing maps",
    "step_write": "writing HTML and CSV",
    "step_pdf": "making the PDF",
    "step_audit": "logging the export",
}


def digest_stem(month: Month, language: Language) -> str:
    """The name every file of one digest starts with, e.g. 'digest-2026-10-nl'."""
    return f"digest-{month}-{language}"


class _Steps:
    """Counts the steps and tells the caller's progress callback."""

    def __init__(self, progress: Progress | None, pdf: bool) -> None:
        self.progress = progress
        self.total = len(STEPS) if pdf else len(STEPS) - 1
        self.done = 0

    def __call__(self, key: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(STEPS[key], self.done, self.total)


async def write_digest(
    settings: Settings,
    month: date | str,
    out_dir: Path,
    *,
    language: Language | None = None,
    pdf: bool = False,
    progress: Progress | None = None,
    actor: str = "system",
    now: datetime | None = None,
) -> Path:
    """Write the month's digest (HTML, a CSV per table, optionally a PDF) and return the HTML.

    Dutch unless `language` or the settings say otherwise. Reads PostgreSQL in one consistent
    snapshot and records the export in the audit log as 'data_exported' by `actor`. `now`
    fixes the moment the digest is made (tests, reruns).
    """
    language = language or settings.language
    made_at = now or datetime.now(UTC)
    chosen = Month.parse(month, now=made_at)
    step = _Steps(progress, pdf)
    rules = Rules.from_settings(settings)
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        async with pool.acquire() as connection:
            snapshot = await read_snapshot(
                connection, chosen, follow_up=rules.recon_follow_up,
                escalation_window=rules.escalation_window, now=made_at,
                hotspots=settings.hotspots,
            )  # fmt: skip
            step("step_read")
            # Counting and drawing take a second or two of CPU and file writes: off the loop.
            written = await asyncio.to_thread(
                _produce, snapshot, rules, settings.hotspots, out_dir, language, pdf, step
            )
            await write_audit_rows(
                connection, [row_of(_audit(chosen, language, actor, written, made_at))]
            )
            step("step_audit")
    finally:
        await pool.close()
    logger.info(
        "digest.written month=%s language=%s html=%s files=%d",
        chosen, language, written[0], len(written),
    )  # fmt: skip
    return written[0]


def _produce(
    snapshot: Snapshot,
    rules: Rules,
    hotspots: HotspotThresholds,
    out_dir: Path,
    language: Language,
    pdf: bool,
    step: _Steps,
) -> list[Path]:
    """Every file of the digest, the HTML first."""
    # The stage's scan as of every event of the month: some tens of seconds for a busy one.
    found = found_hotspots(snapshot.scan_events, snapshot.month, snapshot.scan_since, hotspots)
    step("step_scan")
    digest = compose(snapshot, rules, found)
    tables = all_tables(digest, language)
    step("step_count")
    drawn = render.draw_charts(digest, tables, language)
    step("step_charts")
    drawn_maps = render.draw_maps(digest, language)
    step("step_maps")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = digest_stem(snapshot.month, language)
    csv_files = {name: out_dir / f"{stem}-{name}.csv" for name in tables}
    for name, table in tables.items():
        export.write_csv(table, csv_files[name])
    html = render.render_html(
        digest, tables, drawn, drawn_maps, language,
        files=[path.name for path in csv_files.values()],
        rules=rules,
    )  # fmt: skip
    html_path = out_dir / f"{stem}.html"
    html_path.write_text(html, encoding="utf-8")
    written = [html_path, *csv_files.values()]
    step("step_write")
    if pdf:
        pdf_path = out_dir / f"{stem}.pdf"
        if export.write_pdf(html, pdf_path):
            written.append(pdf_path)
        step("step_pdf")
    return written


def _audit(
    month: Month, language: Language, actor: str, written: list[Path], at: datetime
) -> AuditEvent:
    # The audit row names what left the system and where to; the files hold aggregates only.
    return AuditEvent(
        audit_id=uuid.uuid4(),
        at=at,
        actor=actor,
        action=AuditAction.DATA_EXPORTED,
        subject=f"digest:{month}:{language}",
        details={
            "kind": "monthly_digest",
            "month": str(month),
            "language": language,
            "files": [path.name for path in written],
            "directory": str(written[0].parent.resolve()),
        },
    )
