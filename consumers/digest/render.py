"""Turns a digest into its figures and its one-file HTML page, in Dutch or English."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import jinja2
import markupsafe

from consumers.digest import charts, maps, text
from consumers.digest.incidents import ROBBERY_CEILING_PER_YEAR, STREET_ROBBERY_CEILING_PER_YEAR
from consumers.digest.template import PAGE, TABLE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from consumers.digest.content import Digest, Rules
    from consumers.digest.tables import Cell, Column, ColumnKind, Table
    from heterdaad.language import Language

logger = logging.getLogger(__name__)

MAX_DETAIL_MAPS = 9  # close-ups of hotspots and series; the rest are on the overview map

_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


@dataclass(frozen=True)
class Maps:
    incidents: str
    patterns: str
    details: tuple[tuple[str, str], ...]  # (label, data URI)


@dataclass(frozen=True)
class Card:
    value: str
    label: str
    sub: str
    tone: str = ""  # 'good', 'bad' or 'accent'


def draw_charts(digest: Digest, tables: dict[str, Table], language: Language) -> dict[str, str]:
    """Every chart as a data URI, by name."""
    drawn = {
        "branch_type": _bars(tables["incidents_by_branch_type"]),
        "police_unit": _bars(tables["incidents_by_police_unit"]),
        "hour": charts.columns(
            [f"{h}" for h in range(24)], list(digest.counts.by_hour), label_every=2
        ),
        "weekday": charts.columns(
            [d[:2] for d in text.WEEKDAYS[language]], list(digest.counts.by_weekday)
        ),
        "trend": charts.trend(
            [text.short_month(m.month, language) for m in digest.trend],
            [m.robberies for m in digest.trend],
            ceiling=ROBBERY_CEILING_PER_YEAR / 12,
            ceiling_label=f"{text.phrase('ceiling', language)} "
            f"{text.number(ROBBERY_CEILING_PER_YEAR / 12, language)}",
            no_data_label=text.phrase("no_data", language),
        ),
        "false_share": "",
    }
    drawn["reliability"] = _reliability(digest, language)
    centres = [row for row in digest.alarms if row.false_share is not None]
    if centres:
        drawn["false_share"] = charts.horizontal_bars(
            [row.name for row in centres],
            [100 * (row.false_share or 0) for row in centres],
            value_labels=[text.percent(row.false_share, language) for row in centres],
        )
    return drawn


def _reliability(digest: Digest, language: Language) -> str:
    """Confirmed share against the chance stated, one point per band; '' if none stated one."""
    stated = [band for band in digest.reliability if band.mean_stated is not None]
    if not stated:
        return ""
    return charts.calibration(
        [band.mean_stated or 0.0 for band in stated],
        [band.share for band in stated],
        [band.interval for band in stated],
        [band.judged for band in stated],
        [text.pattern_kind(band.kind, language) for band in stated],
        x_label=text.phrase("stated_chance", language),
        y_label=text.phrase("col_share_confirmed", language),
        diagonal_label=text.phrase("as_stated", language),
    )


def _bars(table: Table) -> str:
    labels = [str(cell) for cell in table.column("label")]
    counts = [int(cell) if isinstance(cell, int | float) else 0 for cell in table.column("count")]
    return charts.horizontal_bars(labels, counts)


def draw_maps(digest: Digest, language: Language) -> Maps:
    legend = {
        "robbery": text.phrase("robberies", language),
        "street": text.phrase("street_robberies", language),
        "raid": text.phrase("ram_raids", language),
    }
    chosen = [*digest.hotspots, *digest.series][:MAX_DETAIL_MAPS]
    return Maps(
        incidents=maps.incident_map(digest.incidents, legend),
        patterns=maps.patterns_map(digest.hotspots, digest.series),
        details=tuple((p.label, maps.pattern_detail(p)) for p in chosen),
    )


def cards(digest: Digest, language: Language) -> list[Card]:
    """The key figures at the top of the page."""

    def p(key: str) -> str:
        return text.phrase(key, language)

    counts = digest.counts
    monthly = ROBBERY_CEILING_PER_YEAR / 12
    previous = digest.previous.robberies
    before = text.number(previous, language) if previous is not None else p("no_data")
    recon = digest.recon[-1]
    episodes = sum(row.episodes for row in digest.alarms)
    if not digest.trend[-1].has_data:
        # A month before the first stored event: its incident counts are no data, not zeros
        # against the ceilings (the trend and the ambitions say so too).
        unknown = p("no_data")
        return [
            Card(unknown, p("robberies"), f"{p('vs_previous')}: {before}"),
            Card(unknown, p("street_robberies"), ""),
            Card(unknown, p("ram_raids"), ""),
            Card(unknown, p("recon"), ""),
            Card(unknown, p("false_share"), ""),
            Card(unknown, p("hotspots"), ""),
            Card(unknown, p("series"), ""),
        ]
    return [
        Card(text.number(counts.robberies, language), p("robberies"),
             f"{p('vs_previous')}: {before} · {p('ceiling')} {text.number(monthly, language)}",
             "good" if counts.robberies <= monthly else "bad"),
        Card(text.number(counts.street_robberies, language), p("street_robberies"),
             f"{p('ceiling')} {text.number(STREET_ROBBERY_CEILING_PER_YEAR / 12, language)}",
             "good" if counts.street_robberies <= STREET_ROBBERY_CEILING_PER_YEAR / 12
             else "bad"),
        Card(text.number(counts.ram_raids, language), p("ram_raids"), ""),
        Card(text.number(recon.sightings, language), p("recon"),
             f"{recon.followed} {p('followed')}", "accent"),
        Card(text.percent(digest.false_share, language), p("false_share"),
             f"{text.number(episodes, language)} {p('episodes')}", "accent"),
        Card(text.number(len(digest.hotspots), language), p("hotspots"), ""),
        Card(text.number(len(digest.series), language), p("series"), ""),
    ]  # fmt: skip


def format_cell(value: Cell, kind: ColumnKind, language: Language) -> str:
    if value is None:
        return text.phrase("n_a", language) if kind in ("share", "number") else "-"
    if isinstance(value, datetime):
        return text.page_stamp(value, language)
    if isinstance(value, str):
        return value
    match kind:
        case "share":
            return text.percent(value, language)
        case "km":
            return text.number(value, language, 1)
        case "number" if isinstance(value, float):
            return text.number(value, language, 0 if value >= 10 else 1)
        case _:
            return text.number(value, language)


def table_html(table: Table, language: Language) -> str:
    shown = [(index, c) for index, c in enumerate(table.columns) if c.shown]
    columns = [{"header": c.header, "css": _css(c)} for _, c in shown]
    rows = [
        {
            "total": table.total_row and number == len(table.rows) - 1,
            "cells": [
                {"text": format_cell(row[index], c.kind, language), "css": _css(c)}
                for index, c in shown
            ],
        }
        for number, row in enumerate(table.rows)
    ]
    return _ENVIRONMENT.from_string(TABLE).render(columns=columns, rows=rows)


def _css(column: Column) -> str:
    """The cell's class: numbers right-aligned, dates kept on one line."""
    if column.kind in ("count", "share", "km", "number"):
        return "num"
    return "date" if column.kind == "date" else ""


def render_html(
    digest: Digest,
    tables: dict[str, Table],
    drawn: dict[str, str],
    drawn_maps: Maps,
    language: Language,
    *,
    files: Sequence[str],
    rules: Rules,
) -> str:
    """The whole page; every image is inside it as a data URI, so it works offline."""
    phrases = {key: text.with_rules(text.phrase(key, language), language, rules)
               for key in text.PHRASES}  # fmt: skip
    return _ENVIRONMENT.from_string(PAGE).render(
        language=language,
        p=phrases,
        month_name=text.month_name(digest.month, language),
        made_on=text.day(digest.made_at, language),
        provisional=digest.provisional,
        cards=cards(digest, language),
        charts=drawn,
        maps=drawn_maps,
        tables=tables,
        table=lambda table: markupsafe.Markup(table_html(table, language)),
        recon_warnings=digest.recon_warnings,
        judgements_in_month=text.number(digest.judgements_in_month, language),
        method=text.method_rules(language, rules),
        files=files,
    )
