"""State of alarm verification (episodes by grid cell, records by site); how inputs reach it.

Two Faust tables hold it. `cell_to_alarm_sites` (key: grid cell) holds every episode of its
sites within the retention (open, found false, or escalated) and the cell's recent robbery
reports. `site_to_alarm_history` (key: site id) holds what outlives an episode: the site's
false-alarm history, the event ids it has seen and restores that came before their press. So a
cell's value grows with the episodes of the retention, not with every site ever seen there.

An episode stays in the cell for its whole life. The two tables are written one after the other,
the cell first, and a worker stopped between the writes comes back with the new cell and the old
record: each input after its last commit is then decided again against the episodes it had
already changed, and decides the same (docs/fault-tolerance.md, finding 16). Only the counters of
the history may fall one short. An escalated episode that moved to the record (as it did before)
was in neither table in that case, and the verdict read again opened an episode of its own: a
second alert for one hold-up.

Where a site's record lives. A Faust table is not partitioned by its key: unless
`use_partitioner` is set, a write sends its changelog record to the partition of the *current
event* (`Collection._send_changelog` takes `event.message.partition`). With `use_partitioner`
the record would go to the partition of hash(site id), which the worker processing the site's
cell need not own; with the memory store such keys linger after a rebalance and with RocksDB a
read may miss them (faust-streaming/faust#129, #199). So the site table keeps the default and
is only ever written while an input of the site's own cell is current (`acting_for` in
streams/verify_alarms.py). Every input that changes a site is keyed by that site's cell, so its
record sits in the changelog partition of its cell: the worker that owns the cell's partition
restores both the cell and the records of its sites, and reads them locally. A site that moves
to another cell (a new location or branch type) starts a new record there when the new cell's
partition is another worker's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from uuid import UUID

import asyncpg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.common import BranchType
from schemas.events import AlarmActivation, AlarmSignal, AlarmSite, IncidentReport, IncidentType

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

# Sites and robbery reports meet on a grid cell of about 1.1 km (0.01 degrees of latitude,
# 0.016 of longitude at 52 degrees north), keyed with the branch type: the match radius is at
# most 250 m, so a report is routed to at most the four cells around it. Changing the grid
# changes every key: state under the old keys would be orphaned.
CELL_LAT_DEGREES = 0.01
CELL_LON_DEGREES = 0.016
METRES_PER_DEGREE_LAT = 111_320.0

SEEN_IDS = 64
"""Event ids remembered per site: a replayed activation is recognised and changes nothing."""
MAX_EPISODES = 50
MAX_NOTED = 50
"""Activations kept per episode: a jammed button must not grow the state without end."""
MAX_LOOSE_ENDS = 20
MAX_REPORTS = 50

PRESSES = frozenset({AlarmSignal.PANIC, AlarmSignal.HOLD_UP, AlarmSignal.DURESS})
FOLLOW_UPS = frozenset({AlarmSignal.RESTORE, AlarmSignal.CANCEL})
TESTS = frozenset({AlarmSignal.TEST, AlarmSignal.LINK_TEST})

Role = Literal["press", "repeat_press", "second_press", "restore", "cancel", "verification"]
Status = Literal["open", "false", "escalated"]


class State(BaseModel):
    """Mutable inside one decision; the decision works on a deep copy of what it was given."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Noted(State):
    """An activation as an episode remembers it: enough for evidence, no free text."""

    event_id: UUID
    signal: AlarmSignal
    occurred_at: AwareDatetime
    role: Role
    user_id: str | None = None
    button_id: str | None = None
    detail: str | None = None


