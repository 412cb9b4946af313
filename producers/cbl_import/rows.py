"""One row of a CBL export as an incident report at the edge, or the problems of each column."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from heterdaad.notation import DUTCH_TIME, SkippedTime, dutch_wall_time
from producers.api.edge import IncidentReportIn
from producers.cbl_import import layout as col
from producers.edge_policy import admit, refusals_of_parts
from producers.reasons import in_dutch, in_english, plain
from schemas.common import Identifier
from schemas.events import HeightBand, ValueBand

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from heterdaad.language import Language
    from producers.cbl_import.sheet import SourceRow

# The CBL tool records Dutch local time (DUTCH_TIME); a time with an offset is taken as given.
WHOLE_ROW = "(rij)"

E = TypeVar("E", bound=StrEnum)

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_DUTCH_MOMENT = re.compile(
    r"^(?P<day>\d{1,2})[-/.](?P<month>\d{1,2})[-/.](?P<year>\d{4})"
    r"[ T]+(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?::(?P<second>\d{2}))?$"
)
# A date alone, in ISO order or in the CBL tool's own (14-03-2025, 4/3/2025, 14.03.2025).
_DATE_ONLY = re.compile(r"^(?:\d{4}-?\d{2}-?\d{2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})$")
# Whole euros with '.' or spaces between thousands, optionally cents: 2500, 2.500, € 2.500,50.
_EUROS = re.compile(r"^(?:€\s*)?(?P<euros>\d{1,3}(?:[.\s]\d{3})+|\d+)(?:[.,]\d{1,2})?$")
_CENTIMETRES = re.compile(r"^(?P<cm>\d{2,3})\s*(?:cm)?$")


@dataclass(frozen=True)
class Problem:
    """Why one column of a row cannot be taken, in both languages of the rejection report."""

    column: str
    reason: str  # English, as the API words it: the audit log keeps this one
    dutch: str

    @classmethod
    def translated(cls, column: str, reason: str) -> Problem:
        """A problem worded by pydantic, the contract or the API, given in English only."""
        return cls(column, plain(reason), in_dutch(reason))

    def said_in(self, language: Language) -> str:
        # In English too, a field's pattern is said as what to enter, not as a regex.
        return self.dutch if language == "nl" else in_english(self.reason)


class CellError(ValueError):
    """A cell that cannot be read; the import's own words, written in both languages here."""

    def __init__(self, english: str, dutch: str) -> None:
        super().__init__(english)
        self.dutch = dutch


@dataclass(frozen=True)
class ConvertedRow:
    """A row as a valid edge report (with the raw plate still inside), or its problems."""

    row: SourceRow
    melding: str
    event_id: uuid.UUID | None
    report: IncidentReportIn | None
    problems: tuple[Problem, ...]
    # Taken, but worth a check: (English, Dutch) of each (an hour that comes twice).
    notes: tuple[tuple[str, str], ...] = ()


