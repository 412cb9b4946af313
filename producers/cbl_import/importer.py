"""The CBL import: every row of an export published as an incident report once, or rejected.

Rows go the intake's way in (producers/ingest.py): judged, claimed as pending receipts,
published through the one checked producer, then confirmed with their import receipts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import asyncpg

from heterdaad import plate_keys
from heterdaad.auth import Caller
from heterdaad.db import create_pool
from heterdaad.notation import number
from producers import ingest
from producers.api.audit import UNKNOWN_SUBJECT, audit_entry, write_audit
from producers.api.broker import BrokerLink, BrokerUnavailable
from producers.api.edge import PlateKey
from producers.api.kinds import INCIDENT_REPORT
from producers.api.receipts import (
    NewReceipt,
    body_digest,
    claim_receipts,
    find_receipts,
    lock_event_ids,
    release_receipts,
)
from producers.cbl_import.layout import BREEDTEGRAAD, FILIAALNUMMER, LENGTEGRAAD, MELDINGSNUMMER
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
    RowWarning,
    default_rejections_path,
    write_rejections,
)
from producers.cbl_import.rows import Problem, convert_row
from producers.cbl_import.sheet import CblImportError, SourceRow, batches, read_sheet
from schemas.distance import metres_between
from schemas.events import AuditAction, AuditEvent, IncidentReport
from schemas.pseudonym import mask_plates

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from aiokafka.structs import RecordMetadata

    from heterdaad.language import Language
    from heterdaad.settings import Settings
    from producers.cbl_import.receipts import ImportReceipt
    from schemas.common import Branch, Location

logger = logging.getLogger(__name__)

SOURCE = "cbl-import"
BATCH_ROWS = 200
# A row whose own location lies farther than this from its branch as registered is published
# at the registered location, with a warning: geocoding the same shop by address, postcode or
# entrance differs by tens to a few hundred metres, while a mistyped filiaalnummer is mostly
# another branch kilometres away, in another neighbourhood or town (docs/cbl-import.md).
LOCATION_WARNING_METRES = 1_000.0


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
    # What the row was taken as but someone should check, (English, Dutch): rows.ConvertedRow.
    notes: tuple[tuple[str, str], ...] = ()


@dataclass
class _Tally:
    """What the import decided so far, row by row."""

    rows_total: int
    published: int = 0
    already_imported: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    rejected_rows: set[int] = field(default_factory=set)
    warnings: list[RowWarning] = field(default_factory=list)
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


def _write_report(
    target: Path, rejections: Sequence[Rejection], language: Language, *, published: int
) -> None:
    """The rejection report, or CblImportError naming it (not its temporary file) and why."""
    try:
        write_rejections(target, rejections, language)
    except OSError as error:
        why = error.strerror or str(error)
        raise CblImportError(
            f"the rejection report {target} cannot be written: {why}; {published} row(s) were "
            "published (choose another place with --rejections)",
            f"het afwijzingsrapport {target} kan niet worden geschreven: {why}; er zijn "
            f"{published} rij(en) verstuurd (kies een andere plek met --rejections)",
        ) from error


async def import_cbl(
    settings: Settings,
    path: Path,
    *,
    reporting_org: str,
    progress: ProgressCallback | None = None,
    rejections_path: Path | None = None,
    language: Language | None = None,
    batch_rows: int = BATCH_ROWS,
    publish_timeout: float = 30.0,
    location_warning_metres: float = LOCATION_WARNING_METRES,
) -> ImportReport:
    """Publish each row of the export at `path` as an IncidentReport of `reporting_org`.

    Rows already imported (same melding, same content) are skipped, rows that cannot be
    published are listed with their reasons in the rejection report, in `language` (default:
    Settings.language). A row whose location lies more than `location_warning_metres` from its
    branch as registered is published at the registered one and listed in the report's
    warnings. Raises CblFileError for a file that is not in the layout,
    ImportRefused for an organisation that may not report, and ImportInterrupted when the
    broker stops acknowledging (a re-run continues where it stopped).
    """
    sheet = read_sheet(path)
    # Fails before anything is read from the database when HETERDAAD_PLATE_KEY is missing.
    plate_key = PlateKey(settings.require_plate_key(), settings.plate_key_id)
    target = rejections_path or default_rejections_path(path)
    language = language or settings.language
    # Written empty first: a report that cannot be written stops the import before anything
    # is published, not after every row was (and an old report never looks current).
    _write_report(target, (), language, published=0)
    tally = _Tally(rows_total=len(sheet.rows))
    logger.info(
        "cbl import started",
        extra={"file_sha256": sheet.file_sha256, "rows": len(sheet.rows), "org": reporting_org},
    )
    try:
        pool = await create_pool(settings, max_size=2)
    except (OSError, asyncpg.PostgresError) as error:
        raise CblImportError(
            f"the database is unavailable: {error}", f"de database is niet bereikbaar: {error}"
        ) from error
    try:
        # The key its id named before, or the import stops before anything is published.
        await plate_keys.claim(pool, plate_key.key, plate_key.key_id)
        caller = await _reporting_caller(pool, reporting_org)
        # The API's producer link: checked, and replaced when the broker restarts mid-send.
        broker = BrokerLink(
            settings,
            publish_timeout=publish_timeout,
            retry_seconds=settings.api_limits.broker_retry_seconds,
        )
        try:
            await broker.start()
            if not broker.connected:
                raise CblImportError(
                    f"Kafka at {settings.kafka_bootstrap} is unavailable, nothing was published",
                    f"Kafka op {settings.kafka_bootstrap} is niet bereikbaar, er is niets "
                    "verstuurd",
                )
            run = _Run(
                pool,
                broker,
                caller,
                plate_key,
                sheet.file_sha256,
                tally,
                publish_timeout,
                location_warning_metres,
            )
            try:
                for batch in batches(sheet.rows, batch_rows):
                    await run.import_batch(batch)
                    if progress is not None:
                        progress(tally.progress())
            except asyncio.CancelledError:
                # Ctrl-C (asyncio.run cancels the import): the caller hears how far it got.
                if progress is not None:
                    progress(tally.progress())
                raise
        finally:
            await broker.stop()
    finally:
        await pool.close()
    _write_report(target, tally.rejections, language, published=tally.published)
    report = ImportReport(
        path=path,
        file_sha256=sheet.file_sha256,
        rows=len(sheet.rows),
        published=tally.published,
        already_imported=tally.already_imported,
        rejections=tuple(sorted(tally.rejections, key=lambda rejection: rejection.row)),
        rejection_report=target,
        warnings=tuple(sorted(tally.warnings, key=lambda warning: warning.row)),
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
            "warnings": len(report.warnings),
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
            f"organisation {organisation_id} does not exist (register it: heterdaad org create)",
            f"organisatie {organisation_id} bestaat niet (registreer haar: heterdaad org create)",
        )
    if row["disabled_at"] is not None:
        raise ImportRefused(
            f"organisation {organisation_id} is disabled",
            f"organisatie {organisation_id} is uitgeschakeld",
        )
    if row["role"] not in INCIDENT_REPORT.roles:
        raise ImportRefused(
            f"organisation {organisation_id} has the role {row['role']}; incident reports come "
            "from a retailer or a trade association",
            f"organisatie {organisation_id} heeft de rol {row['role']}; incidentmeldingen komen "
            "van een retailer of een brancheorganisatie",
        )
    return Caller(
        organisation_id=organisation_id,
        role=row["role"],
        scopes=frozenset({INCIDENT_REPORT.scope}),
        key_id=SOURCE,
    )


@dataclass
class _Run:
    pool: asyncpg.Pool
    broker: BrokerLink
    caller: Caller
    plate_key: PlateKey
    file_sha256: str
    tally: _Tally
    publish_timeout: float
    location_warning_metres: float

    async def import_batch(self, rows: Sequence[SourceRow]) -> None:
        audit: list[AuditEvent] = []
        candidates, repeats = self._candidates(rows, audit)
        to_publish: list[_Candidate] = []
        in_flight = 0
        async with self.pool.acquire() as connection:
            if candidates:
                # Short: locks, receipts looked up, new ones claimed as pending; committed
                # before the publish, so no transaction or lock waits on Kafka's ack.
                async with connection.transaction():
                    to_publish, in_flight = await self._judge(connection, candidates, audit)
            try:
                published, failures = await self._publish(to_publish, audit)
                for row, melding, first_row in repeats:
                    self._settle_repeat(row, melding, first_row, audit)
                confirming = asyncio.ensure_future(
                    self._confirm(connection, to_publish, published, audit, len(rows))
                )
                try:
                    await asyncio.shield(confirming)
                except asyncio.CancelledError:
                    # Ctrl-C while confirming: the commit finishes first (milliseconds), so
                    # the rows it confirms are counted, and the count told is what is stored.
                    await confirming
                    raise
            except BaseException:
                # Nothing confirmed: a re-run publishes these rows again.
                with contextlib.suppress(Exception):
                    await release_receipts(connection, [c.event_id for c in to_publish])
                raise
        if failures or in_flight:
            if failures:
                reason = (
                    f"the broker did not acknowledge {len(failures)} row(s): {failures[0]}",
                    f"de broker bevestigde {len(failures)} rij(en) niet: {failures[0]}",
                )
            else:
                reason = (
                    f"{in_flight} row(s) are being published by another import or request",
                    f"{in_flight} rij(en) worden al door een andere import of aanvraag verstuurd",
                )
            raise ImportInterrupted(reason, self.tally.progress())

    async def _confirm(
        self,
        connection: asyncpg.Connection,
        to_publish: Sequence[_Candidate],
        published: Sequence[_Candidate],
        audit: list[AuditEvent],
        rows: int,
    ) -> None:
        """Confirm what the broker acknowledged, and count it in the same step."""
        async with connection.transaction():
            claimed = [candidate.event_id for candidate in to_publish]
            await ingest.settle(connection, claimed, [c.event_id for c in published])
            await store_import_receipts(connection, [self._receipt(c) for c in published])
            await write_audit(connection, audit)
        # Counted as soon as confirmed: an interrupted import tells the count it left.
        self.tally.published += len(published)
        self.tally.rows_done += rows

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
                        f"{converted.melding} staat ook op rij {first[0]}, met andere inhoud",
                    )
                    self._reject(row.number, converted.melding, (problem,), 409, audit, event_id)
                continue
            candidates.append(
                _Candidate(
                    row.number, converted.melding, event, event_id, digest, converted.notes
                )
            )
        return candidates, repeats

    async def _judge(
        self,
        connection: asyncpg.Connection,
        candidates: list[_Candidate],
        audit: list[AuditEvent],
    ) -> tuple[list[_Candidate], int]:
        """The rows to publish, claimed as pending receipts, and how many another delivery has."""
        candidates = await self._as_imported_before(connection, candidates)
        event_ids = [candidate.event_id for candidate in candidates]
        # Held until commit, as in the intake API: a concurrent import or API post of the same
        # melding waits for this one's claims instead of publishing it a second time.
        await lock_event_ids(connection, event_ids)
        judgements = await ingest.judge(connection, self.caller, [c.event for c in candidates])
        imported = await find_import_receipts(connection, event_ids)
        posted = await find_receipts(connection, event_ids, with_pending=True)
        to_publish, in_flight = [], 0
        for candidate, judgement in zip(candidates, judgements, strict=True):
            # Reports have branches, never sites: the registry finds nothing Unregistered.
            assert judgement.refusal is None or isinstance(judgement.refusal, str)
            assert isinstance(judgement.event, IncidentReport)
            given = candidate.event.branch.location
            candidate = replace(candidate, event=judgement.event, digest=judgement.digest)
            receipt = posted.get(candidate.event_id)
            if receipt is not None and receipt.pending_for is not None:
                if not ingest.is_stale(receipt, self.publish_timeout):
                    in_flight += 1
                    continue
                receipt = None  # its process died before confirming: publish again
            earlier = imported.get(candidate.event_id)
            earlier_digest = earlier.body_sha256 if earlier else None
            if earlier is None and receipt is not None:
                earlier_digest = receipt.body_sha256
            if earlier_digest == candidate.digest:
                self.tally.already_imported += 1
                self._warn(candidate, given)
            elif earlier_digest is not None:
                poster = receipt.organisation_id if receipt and not earlier else None
                when, when_nl = _came_in(
                    earlier, self.file_sha256, by_caller=poster == self.caller.organisation_id
                )
                problem = Problem(
                    MELDINGSNUMMER,
                    f"{candidate.melding} was {when} with other content; a changed report is "
                    "not published again under the same melding",
                    f"{candidate.melding} is {when_nl}, met andere inhoud; een gewijzigde "
                    "melding wordt niet opnieuw onder hetzelfde meldingsnummer gepubliceerd",
                )
                self._reject(
                    candidate.row, candidate.melding, (problem,), 409, audit, candidate.event_id
                )
            elif judgement.refusal is not None:
                problem = Problem.translated(FILIAALNUMMER, judgement.refusal)
                self._reject(
                    candidate.row, candidate.melding, (problem,), 403, audit, candidate.event_id
                )
            else:
                to_publish.append(candidate)
                self._warn(candidate, given)
        await claim_receipts(
            connection,
            [
                NewReceipt(
                    event_id=candidate.event_id,
                    organisation_id=self.caller.organisation_id,
                    event_type=INCIDENT_REPORT.name,
                    body_sha256=candidate.digest,
                    status_code=202,
                    body={"event_id": candidate.event_id},
                )
                for candidate in to_publish
            ],
        )
        return to_publish, in_flight

    def _warn(self, candidate: _Candidate, given: Location) -> None:
        """The warnings of a row that is published, or was before."""
        for english, dutch in candidate.notes:
            self.tally.warnings.append(
                RowWarning(candidate.row, _masked(candidate.melding), english, dutch)
            )
        self._check_location(candidate, given)

    def _check_location(self, candidate: _Candidate, given: Location) -> None:
        """A warning when the row's location lies far from its branch as registered.

        The registry wins either way (registry.py); a large gap mostly means the row names
        another branch than the one it happened at, so the robbery lands at the wrong place.
        """
        branch = candidate.event.branch
        registered = branch.location
        metres = metres_between(given.lat, given.lon, registered.lat, registered.lon)
        if metres <= self.location_warning_metres:
            return
        kilometres = {language: number(metres / 1000, 1, language) for language in ("en", "nl")}
        place = _registered_place(branch)
        columns = f"{BREEDTEGRAAD}, {LENGTEGRAAD}"
        self.tally.warnings.append(
            RowWarning(
                candidate.row,
                _masked(candidate.melding),
                f"the location given ({columns}) lies {kilometres['en']} km from branch "
                f"{branch.branch_id} as registered ({place}); the report takes the registered "
                f"location. Check the {FILIAALNUMMER}: a typo puts the robbery at another "
                "branch and with another police unit",
                f"de opgegeven plaats ({columns}) ligt {kilometres['nl']} km van filiaal "
                f"{branch.branch_id} zoals geregistreerd ({place}); de melding krijgt de "
                f"geregistreerde plaats. Controleer het {FILIAALNUMMER}: een tikfout zet de "
                "overval bij een ander filiaal en een andere politie-eenheid",
            )
        )
        logger.warning(
            "cbl row far from its registered branch",
            extra={
                "row": candidate.row,
                "event_id": candidate.event_id,
                "file_sha256": self.file_sha256,
                "branch_id": branch.branch_id,
                "metres": round(metres),
            },
        )

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

    async def _publish(
        self, candidates: list[_Candidate], audit: list[AuditEvent]
    ) -> tuple[list[_Candidate], list[BrokerUnavailable]]:
        """The rows the broker acknowledged, each audited, and why the others were not."""
        source = f"/producers/{SOURCE}/{self.caller.organisation_id}"
        outcomes = await ingest.publish(
            self.broker, INCIDENT_REPORT.spec, [c.event for c in candidates], source=source
        )
        published, failures = [], []
        for candidate, outcome in zip(candidates, outcomes, strict=True):
            if isinstance(outcome, BrokerUnavailable):
                failures.append(outcome)
                continue
            published.append(candidate)
            audit.append(
                audit_entry(
                    self.caller.organisation_id,
                    AuditAction.EVENT_ACCEPTED,
                    candidate.event_id,
                    self._published_details(candidate.row, outcome),
                )
            )
            logger.debug("cbl row published", extra={"event_id": candidate.event_id})
        return published, failures

    def _published_details(self, row: int, outcome: RecordMetadata) -> dict[str, Any]:
        return self._details(row, 202) | {
            "topic": outcome.topic,
            "partition": outcome.partition,
            "offset": outcome.offset,
        }

    def _receipt(self, candidate: _Candidate) -> NewImportReceipt:
        return NewImportReceipt(
            event_id=candidate.event_id,
            organisation_id=self.caller.organisation_id,
            source_ref=candidate.melding,
            body_sha256=candidate.digest,
            file_sha256=self.file_sha256,
            file_row=candidate.row,
        )

    def _settle_repeat(
        self, row: int, melding: str, first_row: int, audit: list[AuditEvent]
    ) -> None:
        """A row equal to an earlier row of the file shares that row's fate."""
        if first_row in self.tally.rejected_rows:
            problem = Problem(
                MELDINGSNUMMER,
                f"same report as row {first_row}, which was rejected",
                f"dezelfde melding als rij {first_row}, die is afgewezen",
            )
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
        problems = [
            Problem(problem.column, _masked(problem.reason), _masked(problem.dutch))
            for problem in problems
        ]
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


