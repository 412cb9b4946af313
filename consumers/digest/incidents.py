"""Incident counts of the month, the twelve-month trend, and the taskforce's ambitions."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consumers.digest.period import NL_TIME, Month
from schemas.distance import metres_between

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime, timedelta

    from consumers.digest.read import Incident

logger = logging.getLogger(__name__)

# What the taskforce counts as robberies (overvallen): completed, attempted and home robberies.
# Street robbery and ram raids have figures of their own (§2, §6.5).
ROBBERY_KINDS = frozenset({"overval", "poging", "woningoverval"})
STREET_ROBBERY_KINDS = frozenset({"straatroof"})
RAM_RAID_KINDS = frozenset({"ramkraak", "plofkraak"})
INCIDENT_KINDS = ("overval", "poging", "woningoverval", "straatroof", "ramkraak", "plofkraak")

# Ambitions for 2023 (§6.5): at most 900 robberies with at least 53% cleared, at most 2,900
# street robberies with at least 30% cleared.
ROBBERY_CEILING_PER_YEAR = 900
STREET_ROBBERY_CEILING_PER_YEAR = 2900
ROBBERY_CLEARANCE_TARGET = 0.53
STREET_ROBBERY_CLEARANCE_TARGET = 0.30

# Reports of one incident by the shop and by the trade association lie at one branch; a few
# tens of metres leave room for a chain and the CBL tool geocoding one address differently.
SAME_SPOT_M = 50.0


def deduplicate(incidents: Sequence[Incident], window: timedelta) -> list[Incident]:
    """One incident per robbery: the reports of one robbery by different sources joined.

    A source is an organisation and the channel it reported through (the intake API, or an
    import of a CBL export). Each source gives a robbery one id of its own (the event id the
    client chose, the melding number in the CBL tool), so a source never reports one robbery
    twice: two of its reports at one branch, an hour apart, are two robberies. The same robbery
    does come in twice from two sources: the shop posts it and the trade association (or the
    shop's own CBL export) reports it again. A report therefore joins a robbery found before
    when it lies at the same spot within `window` after that robbery's first report and that
    robbery has no report from its source yet; otherwise it is a robbery of its own.

    The earliest report stands for the incident, whichever organisation sent it.
    """
    robberies: list[_Robbery] = []
    for incident in sorted(incidents, key=lambda i: (i.occurred_at, str(i.event_id))):
        robbery = _reported_before(incident, robberies, window)
        if robbery is None:
            robberies.append(_Robbery(incident, {incident.source}))
        else:
            robbery.sources.add(incident.source)
    dropped = len(incidents) - len(robberies)
    if dropped:
        logger.info("digest.duplicates_dropped count=%d", dropped)
    return [robbery.first for robbery in robberies]


@dataclass
class _Robbery:
    """One robbery as found so far: its earliest report and every source that reported it."""

    first: Incident
    sources: set[tuple[str, str]]


def _reported_before(
    incident: Incident, robberies: Sequence[_Robbery], window: timedelta
) -> _Robbery | None:
    """The latest robbery this report is another source's report of, if any."""
    for robbery in reversed(robberies):
        earlier = robbery.first
        if incident.occurred_at - earlier.occurred_at > window:
            return None  # robberies are in time order: all before this one lie further back
        if (
            incident.source not in robbery.sources
            and metres_between(earlier.lat, earlier.lon, incident.lat, incident.lon) <= SAME_SPOT_M
        ):
            return robbery
    return None


@dataclass(frozen=True)
class MonthCounts:
    """The month's incidents by type, branch type, police unit, local hour and weekday."""

    total: int
    by_kind: Counter[str]
    by_branch_type: Counter[str]
    by_police_unit: Counter[str]
    by_hour: tuple[int, ...]
    by_weekday: tuple[int, ...]

    @property
    def robberies(self) -> int:
        return sum(self.by_kind[kind] for kind in ROBBERY_KINDS)

    @property
    def street_robberies(self) -> int:
        return sum(self.by_kind[kind] for kind in STREET_ROBBERY_KINDS)

    @property
    def ram_raids(self) -> int:
        return sum(self.by_kind[kind] for kind in RAM_RAID_KINDS)


def in_month(incidents: Iterable[Incident], month: Month) -> list[Incident]:
    return [i for i in incidents if month.start <= i.occurred_at < month.end]


def count_month(incidents: Sequence[Incident]) -> MonthCounts:
    """Counts of incidents already restricted to the month; hours and weekdays in Dutch time."""
    hours = [0] * 24
    weekdays = [0] * 7
    for incident in incidents:
        local = incident.occurred_at.astimezone(NL_TIME)
        hours[local.hour] += 1
        weekdays[local.weekday()] += 1
    return MonthCounts(
        total=len(incidents),
        by_kind=Counter(i.kind for i in incidents),
        by_branch_type=Counter(i.branch_type or "unknown" for i in incidents),
        by_police_unit=Counter(i.police_unit or "unknown" for i in incidents),
        by_hour=tuple(hours),
        by_weekday=tuple(weekdays),
    )


@dataclass(frozen=True)
class TrendMonth:
    """One month of the trend; counts are None for a month before the data begins."""

    month: Month
    robberies: int | None
    street_robberies: int | None
    ram_raids: int | None

    @property
    def has_data(self) -> bool:
        return self.robberies is not None


def trend(
    incidents: Sequence[Incident], month: Month, months: int, data_since: datetime | None
) -> list[TrendMonth]:
    """Robberies, street robberies and ram raids per month for the `months` up to `month`."""
    by_month: dict[Month, Counter[str]] = {}
    for incident in incidents:
        by_month.setdefault(Month.of(incident.occurred_at), Counter())[incident.kind] += 1
    rows = []
    for each in month.last(months):
        # A month that ended before the first event is unknown, not zero.
        if data_since is None or each.end <= data_since:
            rows.append(TrendMonth(each, None, None, None))
            continue
        kinds = by_month.get(each, Counter())
        rows.append(
            TrendMonth(
                each,
                robberies=sum(kinds[k] for k in ROBBERY_KINDS),
                street_robberies=sum(kinds[k] for k in STREET_ROBBERY_KINDS),
                ram_raids=sum(kinds[k] for k in RAM_RAID_KINDS),
            )
        )
    return rows


@dataclass(frozen=True)
class Ambition:
    """A target of the action programme next to what the data says; None where it cannot say."""

    code: str
    actual: float | None
    target: float
    kind: str  # 'ceiling': at most target; 'floor': at least target
    months_of_data: int | None = None

    @property
    def met(self) -> bool | None:
        if self.actual is None:
            return None
        return self.actual <= self.target if self.kind == "ceiling" else self.actual >= self.target


def ambitions(counts: MonthCounts, months: Sequence[TrendMonth]) -> list[Ambition]:
    """The month and the last twelve months against the 2023 ambitions; clearance is unknown.

    Events carry no clearance (whether a suspect was caught): that is police data the system
    does not receive, so the clearance rows say n.b. instead of guessing.
    """
    known = [m for m in months if m.has_data]
    # The month itself (the last of `months`) ended before the first stored event: its zero is
    # no data, not a ceiling met.
    this_month = not months or months[-1].has_data
    yearly_pace: float | None = None
    if known:
        # Fewer than twelve months of data: scale what there is to a year.
        yearly_pace = sum(m.robberies or 0 for m in known) * 12 / len(known)
    return [
        Ambition(
            "robberies_month",
            counts.robberies if this_month else None,
            ROBBERY_CEILING_PER_YEAR / 12,
            "ceiling",
        ),
        Ambition(
            "robberies_12_months",
            yearly_pace,
            ROBBERY_CEILING_PER_YEAR,
            "ceiling",
            months_of_data=len(known),
        ),
        Ambition("robbery_clearance", None, ROBBERY_CLEARANCE_TARGET, "floor"),
        Ambition(
            "street_robberies_month",
            counts.street_robberies if this_month else None,
            STREET_ROBBERY_CEILING_PER_YEAR / 12,
            "ceiling",
        ),
        Ambition("street_robbery_clearance", None, STREET_ROBBERY_CLEARANCE_TARGET, "floor"),
    ]