class Episode(State):
    """One press and what followed it at the same site; at most one alert and one task each."""

    key_id: UUID = Field(description="The activation that opened it; part of the dedup keys.")
    signal: AlarmSignal
    alarm_centre: str
    first_at: AwareDatetime
    opened_at: AwareDatetime = Field(description="Processing time at which it was opened.")
    noted: list[Noted] = Field(default_factory=list)
    status: Status = "open"
    respond_by: AwareDatetime | None = Field(
        None, description="Processing-time deadline of the centre's verify task, while armed."
    )
    resolved: bool = Field(False, description="Restored or cancelled after the grace: no timeout.")
    closed_at: AwareDatetime | None = Field(None, description="Event time it was found false.")
    outcome: str | None = None
    counted_false: bool = False

    @classmethod
    def opened_by(cls, activation: AlarmActivation, now: datetime) -> Episode:
        # Unvalidated (here and below, where state is built from validated models): on the
        # alarm path every press pays for it, and the stored state is validated when read.
        return cls.model_construct(
            key_id=activation.event_id,
            signal=activation.signal,
            alarm_centre=activation.alarm_centre,
            first_at=activation.occurred_at,
            opened_at=now,
            # Every field given: model_construct inspects a default factory's signature per call.
            noted=[],
            status="open",
            respond_by=None,
            resolved=False,
            closed_at=None,
            outcome=None,
            counted_false=False,
        )

    def add(self, noted: Noted) -> None:
        # Once each: an input decided again after a stop between the writes (see above).
        if len(self.noted) < MAX_NOTED and all(n.event_id != noted.event_id for n in self.noted):
            self.noted.append(noted)

    def presses(self) -> list[Noted]:
        return [n for n in self.noted if n.role in ("press", "repeat_press", "second_press")]

    def pressed_by_other_staff(self, press: AlarmActivation) -> bool:
        """Another staff code than an earlier press, or when codes are unknown another button."""
        return any(_differ(earlier, press) for earlier in self.presses())


def _differ(earlier: Noted, press: AlarmActivation) -> bool:
    if earlier.user_id is not None and press.user_id is not None:
        return earlier.user_id != press.user_id
    return None not in (earlier.button_id, press.button_id) and earlier.button_id != press.button_id


def note(activation: AlarmActivation, role: Role, detail: str | None = None) -> Noted:
    return Noted.model_construct(
        event_id=activation.event_id,
        signal=activation.signal,
        occurred_at=activation.occurred_at,
        role=role,
        user_id=activation.user_id,
        button_id=activation.button_id,
        detail=detail,
    )


class SiteHistory(State):
    """A site's record; reported, and used only to hold back unverified timeout escalations."""

    activations: int = 0
    false: int = 0
    verified: int = 0
    escalated: int = 0
    timeouts_held_back: int = 0
    tests: int = 0
    during_maintenance: int = 0

    def unreliable(self, false_alarms: int) -> bool:
        """Many false alarms and not one verified: its silences are not escalated."""
        return self.false >= false_alarms and self.verified == 0


class LiveSite(State):
    """A site's episodes within the retention, as its cell keeps them."""

    site: AlarmSite
    episodes: list[Episode] = Field(default_factory=list)


class SiteRecord(State):
    """The table value of one site: what it keeps beyond its episodes."""

    history: SiteHistory = Field(default_factory=SiteHistory)
    seen: list[UUID] = Field(default_factory=list)
    loose_ends: list[Noted] = Field(
        default_factory=list, description="Restores and cancels that came before their press."
    )
    decided: list[Episode] = Field(
        default_factory=list,
        description="Escalated episodes, as records kept them before they stayed in the cell: "
        "read, and moved to the cell at the site's next decision.",
    )


