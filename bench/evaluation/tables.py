"""The grid's figures as Markdown tables, one per stage, with the issue 15 targets beside them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.evaluation.stages import Counts

# Issue 15, done-criterion: on the hardest default dials, in the held-out seeds.
SERIES_FOUND_TARGET = 0.80
SERIES_FALSE_PER_30_DAYS_TARGET = 1.0
RECON_WARNED_TARGET = 0.70
RECON_FALSE_PER_100_TARGET = 2.0
FALSE_PRESSES_TARGET = 0.03
# Hotspots: raise_recurrence_days (100) means about one chance hotspot per 100 days nationally;
# raised hotspots of no planted one also hold planted series and recon patterns, so may exceed it.
HOTSPOT_CHANCE_PER_100_DAYS = 1.0


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "-"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def series_table(totals: dict[str, Counts]) -> list[str]:
    rows = ["| dials | found by the third robbery | series alerts | false series alerts "
            "(per 30 days) | target met |", "|---|---|---|---|---|"]  # fmt: skip
    for name, c in totals.items():
        found = c.series_found_by_third / c.series_planted if c.series_planted else 0.0
        per_30 = 30 * c.series_false_alerts / c.days if c.days else 0.0
        met = found >= SERIES_FOUND_TARGET and per_30 <= SERIES_FALSE_PER_30_DAYS_TARGET
        rows.append(f"| {name} | {_share(c.series_found_by_third, c.series_planted)} | "
                    f"{c.series_alerts} | {c.series_false_alerts} ({per_30:.2f}) | {_met(met)} |")
    rows.append(f"| *target* | *≥ {SERIES_FOUND_TARGET:.0%}* | | "
                f"*≤ {SERIES_FALSE_PER_30_DAYS_TARGET:g} per 30 days* | |")  # fmt: skip
    return rows


def recon_table(totals: dict[str, Counts]) -> list[str]:
    rows = ["| dials | warned before the robbery | of them single sightings | linked back "
            "afterwards | false warnings (per 100 background sightings) | target met |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for name, c in totals.items():
        warned = c.recon_warned_before / c.recon_patterns if c.recon_patterns else 0.0
        bg = c.recon_background_sightings
        per_100 = 100 * c.recon_false_warnings / bg if bg else 0.0
        met = warned >= RECON_WARNED_TARGET and per_100 <= RECON_FALSE_PER_100_TARGET
        rows.append(
            f"| {name} | {_share(c.recon_warned_before, c.recon_patterns)} | "
            f"{_share(c.recon_single_warned, c.recon_single)} | "
            f"{_share(c.recon_linked_back, c.recon_patterns)} | "
            f"{c.recon_false_warnings} of {bg} ({per_100:.2f}) | {_met(met)} |"
        )
    rows.append(f"| *target* | *≥ {RECON_WARNED_TARGET:.0%}* | | | "
                f"*≤ {RECON_FALSE_PER_100_TARGET:g} per 100* | |")  # fmt: skip
    return rows


def hotspot_table(totals: dict[str, Counts]) -> list[str]:
    rows = ["| dials | planted hotspots raised | hotspots raised | of no planted hotspot "
            "(per 100 days) |", "|---|---|---|---|"]  # fmt: skip
    for name, c in totals.items():
        per_100 = 100 * c.hotspots_false / c.days if c.days else 0.0
        rows.append(f"| {name} | {_share(c.hotspots_found, c.hotspots_planted)} | "
                    f"{c.hotspots_raised} | {c.hotspots_false} ({per_100:.2f}) |")  # fmt: skip
    rows.append(f"| *stated rate* | | | *about {HOTSPOT_CHANCE_PER_100_DAYS:g} per 100 days "
                "nationally* |")  # fmt: skip
    return rows


def alarm_table(totals: dict[str, Counts]) -> list[str]:
    rows = ["| dials | true hold-ups alerted | false presses reaching the police | "
            "target met |", "|---|---|---|---|"]  # fmt: skip
    for name, c in totals.items():
        false = c.false_alerted / c.false_presses if c.false_presses else 0.0
        met = c.true_alerted == c.true_presses and false <= FALSE_PRESSES_TARGET
        rows.append(f"| {name} | {_share(c.true_alerted, c.true_presses)} | "
                    f"{c.false_alerted}/{c.false_presses} ({false:.2%}) | {_met(met)} |")
    rows.append(f"| *target* | *all* | *≤ {FALSE_PRESSES_TARGET:.0%}* | |")
    return rows


def render(totals: dict[str, Counts], heading: str) -> str:
    sections = [
        ("Series linkage", series_table(totals)),
        ("Reconnaissance", recon_table(totals)),
        ("Hotspots", hotspot_table(totals)),
        ("Alarm verification", alarm_table(totals)),
    ]
    lines = [heading, ""]
    for title, rows in sections:
        lines += [f"#### {title}", "", *rows, ""]
    return "\n".join(lines)
