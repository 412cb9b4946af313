"""The CBL import: every row of an export published as an incident report once, or rejected."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka.errors import KafkaError

from heterdaad.auth import Caller
from heterdaad.db import create_pool
from heterdaad.kafka import make_producer, publish
from producers.api import permissions, registry
from producers.api.audit import UNKNOWN_SUBJECT, audit_entry, write_audit
from producers.api.edge import PlateKey
from producers.api.kinds import INCIDENT_REPORT
from producers.api.receipts import body_digest, find_receipts, lock_event_ids
from producers.cbl_import.layout import FILIAALNUMMER, MELDINGSNUMMER
from producers.cbl_import.receipts import (
    NewImportReceipt,
    find_import_receipts,
    find_imported_meldings,
    store_import_receipts,
)
from producers.cbl_import.report import (
    ImportInterrupted,
    ImportProgress,
    ImportReport,
    ProgressCallback,
    Rejection,
    default_rejections_path,
    write_rejections,
)
from producers.cbl_import.rows import Problem, convert_row
from producers.cbl_import.sheet import CblImportError, SourceRow, batches, read_sheet
from schemas.events import AuditAction, AuditEvent, IncidentReport
from schemas.pseudonym import mask_plates

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from aiokafka import AIOKafkaProducer
    from aiokafka.structs import RecordMetadata

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

SOURCE = "cbl-import"
BATCH_ROWS = 200


class ImportRefused(CblImportError):
    """The organisation named may not import incident reports."""


@dataclass(frozen=True)
class _Candidate:
    """A valid, pseudonymised row that is new within its file."""

    row: int
    melding: str
    event: IncidentReport
    event_id: str
    digest: str


@dataclass
class _Tally:
    """What the import decided so far, row by row."""

    rows_total: int
    published: int = 0
    already_imported: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    rejected_rows: set[int] = field(default_factory=set)
    # The first row of each event id in the file, and its digest: a repeat is compared to it.
    first_rows: dict[str, tuple[int, str]] = field(default_factory=dict)
    rows_done: int = 0

    def progress(self) -> ImportProgress:
        return ImportProgress(
            rows_done=self.rows_done,
            rows_total=self.rows_total,
            published=self.published,
            already_imported=self.already_imported,
            rejected=len(self.rejections),
        )


async def import_cbl(
    settings: Settings,
    path: Path,
    *,
    reporting_org: str,
    progress: ProgressCallback | None = None,
    rejections_path: Path | None = None,
    batch_rows: int = BATCH_ROWS,
    publish_timeout: float = 30.0,
) -> ImportReport:
    """Publish each row of the export at `path` as an IncidentReport of `reporting_org`.

    Rows already imported (same melding, same content) are skipped, rows that cannot be
    published are listed with their reasons in the rejection report. Raises CblFileError for a
    file that is not in the layout, ImportRefused for an organisation that may not report, and
    ImportInterrupted when the broker stops acknowledging (a re-run continues where it stopped).
    """
    sheet = read_sheet(path)
    # Fails before anything is read from the database when HETERDAAD_PLATE_KEY is missing.
    plate_key = PlateKey(settings.require_plate_key(), settings.plate_key_id)
    tally = _Tally(rows_total=len(sheet.rows))
    logger.info(
        "cbl import started",
        extra={"file_sha256": sheet.file_sha256, "rows": len(sheet.rows), "org": reporting_org},
    )
    try:
        pool = await create_pool(settings, max_size=2)
    except (OSError, asyncpg.PostgresError) as error:
        raise CblImportError(f"the database is unavailable: {error}") from error
    try:
        caller = await _reporting_caller(pool, reporting_org)
        producer = make_producer(settings)
        try:
            await producer.start()
        except (KafkaError, OSError) as error:
            await producer.stop()
            raise CblImportError(
                f"Kafka at {settings.kafka_bootstrap} is unavailable, nothing was published: "
                f"{error}"
            ) from error
        try:
            run = _Run(settings, pool, producer, caller, plate_key, sheet.file_sha256, tally)
            for batch in batches(sheet.rows, batch_rows):
                await run.import_batch(batch, publish_timeout)
                if progress is not None:
                    progress(tally.progress())
        finally:
            await producer.stop()
    finally:
        await pool.close()
    target = rejections_path or default_rejections_path(path)
    write_rejections(target, tally.rejections)
    report = ImportReport(
        path=path,
        file_sha256=sheet.file_sha256,
        rows=len(sheet.rows),
        published=tally.published,
        already_imported=tally.already_imported,
        rejections=tuple(sorted(tally.rejections, key=lambda rejection: rejection.row)),
        rejection_report=target,
    )
    logger.info(
        "cbl import finished",
        extra={
            "file_sha256": sheet.file_sha256,
            "org": reporting_org,
            "rows": report.rows,
            "published": report.published,
            "already_imported": report.already_imported,
            "rejected": report.rejected,
        },
    )
    return report


async def _reporting_caller(pool: asyncpg.Pool, organisation_id: str) -> Caller:
    """The organisation as the intake would see it, so the import follows the API's rules."""
    row = await pool.fetchrow(
        "SELECT role, disabled_at FROM organisation WHERE organisation_id = $1", organisation_id
    )
    if row is None:
        raise ImportRefused(
            f"organisation {organisation_id} does not exist (register it: heterdaad org create)"
        )
    if row["disabled_at"] is not None:
        raise ImportRefused(f"organisation {organisation_id} is disabled")
    if row["role"] not in INCIDENT_REPORT.roles:
        raise ImportRefused(
            f"organisation {organisation_id} has the role {row['role']}; incident reports come "
            "from a retailer or a trade association"
        )
    return Caller(
        organisation_id=organisation_id,
        role=row["role"],
        scopes=frozenset({INCIDENT_REPORT.scope}),
        key_id=SOURCE,
    )