class SiteState(State):
    """A site as one decision sees it: its episodes and its record, joined (`view`), and
    split again when the decision is done (`live`, `record`)."""

    site: AlarmSite
    episodes: list[Episode] = Field(default_factory=list)
    loose_ends: list[Noted] = Field(
        default_factory=list, description="Restores and cancels that came before their press."
    )
    seen: list[UUID] = Field(default_factory=list)
    history: SiteHistory = Field(default_factory=SiteHistory)

    @classmethod
    def view(cls, site: AlarmSite, live: LiveSite | None, record: SiteRecord | None) -> SiteState:
        record = record or SiteRecord()
        episodes = list(live.episodes) if live else []
        if record.decided:
            # Stopped between the cell and the record of the move, a worker kept both copies.
            moved = {episode.key_id for episode in episodes}
            episodes = [*(e for e in record.decided if e.key_id not in moved), *episodes]
        # In the order they were opened, as one list kept them before the split.
        episodes.sort(key=lambda episode: episode.opened_at)
        # Lists copied, as validation did: the decision changes the view's in place.
        return cls.model_construct(site=site, episodes=episodes,
                                   loose_ends=list(record.loose_ends), seen=list(record.seen),
                                   history=record.history)  # fmt: skip

    def live(self) -> LiveSite | None:
        """What the cell keeps: every episode within the retention."""
        episodes = list(self.episodes)
        return LiveSite.model_construct(site=self.site, episodes=episodes) if episodes else None

    def record(self) -> SiteRecord:
        return SiteRecord.model_construct(history=self.history, seen=list(self.seen),
                                          loose_ends=list(self.loose_ends),
                                          decided=[])  # fmt: skip

    def remember(self, event_id: UUID) -> bool:
        """Note an event id; False when it was seen before (a replay)."""
        if event_id in self.seen:
            return False
        self.seen = [*self.seen, event_id][-SEEN_IDS:]
        return True

    def episode_at(self, moment: datetime, window_s: float) -> Episode | None:
        """The latest episode whose window holds this moment, whatever its status."""
        near = [e for e in self.episodes if abs(seconds_between(moment, e.first_at)) <= window_s]
        return max(near, key=lambda e: e.first_at, default=None)

    def episode_of_press(self, moment: datetime, window_s: float) -> Episode | None:
        """As episode_at, but a press after its episode was found false starts a new one."""
        episode = self.episode_at(moment, window_s)
        if episode and episode.closed_at and moment > episode.closed_at:
            return None
        return episode

    def episode_before(self, moment: datetime) -> Episode | None:
        earlier = [e for e in self.episodes if e.first_at <= moment]
        return max(earlier, key=lambda e: e.first_at, default=None)

    def close_false(self, episode: Episode, outcome: str, at: datetime) -> None:
        episode.status, episode.closed_at, episode.outcome = "false", at, outcome
        episode.respond_by = None
        episode.counted_false = True
        self.history.false += 1

    def mark_escalated(self, episode: Episode, outcome: str) -> None:
        episode.status, episode.outcome = "escalated", outcome
        episode.respond_by = None
        if episode.counted_false:
            # Found false first, proved real later (a verdict or a robbery report).
            self.history.false -= 1
            episode.counted_false = False
        self.history.escalated += 1

    def prune(self, horizon: datetime) -> None:
        """Forget episodes begun before the horizon; one never confirmed counts as false."""
        kept = []
        for episode in self.episodes:
            if episode.first_at >= horizon or episode.respond_by is not None:
                kept.append(episode)
            elif episode.status == "open":
                self.history.false += 1
        self.episodes = kept[-MAX_EPISODES:]
        self.loose_ends = [n for n in self.loose_ends if n.occurred_at >= horizon]


class ReportSeen(State):
    """What verification needs of a robbery report: where, what kind of branch, when."""

    event_id: UUID
    branch_id: str
    branch_type: BranchType
    lat: float
    lon: float
    occurred_at: AwareDatetime
    incident_type: IncidentType


class CellState(State):
    """The table value of one cell: its sites' episodes within the retention and the recent
    robbery reports."""

    partition: int = Field(description="Partition it is kept in: the timer acts on its own only.")
    stream_time: AwareDatetime | None = Field(None, description="Latest event time seen here.")
    next_deadline: AwareDatetime | None = None
    sites: dict[str, LiveSite] = Field(default_factory=dict)
    reports: list[ReportSeen] = Field(default_factory=list)

    def advance(self, moment: datetime) -> None:
        self.stream_time = moment if self.stream_time is None else max(self.stream_time, moment)

    def add_report(self, report: ReportSeen) -> bool:
        """Keep a report for presses still to come; False when it was seen before."""
        if any(seen.event_id == report.event_id for seen in self.reports):
            return False
        self.reports = [*self.reports, report][-MAX_REPORTS:]
        self.advance(report.occurred_at)
        return True

    def horizon(self, retention: timedelta) -> datetime | None:
        """Event time before which episodes and reports are forgotten."""
        return None if self.stream_time is None else self.stream_time - retention

    def prune(self, retention: timedelta) -> None:
        """Forget reports beyond the retention (event time) and note the next deadline; the
        sites' episodes are pruned by the decision, which holds their records."""
        horizon = self.horizon(retention)
        if horizon is not None:
            self.reports = [r for r in self.reports if r.occurred_at >= horizon]
        deadlines = [
            episode.respond_by
            for site in self.sites.values()
            for episode in site.episodes
            if episode.respond_by is not None
        ]
        self.next_deadline = min(deadlines, default=None)