def _came_in(
    earlier: ImportReceipt | None, file_sha256: str, *, by_caller: bool
) -> tuple[str, str]:
    """How a melding came in before, in English and in Dutch, to reject a changed one.

    The row is that of the file it came from, which is mostly last month's export: said so,
    or 'row 28' reads as a row of the file at hand."""
    if earlier is not None:
        day, row = f"{earlier.imported_at:%Y-%m-%d}", earlier.file_row
        if earlier.file_sha256 == file_sha256:
            return (f"imported on {day} from row {row} of this file",
                    f"op {day} geïmporteerd uit rij {row} van dit bestand")  # fmt: skip
        return (f"imported on {day} from row {row} of another file",
                f"op {day} geïmporteerd uit rij {row} van een ander bestand")  # fmt: skip
    if by_caller:
        return "posted through the API", "via de API gemeld"
    # Only possible with the id key known: the id is taken on the wire.
    return (
        "posted through the API by another organisation",
        "door een andere organisatie via de API gemeld",
    )


def _registered_place(branch: Branch) -> str:
    """Where the registry has the branch: its address, else its coordinates."""
    if branch.address is not None:
        return f"{branch.address.street}, {branch.address.city}"
    return f"{branch.location.lat:.4f}, {branch.location.lon:.4f}"


def _masked(text: str) -> str:
    return mask_plates(text.encode()).decode()