@dataclass
class _Run:
    settings: Settings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    caller: Caller
    plate_key: PlateKey
    file_sha256: str
    tally: _Tally

    async def import_batch(self, rows: Sequence[SourceRow], publish_timeout: float) -> None:
        audit: list[AuditEvent] = []
        candidates, repeats = self._candidates(rows, audit)
        failures: list[BaseException] = []
        async with self.pool.acquire() as connection, connection.transaction():
            if candidates:
                failures = await self._judge_and_publish(
                    connection, candidates, audit, publish_timeout
                )
            for row, melding, first_row in repeats:
                self._settle_repeat(row, melding, first_row, audit)
            await write_audit(connection, audit)
        self.tally.rows_done += len(rows)
        if failures:
            raise ImportInterrupted(
                f"the broker did not acknowledge {len(failures)} row(s): {failures[0]}",
                self.tally.progress(),
            )

    def _candidates(
        self, rows: Sequence[SourceRow], audit: list[AuditEvent]
    ) -> tuple[list[_Candidate], list[tuple[int, str, int]]]:
        """Rows worth asking the database about, and repeats within the file of earlier rows."""
        candidates: list[_Candidate] = []
        repeats: list[tuple[int, str, int]] = []
        for row in rows:
            converted = convert_row(row, self.caller.organisation_id, self.plate_key.key)
            event_id = None if converted.event_id is None else str(converted.event_id)
            if converted.report is None:
                self._reject(
                    row.number, converted.melding, converted.problems, 422, audit, event_id
                )
                continue
            event = converted.report.pseudonymised(self.plate_key)
            digest = body_digest(event)
            event_id = str(event.event_id)
            first = self.tally.first_rows.setdefault(event_id, (row.number, digest))
            if first[0] != row.number:
                if first[1] == digest:
                    repeats.append((row.number, converted.melding, first[0]))
                else:
                    problem = Problem(
                        MELDINGSNUMMER,
                        f"{converted.melding} is also on row {first[0]} with other content",
                    )
                    self._reject(row.number, converted.melding, (problem,), 409, audit, event_id)
                continue
            candidates.append(_Candidate(row.number, converted.melding, event, event_id, digest))
        return candidates, repeats

    async def _judge_and_publish(
        self,
        connection: asyncpg.Connection,
        candidates: list[_Candidate],
        audit: list[AuditEvent],
        publish_timeout: float,
    ) -> list[BaseException]:
        candidates = await self._as_imported_before(connection, candidates)
        candidates = await self._as_registered(connection, candidates)
        event_ids = [candidate.event_id for candidate in candidates]
        # Held until commit, as in the intake API: a concurrent import or API post of the same
        # melding waits for this one's receipts instead of publishing it a second time.
        await lock_event_ids(connection, event_ids)
        imported = await find_import_receipts(connection, event_ids)
        posted = await find_receipts(connection, event_ids)
        refusals = await permissions.ownership_refusals(
            connection, self.caller, [candidate.event for candidate in candidates]
        )
        to_publish = []
        for candidate, refusal in zip(candidates, refusals, strict=True):
            earlier = imported.get(candidate.event_id)
            earlier_digest = earlier.body_sha256 if earlier else None
            if earlier is None and candidate.event_id in posted:
                earlier_digest = posted[candidate.event_id].body_sha256
            if earlier_digest == candidate.digest:
                self.tally.already_imported += 1
            elif earlier_digest is not None:
                poster = posted[candidate.event_id].organisation_id if not earlier else None
                when = (
                    f"imported on {earlier.imported_at:%Y-%m-%d} from row {earlier.file_row}"
                    if earlier
                    else "posted through the API"
                    if poster == self.caller.organisation_id
                    # Only possible with the id key known: the id is taken on the wire.
                    else "posted through the API by another organisation"
                )
                problem = Problem(
                    MELDINGSNUMMER,
                    f"{candidate.melding} was {when} with other content; a changed report is "
                    "not published again under the same melding",
                )
                self._reject(
                    candidate.row, candidate.melding, (problem,), 409, audit, candidate.event_id
                )
            elif refusal is not None:
                problem = Problem(FILIAALNUMMER, refusal)
                self._reject(
                    candidate.row, candidate.melding, (problem,), 403, audit, candidate.event_id
                )
            else:
                to_publish.append(candidate)
        return await self._publish(connection, to_publish, audit, publish_timeout)

    async def _as_imported_before(
        self, connection: asyncpg.Connection, candidates: list[_Candidate]
    ) -> list[_Candidate]:
        """Each melding under the id it was first imported under, if it was imported before."""
        ids = await find_imported_meldings(
            connection, self.caller.organisation_id, [c.melding for c in candidates]
        )
        kept = []
        for candidate in candidates:
            event_id = ids.get(candidate.melding, candidate.event_id)
            if event_id != candidate.event_id:
                event = candidate.event.model_copy(update={"event_id": uuid.UUID(event_id)})
                candidate = replace(
                    candidate, event=event, event_id=event_id, digest=body_digest(event)
                )
            kept.append(candidate)
        return kept

    @staticmethod
    async def _as_registered(
        connection: asyncpg.Connection, candidates: list[_Candidate]
    ) -> list[_Candidate]:
        """Each row's branch as registered, not as the export has it (producers/api/registry.py)."""
        events = await registry.as_registered(connection, [c.event for c in candidates])
        registered = []
        for candidate, event in zip(candidates, events, strict=True):
            # Reports have branches, never sites: nothing here is Unregistered.
            assert isinstance(event, IncidentReport)
            registered.append(replace(candidate, event=event, digest=body_digest(event)))
        return registered

    async def _publish(
        self,
        connection: asyncpg.Connection,
        candidates: list[_Candidate],
        audit: list[AuditEvent],
        publish_timeout: float,
    ) -> list[BaseException]:
        source = f"/producers/{SOURCE}/{self.caller.organisation_id}"

        async def publish_one(candidate: _Candidate) -> RecordMetadata:
            async with asyncio.timeout(publish_timeout):
                return await publish(
                    self.producer,
                    INCIDENT_REPORT.spec,
                    candidate.event,
                    prefix=self.settings.topic_prefix,
                    source=source,
                )

        outcomes = await asyncio.gather(
            *(publish_one(candidate) for candidate in candidates), return_exceptions=True
        )
        receipts, failures = [], []
        for candidate, outcome in zip(candidates, outcomes, strict=True):
            if isinstance(outcome, KafkaError | TimeoutError):
                failures.append(outcome)
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            self.tally.published += 1
            receipts.append(
                NewImportReceipt(
                    event_id=candidate.event_id,
                    organisation_id=self.caller.organisation_id,
                    source_ref=candidate.melding,
                    body_sha256=candidate.digest,
                    file_sha256=self.file_sha256,
                    file_row=candidate.row,
                )
            )
            details = self._details(candidate.row, 202) | {
                "topic": outcome.topic,
                "partition": outcome.partition,
                "offset": outcome.offset,
            }
            audit.append(
                audit_entry(
                    self.caller.organisation_id,
                    AuditAction.EVENT_ACCEPTED,
                    candidate.event_id,
                    details,
                )
            )
            logger.debug("cbl row published", extra={"event_id": candidate.event_id, **details})
        await store_import_receipts(connection, receipts)
        return failures

    def _settle_repeat(
        self, row: int, melding: str, first_row: int, audit: list[AuditEvent]
    ) -> None:
        """A row equal to an earlier row of the file shares that row's fate."""
        if first_row in self.tally.rejected_rows:
            problem = Problem(MELDINGSNUMMER, f"same report as row {first_row}, which was rejected")
            self._reject(row, melding, (problem,), 409, audit, None)
        else:
            self.tally.already_imported += 1

    def _reject(
        self,
        row: int,
        melding: str,
        problems: Sequence[Problem],
        status: int,
        audit: list[AuditEvent],
        event_id: str | None,
    ) -> None:
        # Reasons name columns and never quote cells; what is quoted (a melding number) is
        # masked where it looks like a plate, for the report file and the audit log alike.
        melding = _masked(melding)
        problems = [Problem(problem.column, _masked(problem.reason)) for problem in problems]
        self.tally.rejections.append(Rejection(row, melding, tuple(problems)))
        self.tally.rejected_rows.add(row)
        reasons = [{"field": problem.column, "reason": problem.reason} for problem in problems]
        audit.append(
            audit_entry(
                self.caller.organisation_id,
                AuditAction.EVENT_REJECTED,
                event_id or UNKNOWN_SUBJECT,
                self._details(row, status) | {"reason": reasons},
            )
        )
        # Columns only: a reason may quote a cell, and the log is no place for report content.
        logger.info(
            "cbl row rejected",
            extra={
                "row": row,
                "event_id": event_id,
                "file_sha256": self.file_sha256,
                "columns": sorted({problem.column for problem in problems}),
            },
        )

    def _details(self, row: int, status: int) -> dict[str, Any]:
        return {
            "kind": INCIDENT_REPORT.name,
            "status": status,
            "key_id": SOURCE,
            "file_sha256": self.file_sha256,
            "row": row,
        }


def _masked(text: str) -> str:
    return mask_plates(text.encode()).decode()