# --- what the stage's internal topic carries, keyed by cell --------------------------------


class ActivationInput(State):
    kind: Literal["activation"] = "activation"
    activation: AlarmActivation


class ReportInput(State):
    kind: Literal["incident_report"] = "incident_report"
    report: ReportSeen


class TimeoutTick(State):
    """Sent by the timer for a cell with an overdue task; processed like any event."""

    kind: Literal["tick"] = "tick"
    at: AwareDatetime


CellItem = ActivationInput | ReportInput | TimeoutTick


def false_alarm_history(records: Mapping[str, SiteRecord]) -> dict[str, SiteHistory]:
    """The false-alarm history of each site, by site id."""
    return {site_id: record.history for site_id, record in records.items()}


# --- geometry ------------------------------------------------------------------------------


def cell_key(branch_type: BranchType, lat: float, lon: float) -> str:
    return f"{branch_type.value}:{math.floor(lat / CELL_LAT_DEGREES)}:" + str(
        math.floor(lon / CELL_LON_DEGREES)
    )


def cells_near(branch_type: BranchType, lat: float, lon: float, radius_m: float) -> list[str]:
    """The cells of this branch type that a circle around the point touches (one to four)."""
    d_lat = radius_m / METRES_PER_DEGREE_LAT
    d_lon = radius_m / (METRES_PER_DEGREE_LAT * math.cos(math.radians(lat)))
    keys = {
        cell_key(branch_type, lat + s_lat * d_lat, lon + s_lon * d_lon)
        for s_lat in (-1, 1)
        for s_lon in (-1, 1)
    }
    return sorted(keys)


def seconds_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


# --- routing: which cell each input belongs to --------------------------------------------


def route(event: AlarmActivation | IncidentReport, radius_m: float) -> list[tuple[str, CellItem]]:
    """(cell key, input) pairs: an activation to its site's cell, a robbery report to every cell
    of its branch type within the match radius; the report's personal data stays behind."""
    if isinstance(event, AlarmActivation):
        site = event.site
        key = cell_key(site.branch_type, site.location.lat, site.location.lon)
        return [(key, ActivationInput(activation=event))]
    branch = event.branch
    seen = ReportSeen(
        event_id=event.event_id,
        branch_id=branch.branch_id,
        branch_type=branch.branch_type,
        lat=branch.location.lat,
        lon=branch.location.lon,
        occurred_at=event.occurred_at,
        incident_type=event.incident_type,
    )
    keys = cells_near(branch.branch_type, branch.location.lat, branch.location.lon, radius_m)
    return [(key, ReportInput(report=seen)) for key in keys]


def deadline_of(stored: bytes) -> tuple[int, datetime] | None:
    """(partition, next deadline) of a stored cell, None when nothing waits for a timeout.

    Plain JSON, not the model: a worker reads every cell this way after each rebalance.
    """
    fields = json.loads(stored)
    deadline = fields.get("next_deadline")
    return None if deadline is None else (fields["partition"], datetime.fromisoformat(deadline))


def overdue(stored: bytes, partitions: set[int], now: datetime) -> tuple[int, datetime] | None:
    """(partition, deadline) of a stored cell with an overdue task in one of these partitions."""
    due = deadline_of(stored)
    return due if due is not None and due[0] in partitions and due[1] <= now else None