def event_id_for(reporting_org: str, melding: str, id_key: bytes) -> uuid.UUID:
    """The event id of a CBL melding: the same on every import, distinct per organisation.

    Keyed (issue 11 #8): a plain uuid5 of organisation and melding number could be computed by
    anyone, and an organisation posting first under that id blocked the CBL's real import. The
    key is the server's plate key, under a label of its own; once imported, a melding keeps
    its id through import_receipt even if the key changes.
    """
    label = f"cbl-event-id\x00{reporting_org}\x00{melding}".encode()
    digest = hmac.new(id_key, label, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def convert_row(row: SourceRow, reporting_org: str, id_key: bytes) -> ConvertedRow:
    """The row as the edge model validates it, with every problem named by its column."""
    builder = _ReportBuilder(row, id_key)
    body = builder.body(reporting_org)
    problems = builder.problems
    if row.extra_cells:
        problems.append(
            Problem(
                WHOLE_ROW,
                f"{row.extra_cells} cell(s) beyond the last column: is there a separator inside "
                "a cell? Put such a cell between double quotes",
                f"{row.extra_cells} cel(len) voorbij de laatste kolom: staat er een "
                "scheidingsteken in een cel? Zet zo'n cel tussen dubbele aanhalingstekens",
            )
        )
    report = None
    try:
        report = admit(IncidentReportIn.model_validate(body))
    except ValidationError as error:
        # A column that could not be read was left out; its 'Field required' says nothing new.
        failed = {problem.column for problem in problems}
        for item in error.errors(include_url=False):
            column = column_for(item["loc"], builder.offender_numbers)
            if column not in failed:
                problems.append(Problem.translated(column, str(item["msg"])))
        # The row-level checks still run on the cells that were read (the time against the
        # clock skew and max_event_age_days, the place), so one import names every reason.
        failed = {problem.column for problem in problems}
        for location, reason in refusals_of_parts(IncidentReportIn, body):
            column = column_for(location, builder.offender_numbers)
            if column not in failed:
                problems.append(Problem.translated(column, reason))
    event_id = body.get("event_id")
    return ConvertedRow(
        row=row,
        melding=row.get(col.MELDINGSNUMMER),
        event_id=event_id if isinstance(event_id, uuid.UUID) else None,
        report=None if problems else report,
        problems=tuple(sorted(problems, key=_in_column_order(row))),
        notes=tuple(builder.notes),
    )


def _in_column_order(row: SourceRow) -> Callable[[Problem], int]:
    """Problems left to right, as the person fixing the row reads it."""
    order = {column: index for index, column in enumerate(row.cells)}

    def position(problem: Problem) -> int:
        return order.get(problem.column.split("+")[0], len(order))

    return position


def column_for(location: Sequence[int | str], offender_numbers: Sequence[int]) -> str:
    """The column of the export a field of the contract was filled from."""
    parts = [str(part) for part in location]
    if parts[:1] == ["offenders"]:
        if len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(offender_numbers):
            number = offender_numbers[int(parts[1])]
            part = col.PERSON_TO_PART.get(parts[2])
            return f"signalement_{number}_{part}" if part else f"signalement_{number}"
        return "signalement"
    dotted = ".".join(parts)
    for prefix, column in col.CONTRACT_TO_COLUMN:
        if dotted == prefix or dotted.startswith(f"{prefix}."):
            return column
    return dotted or WHOLE_ROW


def parse_moment(text: str) -> datetime:
    """A time as the CBL tool or Excel writes it; without an offset it is Dutch local time."""
    if _DATE_ONLY.match(text):
        raise CellError(
            "a date without a time: give the time of the incident as well",
            "een datum zonder tijd: geef ook het tijdstip van het incident",
        )
    match = _DUTCH_MOMENT.match(text)
    try:
        if match is not None:
            moment = datetime(
                int(match["year"]),
                int(match["month"]),
                int(match["day"]),
                int(match["hour"]),
                int(match["minute"]),
                int(match["second"] or 0),
            )
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise CellError(
            "not a date and time: write 14-03-2025 21:05 or 2025-03-14 21:05 (Dutch time), "
            "or ISO 8601 with an offset",
            "geen datum en tijd: schrijf 14-03-2025 21:05 of 2025-03-14 21:05 (Nederlandse "
            "tijd), of ISO 8601 met een UTC-afwijking",
        ) from None
    try:
        return dutch_wall_time(moment)
    except SkippedTime as skipped:
        raise CellError(skipped.reason("en"), skipped.reason("nl")) from None


def parse_value_band(text: str) -> ValueBand:
    """A band of the list, or an amount in euros placed in its band."""
    band = col.VALUE_BANDS.lookup(text)
    if band is not None:
        return band
    match = _EUROS.match(text.strip())
    if match is None:
        choices = col.VALUE_BANDS.choices()
        raise CellError(
            f"unknown value: an amount in whole euros (2500) or one of {choices}",
            f"onbekende waarde: een bedrag in hele euro's (2500) of een van {choices}",
        )
    euros = int(re.sub(r"[.\s]", "", match["euros"]))
    if euros == 0:
        return ValueBand.NONE
    if euros < 1_000:
        return ValueBand.UNDER_1K
    if euros < 10_000:
        return ValueBand.FROM_1K_TO_10K
    if euros < 50_000:
        return ValueBand.FROM_10K_TO_50K
    return ValueBand.OVER_50K


def parse_height(text: str) -> HeightBand:
    """A band of the list, or a height in centimetres placed in its band."""
    band = col.HEIGHT_BANDS.lookup(text)
    if band is not None:
        return band
    match = _CENTIMETRES.match(text.strip().lower())
    if match is None:
        choices = col.HEIGHT_BANDS.choices()
        raise CellError(
            f"unknown value: a height in cm (178) or one of {choices}",
            f"onbekende waarde: een lengte in cm (178) of een van {choices}",
        )
    centimetres = int(match["cm"])
    if centimetres < 165:
        return HeightBand.UNDER_165
    if centimetres < 180:
        return HeightBand.FROM_165_TO_180
    if centimetres < 195:
        return HeightBand.FROM_180_TO_195
    return HeightBand.OVER_195


def decimal_text(text: str) -> str:
    """'52,3731' as '52.3731': Dutch spreadsheets write a decimal comma."""
    return text.replace(",", ".") if "," in text and "." not in text else text


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(col.LIST_SEPARATOR) if item.strip()]


