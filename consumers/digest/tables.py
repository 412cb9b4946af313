"""The digest's tables in one language: each is shown in the HTML and exported as one CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from consumers.alert_text import model_name
from consumers.digest import text
from consumers.digest.alarms import total
from consumers.digest.incidents import INCIDENT_KINDS
from consumers.digest.period import NL_TIME
from consumers.reliability import NOTHING_STATED
from schemas.common import PoliceUnit

if TYPE_CHECKING:
    from consumers.digest.content import Digest
    from consumers.digest.patterns import Pattern
    from consumers.reliability import Band
    from heterdaad.language import Language

# A moment is kept as one (in Dutch time) and written per output: the CSV's 'YYYY-MM-DD HH:MM',
# the page's as its reader writes it (export.csv_value, render.format_cell).
Cell = str | int | float | datetime | None
# How a column is shown: as text, a count, a share (as a percentage), kilometres, or a date.
ColumnKind = Literal["text", "count", "share", "km", "date", "number"]


@dataclass(frozen=True)
class Column:
    key: str  # CSV header: stable, whatever the language
    header: str
    kind: ColumnKind = "text"
    shown: bool = True  # codes and coordinates go to the CSV only


@dataclass(frozen=True)
class Table:
    name: str  # the CSV's file name without extension
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total_row: bool = False  # the last row sums the others: shown in bold

    def column(self, key: str) -> list[Cell]:
        index = [c.key for c in self.columns].index(key)
        return [row[index] for row in self.rows]


def all_tables(digest: Digest, language: Language) -> dict[str, Table]:
    """Every table of the digest by name, in the order the report shows them."""
    tables = [
        _by_kind(digest, language),
        _by_branch_type(digest, language),
        _by_police_unit(digest, language),
        _by_hour(digest, language),
        _by_weekday(digest, language),
        _patterns("hotspots", digest.hotspots, language),
        _patterns("series", digest.series, language),
        _series_members(digest.series, language),
        _reconnaissance(digest, language),
        _false_alarms(digest, language),
        _trend(digest, language),
        _ambitions(digest, language),
        _reliability(digest, language),
    ]
    return {table.name: table for table in tables}


def _p(key: str, language: Language) -> str:
    return text.phrase(key, language)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _date(moment: datetime | None) -> str | None:
    return moment.astimezone(NL_TIME).date().isoformat() if moment else None


def _local_time(moment: datetime | None) -> datetime | None:
    """When an event happened, in Dutch local time; each output writes it (Cell)."""
    return moment.astimezone(NL_TIME) if moment else None


def _by_kind(digest: Digest, language: Language) -> Table:
    counts = digest.counts
    return Table(
        "incidents_by_kind",
        _p("by_kind", language),
        (
            Column("kind", _p("col_kind", language), shown=False),
            Column("label", _p("col_kind", language)),
            Column("count", _p("col_count", language), "count"),
        ),
        (
            *((k, text.incident_kind(k, language), counts.by_kind[k]) for k in INCIDENT_KINDS),
            ("all", _p("all", language), counts.total),
        ),
        total_row=True,
    )


def _by_branch_type(digest: Digest, language: Language) -> Table:
    counts = digest.counts
    ordered = sorted(counts.by_branch_type.items(), key=lambda item: (-item[1], item[0]))
    return Table(
        "incidents_by_branch_type",
        _p("by_branch_type", language),
        (
            Column("branch_type", _p("col_branch_type", language), shown=False),
            Column("label", _p("col_branch_type", language)),
            Column("count", _p("col_count", language), "count"),
            Column("share", _p("col_share", language), "share"),
        ),
        tuple(
            (code, text.branch_type(code, language), n, _share(n, counts.total))
            for code, n in ordered
        ),
    )


def _by_police_unit(digest: Digest, language: Language) -> Table:
    counts = digest.counts
    # All ten units, also those without incidents: a zero is news for a unit too.
    codes = [unit.value for unit in PoliceUnit]
    codes += sorted(set(counts.by_police_unit) - set(codes))
    return Table(
        "incidents_by_police_unit",
        _p("by_police_unit", language),
        (
            Column("police_unit", _p("col_police_unit", language), shown=False),
            Column("label", _p("col_police_unit", language)),
            Column("count", _p("col_count", language), "count"),
            Column("share", _p("col_share", language), "share"),
        ),
        tuple(
            (
                code,
                text.police_unit(code),
                counts.by_police_unit[code],
                _share(counts.by_police_unit[code], counts.total),
            )
            for code in codes
        ),
    )


def _by_hour(digest: Digest, language: Language) -> Table:
    return Table(
        "incidents_by_hour",
        _p("by_hour", language),
        (
            Column("hour", _p("col_hour", language), "number"),
            Column("count", _p("col_count", language), "count"),
        ),
        tuple((hour, n) for hour, n in enumerate(digest.counts.by_hour)),
    )


def _by_weekday(digest: Digest, language: Language) -> Table:
    return Table(
        "incidents_by_weekday",
        _p("by_weekday", language),
        (
            Column("iso_weekday", _p("col_weekday", language), "number", shown=False),
            Column("label", _p("col_weekday", language)),
            Column("count", _p("col_count", language), "count"),
        ),
        tuple(
            (index + 1, text.WEEKDAYS[language][index], n)
            for index, n in enumerate(digest.counts.by_weekday)
        ),
    )


def _patterns(name: str, found: tuple[Pattern, ...], language: Language) -> Table:
    """One row per hotspot or series. The CSV keeps the contract's codes under the English keys
    (`police_units`, `severity`, `branch_types`; several joined by ', '), whatever the
    language, and the words beside them (`..._label`), as every other table; the page shows
    the words."""
    columns: tuple[Column, ...] = (
        Column("label", _p("col_label", language)),
        Column("pattern_id", "id", shown=False),
        Column("police_units", _p("col_police_unit", language), shown=False),
        Column("police_units_label", _p("col_police_unit", language)),
        Column("severity", _p("col_severity", language), shown=False),
        Column("severity_label", _p("col_severity", language)),
        Column("alerts", _p("col_alerts", language), "count"),
        Column("incidents", _p("col_incidents", language), "count"),
        Column("radius_km", _p("col_radius", language), "km", shown=name == "hotspots"),
        Column("first", _p("col_first", language), "date"),
        Column("last", _p("col_last", language), "date"),
        Column("branch_types", _p("col_branch_types", language), shown=False),
        Column("branch_types_label", _p("col_branch_types", language)),
        Column("lat", "lat", "number", shown=False),
        Column("lon", "lon", "number", shown=False),
    )
    # A hotspot says whether an alert was raised about it or the digest's scan found it
    # afterwards (consumers/digest/found.py): 'live' or 'afterwards', and the words.
    hotspots = name == "hotspots"
    if hotspots:
        columns += (
            Column("found", _p("col_found", language), shown=False),
            Column("found_label", _p("col_found", language)),
        )
    rows = []
    for pattern in found:
        afterwards = "afterwards" if pattern.found_afterwards else "live"
        source = (afterwards, _p(f"found_{afterwards}", language)) if hotspots else ()
        # When the events happened: the first and last incident named; a hotspot of
        # sightings only (no incident) falls back to its alerts' event times.
        first, last = pattern.first_incident, pattern.last_incident
        rows.append(
            (
                pattern.label,
                pattern.pattern_id,
                ", ".join(pattern.police_units),
                ", ".join(text.police_unit(u) for u in pattern.police_units),
                pattern.severity,
                text.severity(pattern.severity, language),
                pattern.alerts,
                len(pattern.incidents),
                round(pattern.radius_m / 1000, 2) if pattern.radius_m else None,
                _local_time(first or pattern.first_event),
                _local_time(last or pattern.last_event),
                ", ".join(pattern.branch_types),
                ", ".join(text.branch_type(t, language) for t in pattern.branch_types),
                round(pattern.lat, 3),
                round(pattern.lon, 3),
                *source,
            )
        )
    return Table(name, _p(name, language), columns, tuple(rows))


def _series_members(found: tuple[Pattern, ...], language: Language) -> Table:
    """One row per member of each series, with when it happened: the series' own membership.
    The CSV keeps the contract's codes under the English keys, whatever the language, and the
    words beside them (`..._label`), as every other table; the page shows the words, one
    robbery in the singular."""
    columns = (
        Column("label", _p("col_label", language)),
        Column("event_id", "event_id", shown=False),
        Column("occurred_at", _p("col_occurred", language), "date"),
        Column("kind", _p("col_kind", language), shown=False),
        Column("kind_label", _p("col_kind", language)),
        Column("branch_type", _p("col_branch_type", language), shown=False),
        Column("branch_type_label", _p("col_branch_type", language)),
        Column("police_unit", _p("col_police_unit", language), shown=False),
        Column("police_unit_label", _p("col_police_unit", language)),
    )
    rows = tuple(
        (
            pattern.label,
            str(incident.event_id),
            _local_time(incident.occurred_at),
            incident.kind,
            text.one_incident_kind(incident.kind, language),
            incident.branch_type,
            text.one_branch_type(incident.branch_type, language) if incident.branch_type else None,
            incident.police_unit,
            text.police_unit(incident.police_unit) if incident.police_unit else None,
        )
        for pattern in found
        for incident in pattern.incidents
    )
    return Table("series_members", _p("series_members", language), columns, rows)


def _reconnaissance(digest: Digest, language: Language) -> Table:
    return Table(
        "reconnaissance",
        _p("recon", language),
        (
            Column("branch_type", _p("col_branch_type", language), shown=False),
            Column("label", _p("col_branch_type", language)),
            Column("sightings", _p("col_sightings", language), "count"),
            Column("followed_by_robbery", _p("col_followed", language), "count"),
            Column("window_open", _p("col_open", language), "count"),
            Column("followed_share", _p("col_share", language), "share"),
        ),
        tuple(
            (
                row.branch_type,
                _p("all", language)
                if row.branch_type == "all"
                else text.branch_type(row.branch_type, language),
                row.sightings,
                row.followed,
                row.open,
                _share(row.followed, row.sightings),
            )
            for row in digest.recon
        ),
        total_row=True,
    )


def _false_alarms(digest: Digest, language: Language) -> Table:
    rows = [*digest.alarms, total(digest.alarms, _p("all", language))]
    return Table(
        "false_alarms",
        _p("alarms", language),
        (
            Column("alarm_centre", "id", shown=False),
            Column("name", _p("col_centre", language)),
            Column("episodes", _p("col_episodes", language), "count"),
            Column("escalated", _p("col_escalated", language), "count"),
            Column("false_alarms", _p("col_false", language), "count"),
            Column("false_share", _p("col_share", language), "share"),
        ),
        tuple(
            (
                r.alarm_centre,
                r.name,
                r.episodes,
                r.escalated,
                r.false_alarms,
                _share(r.false_alarms, r.episodes),
            )
            for r in rows
        ),
        total_row=True,
    )


def _trend(digest: Digest, language: Language) -> Table:
    return Table(
        "trend",
        _p("trend", language),
        (
            Column("month", _p("col_month", language), shown=False),
            Column("label", _p("col_month", language)),
            Column("robberies", _p("robberies", language), "count"),
            Column("street_robberies", _p("street_robberies", language), "count"),
            Column("ram_raids", _p("ram_raids", language), "count"),
        ),
        tuple(
            (
                str(m.month),
                text.month_name(m.month, language),
                m.robberies,
                m.street_robberies,
                m.ram_raids,
            )
            for m in digest.trend
        ),
    )


def _ambitions(digest: Digest, language: Language) -> Table:
    rows = []
    for ambition in digest.ambitions:
        status = {True: "met", False: "not_met", None: "unknown_status"}[ambition.met]
        is_share = ambition.code.endswith("clearance")
        rows.append(
            (
                ambition.code,
                _p(ambition.code, language),
                None if ambition.actual is None else round(ambition.actual, 4),
                round(ambition.target, 4),
                ("≥\u00a0" if ambition.kind == "floor" else "≤\u00a0")
                + (text.percent(ambition.target, language) if is_share
                   else text.number(ambition.target, language)),
                _p(status, language),
                ambition.months_of_data,
            )
        )  # fmt: skip
    return Table(
        "ambitions",
        _p("ambitions", language),
        (
            Column("ambition", "id", shown=False),
            Column("label", _p("col_measure", language)),
            Column("actual", _p("col_actual", language), "number"),
            Column("target", _p("col_target", language), "number", shown=False),
            Column("target_label", _p("col_target", language)),
            Column("verdict", _p("col_status", language)),
            Column("months_of_data", _p("months_of_data", language), "count", shown=False),
        ),
        tuple(rows),
    )


def _reliability(digest: Digest, language: Language) -> Table:
    """Per kind, model and band of stated chance: judged, confirmed, and whether it holds."""
    rows = []
    for band in digest.reliability:
        low, high = band.interval
        rows.append(
            (
                band.kind,
                text.pattern_kind(band.kind, language),
                "" if band.model_version == NOTHING_STATED else band.model_version,
                _p("nothing_stated", language)
                if band.model_version == NOTHING_STATED
                else model_name(band.model_version, language),
                _stated(band, language),
                band.judged,
                band.confirmed,
                round(band.share, 4),
                round(low, 4),
                round(high, 4),
                f"{text.percent(low, language)}-{text.percent(high, language)}",
                None if band.mean_stated is None else round(band.mean_stated, 4),
                _p(band.verdict or "holds", language) if band.mean_stated is not None else None,
            )
        )
    return Table(
        "reliability",
        _p("reliability", language),
        (
            Column("kind", _p("col_pattern", language), shown=False),
            Column("label", _p("col_pattern", language)),
            Column("model_version", _p("col_model", language), shown=False),
            Column("model_label", _p("col_model", language)),
            Column("stated", _p("col_stated", language)),
            Column("judged", _p("col_judged", language), "count"),
            Column("confirmed", _p("col_confirmed", language), "count"),
            Column("confirmed_share", _p("col_share_confirmed", language), "share"),
            Column("interval_low", _p("col_interval", language), "share", shown=False),
            Column("interval_high", _p("col_interval", language), "share", shown=False),
            Column("interval", _p("col_interval", language)),
            Column("mean_stated", _p("col_mean_stated", language), "share"),
            Column("verdict", _p("col_status", language)),
        ),
        tuple(rows),
    )


def _stated(band: Band, language: Language) -> str:
    """The band of stated chance in words: 'kans 0,80-0,95', 'herhalingstijd 365+ dagen'."""
    if band.measure == "probability":
        return _p("stated_probability", language).format(
            low=text.number(band.low, language, 2), high=text.number(band.high, language, 2)
        )
    if band.measure == "recurrence_days":
        upper = "+" if band.high == float("inf") else f"-{text.number(band.high, language)}"
        return _p("stated_recurrence", language).format(
            low=text.number(band.low, language), high=upper
        )
    if band.measure == "link":
        return _p("stated_link", language)
    return _p("nothing_stated", language)