class DeadlineIndex:
    """The next deadline of every cell with one, so that the timer need not parse every cell of
    the table at each beat (a stall that grows with the number of sites).

    The agent notes each cell it saves. After a rebalance the table holds cells that other
    workers saved: the index is then read anew from the table, once.
    """

    def __init__(self) -> None:
        self._deadlines: dict[bytes, tuple[int, datetime]] = {}
        self._generation: int | None = None

    def note(self, key: bytes, state: CellState) -> None:
        if state.next_deadline is None:
            self._deadlines.pop(key, None)
        else:
            self._deadlines[key] = (state.partition, state.next_deadline)

    def overdue(
        self,
        generation: int,
        cells: Callable[[], Iterable[tuple[bytes, bytes | None]]],
        partitions: set[int],
        now: datetime,
    ) -> list[tuple[bytes, int, datetime]]:
        """(key, partition, deadline) of the overdue cells in these partitions.

        `generation` counts the rebalances; when it changed, `cells()` is read to rebuild.
        """
        if generation != self._generation:
            self._deadlines = {
                key: due for key, stored in cells() if stored and (due := deadline_of(stored))
            }
            self._generation = generation
        return [(key, partition, deadline)
                for key, (partition, deadline) in self._deadlines.items()
                if partition in partitions and deadline <= now]  # fmt: skip


# --- maintenance windows ------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceWindow:
    """A site's maintenance from `starts_at` (inclusive) to `ends_at` (exclusive)."""

    starts_at: datetime
    ends_at: datetime

    def covers(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


Maintenance = Mapping[str, Sequence[MaintenanceWindow]]
"""Site id to its maintenance windows, in any order."""


def in_maintenance(maintenance: Maintenance, site_id: str, occurred_at: datetime) -> bool:
    """Whether a press made at `occurred_at` (event time, not when it is processed) fell in one
    of the site's windows: a backlog from before a window is real, one made inside it is not."""
    return any(window.covers(occurred_at) for window in maintenance.get(site_id, ()))


class MaintenanceWindows:
    """Maintenance windows of sites, read from alarm_site_maintenance: the contract has no
    signal for it, so each worker reads the table now and then; what it read last stays in
    force. It reads every window that ended within `time.late_bound_days`: a press of that
    age can still arrive and be judged against the window it was made in."""

    QUERY = (
        "SELECT site_id, starts_at, ends_at FROM alarm_site_maintenance "
        "WHERE ends_at > now() - make_interval(secs => $1)"
    )

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._windows: dict[str, tuple[MaintenanceWindow, ...]] = {}
        self._first_read = asyncio.Event()

    def current(self) -> Maintenance:
        return self._windows

    async def first_read(self) -> None:
        """Wait until the table has been read (or failed to be) once since start-up."""
        await self._first_read.wait()

    async def refresh(self) -> None:
        try:
            await self._read()
        finally:
            self._first_read.set()

    async def _read(self) -> None:
        settings = self._settings
        kept_for = timedelta(days=settings.time.late_bound_days).total_seconds()
        try:
            async with asyncio.timeout(10):
                # Once a minute: a connection each time costs less than a pool held for ever.
                connection = await asyncpg.connect(
                    settings.database_url,
                    server_settings={"search_path": settings.database_schema},
                )
                try:
                    rows = await connection.fetch(self.QUERY, kept_for)
                finally:
                    await connection.close()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            logger.warning("maintenance windows not read", extra={"error": str(error)})
            return
        windows: dict[str, list[MaintenanceWindow]] = {}
        for row in rows:
            window = MaintenanceWindow(row["starts_at"], row["ends_at"])
            windows.setdefault(str(row["site_id"]), []).append(window)
        read = {site_id: tuple(sorted(kept, key=lambda w: w.starts_at))
                for site_id, kept in windows.items()}  # fmt: skip
        if read != self._windows:
            logger.info("maintenance windows", extra={"windows": {
                site_id: [(w.starts_at.isoformat(), w.ends_at.isoformat()) for w in kept]
                for site_id, kept in sorted(read.items())}})  # fmt: skip
        self._windows = read