@dataclass
class _ReportBuilder:
    """Reads the cells of one row into the shape of the edge model, noting what it cannot read."""

    row: SourceRow
    id_key: bytes
    problems: list[Problem] = field(default_factory=list)
    offender_numbers: list[int] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def body(self, reporting_org: str) -> dict[str, Any]:
        cell = self.row.get
        body: dict[str, Any] = {"reporting_org": reporting_org}
        melding = cell(col.MELDINGSNUMMER)
        if melding:
            try:
                _IDENTIFIER.validate_python(melding)
                body["event_id"] = event_id_for(reporting_org, melding, self.id_key)
            except ValidationError:
                self._problem(
                    col.MELDINGSNUMMER,
                    "1 to 64 letters, digits or . _ : -",
                    "1 tot 64 letters, cijfers of . _ : -",
                )
        body["branch"] = self._branch()
        self._set(body, "occurred_at", col.DATUM_TIJD, parse_moment)
        if isinstance(body.get("occurred_at"), datetime):
            self._note_twice(body["occurred_at"])
        self._set(body, "incident_type", col.SOORT_INCIDENT, _closed(col.INCIDENT_TYPES))
        self._set(body, "offender_count", col.AANTAL_DADERS, str)
        self._set(body, "weapons", col.WAPENS, _closed_list(col.WEAPONS))
        self._set(body, "modus_operandi", col.WERKWIJZE, _closed_list(col.MODI_OPERANDI))
        self._set(body, "loot", col.BUIT, _closed_list(col.LOOT))
        self._set(body, "loot_value", col.BUITWAARDE, parse_value_band)
        self._set(body, "free_text", col.TOELICHTING, str)
        getaway = self._getaway()
        if getaway is not None:
            body["getaway"] = getaway
        offenders = self._offenders()
        if offenders:
            body["offenders"] = offenders
        return body

    def _note_twice(self, moment: datetime) -> None:
        """A Dutch time of the hour that comes twice: taken the first time, and said so."""
        if moment.tzinfo is not DUTCH_TIME or moment.replace(fold=1).utcoffset() == (
            moment.utcoffset()
        ):
            return
        day, clock = f"{moment:%d-%m-%Y}", f"{moment:%H:%M}"
        second = f"{moment:%Y-%m-%dT%H:%M}+01:00"
        self.notes.append(
            (
                f"{col.DATUM_TIJD} {clock} on {day} comes twice in Dutch time (that night the "
                "clocks went back from 03:00 to 02:00): taken as the first, in summer time; if "
                f"it was the second, write it with its offset, {second}",
                f"{col.DATUM_TIJD} {clock} op {day} komt twee keer voor in Nederlandse tijd "
                "(die nacht ging de klok van 03:00 terug naar 02:00): gelezen als de eerste "
                f"keer, in zomertijd; was het de tweede keer, schrijf dan {second}",
            )
        )

    def _branch(self) -> dict[str, Any]:
        cell = self.row.get
        branch: dict[str, Any] = {"location": {}}
        self._set(branch, "branch_id", col.FILIAALNUMMER, str)
        self._set(branch, "chain", col.KETEN, str)
        # The CBL is the supermarkets' association: a row without a kind is a supermarket.
        branch["branch_type"] = "supermarket"
        self._set(branch, "branch_type", col.SOORT_VESTIGING, _closed(col.BRANCH_TYPES))
        self._set(branch["location"], "lat", col.BREEDTEGRAAD, decimal_text)
        self._set(branch["location"], "lon", col.LENGTEGRAAD, decimal_text)
        if any(cell(column) for column in (col.STRAAT, col.POSTCODE, col.PLAATS)):
            address: dict[str, Any] = {}
            self._set(address, "street", col.STRAAT, str)
            self._set(address, "postcode", col.POSTCODE, str.upper)
            self._set(address, "city", col.PLAATS, str)
            branch["address"] = address
        return branch

    def _getaway(self) -> dict[str, Any] | None:
        cell = self.row.get
        vehicle_columns = (col.VOERTUIG_MERK, col.VOERTUIG_KLEUR, col.KENTEKEN)
        if not any(cell(c) for c in (col.VLUCHTMIDDEL, col.VLUCHTRICHTING, *vehicle_columns)):
            return None
        getaway: dict[str, Any] = {"mode": "unknown"}
        self._set(getaway, "mode", col.VLUCHTMIDDEL, _closed(col.GETAWAY_MODES))
        self._set(getaway, "direction", col.VLUCHTRICHTING, str)
        if any(cell(column) for column in vehicle_columns) and "mode" in getaway:
            vehicle: dict[str, Any] = {"kind": getaway["mode"]}
            self._set(vehicle, "make", col.VOERTUIG_MERK, str)
            self._set(vehicle, "colour", col.VOERTUIG_KLEUR, str)
            # Raw here, and only here: the edge model keeps it secret until it is pseudonymised.
            self._set(vehicle, "plate", col.KENTEKEN, str)
            getaway["vehicle"] = vehicle
        return getaway

    def _offenders(self) -> list[dict[str, Any]]:
        numbers = sorted(
            {
                int(match["number"])
                for column in self.row.cells
                if (match := col.SIGNALEMENT.match(column)) is not None
            }
        )
        offenders = []
        for number in numbers:
            prefix = f"signalement_{number}_"
            if not any(self.row.get(prefix + part) for part in col.SIGNALEMENT_PARTS):
                continue
            person: dict[str, Any] = {}
            self._set(person, "height_band", prefix + "lengte", parse_height)
            self._set(person, "build", prefix + "postuur", _closed(col.BUILDS))
            self._set(person, "clothing", prefix + "kleding", split_list)
            face = _closed(col.FACE_COVERINGS)
            self._set(person, "face_covering", prefix + "gezichtsbedekking", face)
            self._set(person, "language", prefix + "taal", str)
            offenders.append(person)
            self.offender_numbers.append(number)
        return offenders

    def _set(
        self, target: dict[str, Any], key: str, column: str, read: Callable[[str], object]
    ) -> None:
        """target[key] = read(cell) for a filled cell; a cell that cannot be read is a problem."""
        text = self.row.get(column)
        if not text:
            return
        try:
            target[key] = read(text)
        except ValueError as error:
            target.pop(key, None)
            dutch = error.dutch if isinstance(error, CellError) else in_dutch(str(error))
            self._problem(column, str(error), dutch)

    def _problem(self, column: str, reason: str, dutch: str) -> None:
        self.problems.append(Problem(column, reason, dutch))


def _closed(vocabulary: col.Vocabulary[E]) -> Callable[[str], E]:
    def read(text: str) -> E:
        found = vocabulary.lookup(text)
        if found is None:
            choices = vocabulary.choices()
            raise CellError(
                f"unknown value; one of: {choices}", f"onbekende waarde; een van: {choices}"
            )
        return found

    return read


def _closed_list(vocabulary: col.Vocabulary[E]) -> Callable[[str], list[E]]:
    def read(text: str) -> list[E]:
        found: dict[E, None] = {}
        unknown = []
        for position, word in enumerate(split_list(text), start=1):
            member = vocabulary.lookup(word)
            if member is None:
                unknown.append(str(position))
            else:
                found[member] = None  # once each, in the order given
        if unknown:
            # Positions, not words: a rejection report never quotes a cell (a plate in the
            # wrong column would reach the report and the audit log).
            shown, choices = ", ".join(unknown), vocabulary.choices()
            raise CellError(
                f"unknown value(s) at position {shown}; each one of: {choices}",
                f"onbekende waarde(n) op positie {shown}; elk een van: {choices}",
            )
        return list(found)

    return read
