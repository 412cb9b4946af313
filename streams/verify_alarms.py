"""Stage: alarm verification; an unverified press is its centre's task, a verified one an alert."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast, get_args

from faust import streams as faust_streams

from heterdaad import metrics
from schemas.alerts import (
    Alert,
    AlertKind,
    Area,
    EvidenceLink,
    LinkReason,
    Lookout,
    Severity,
    alert_id_for,
)
from schemas.distance import metres_between
from schemas.events import AlarmActivation, AlarmSignal, AlarmSite, IncidentReport
from schemas.geography import police_unit_for
from schemas.tasks import AlarmTask, AlarmTaskKind
from schemas.topics import ALARM_ACTIVATIONS, ALARM_TASKS, ALERTS, INCIDENT_REPORTS
from schemas.wire import encode
from streams import dead_letters
from streams.alarm_state import (
    FOLLOW_UPS,
    MAX_LOOSE_ENDS,
    PRESSES,
    TESTS,
    ActivationInput,
    CellItem,
    CellState,
    DeadlineIndex,
    Episode,
    Maintenance,
    MaintenanceWindows,
    Noted,
    ReportInput,
    ReportSeen,
    SiteRecord,
    SiteState,
    TimeoutTick,
    in_maintenance,
    note,
    route,
    seconds_between,
)
from streams.codec import InternalTopic

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
    from uuid import UUID

    import faust
    from faust.types import RecordMetadata

    from heterdaad.settings import Settings
    from streams.app import Topics

logger = logging.getLogger(__name__)

Output = Alert | AlarmTask
STAGE = "verify_alarms"
NO_MAINTENANCE: Maintenance = {}
HISTORY_SEVERITY = Severity.MEDIUM
"""A press past its live horizon (docs/time.md): shown in history, never above anything live."""
NO_LOOKOUT = Lookout()
"""An alarm names no lookout; one frozen instance serves every alert."""


def no_records(site_id: str) -> SiteRecord | None:
    return None


@dataclass(frozen=True)
class Decision:
    """The cell's state after one input, what to publish (in order), and the records of the
    sites it read (changed or not: a site it read is written back whole)."""

    state: CellState
    outputs: list[Output]
    records: dict[str, SiteRecord] = field(default_factory=dict)


class AlarmVerifier:
    """The pure decision: (cell state, input, now) -> (new state, alerts and tasks)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = settings.alarms

    def handle(
        self,
        state: CellState,
        item: CellItem,
        now: datetime,
        maintenance: Maintenance = NO_MAINTENANCE,
        records: Callable[[str], SiteRecord | None] = no_records,
    ) -> Decision:
        """Apply one input; `now` is processing time, `maintenance` maps site id to its
        windows (a press is judged by its own time against them), `records` gives a site's
        record (None: a site not seen before).

        The given state and records are left as they were: the decision works on copies.
        """

        def copied(site_id: str) -> SiteRecord | None:
            record = records(site_id)
            return None if record is None else record.model_copy(deep=True)

        return self.apply(state.model_copy(deep=True), item, now, maintenance, copied)

    def apply(
        self,
        state: CellState,
        item: CellItem,
        now: datetime,
        maintenance: Maintenance = NO_MAINTENANCE,
        records: Callable[[str], SiteRecord | None] = no_records,
    ) -> Decision:
        """`handle` without the copies, for a caller that owns the state and the records: they
        are changed in place."""
        run = _Run(self, state, now, maintenance, records)
        match item:
            case ActivationInput(activation=activation):
                run.activation(activation)
            case ReportInput(report=report):
                run.report(report)
            case TimeoutTick():
                run.tick()
        return Decision(run.state, run.outputs, run.finish())


@dataclass
class _Run:
    """One decision in progress: the copied state, the clock and what it has decided so far."""

    verifier: AlarmVerifier
    state: CellState
    now: datetime
    maintenance: Maintenance
    records: Callable[[str], SiteRecord | None]
    outputs: list[Output] = field(default_factory=list)
    views: dict[str, SiteState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.retention = timedelta(hours=self.verifier.limits.episode_retention_hours)
        # What the previous input left: each site is pruned to it when first seen in this run.
        self.start_horizon = self.state.horizon(self.retention)

    def site(self, site_id: str, site: AlarmSite | None = None) -> SiteState:
        """A site's episodes and record joined, read once per decision."""
        view = self.views.get(site_id)
        if view is None:
            live = self.state.sites.get(site_id)
            where = site or (live.site if live else None)
            assert where is not None, "a site is read for its activation or from its cell"
            view = SiteState.view(where, live, self.records(site_id))
            if self.start_horizon is not None:
                view.prune(self.start_horizon)
            self.views[site_id] = view
        return view

    def finish(self) -> dict[str, SiteRecord]:
        """Prune beyond the retention; the cell keeps the episodes, the records the rest."""
        horizon = self.state.horizon(self.retention)
        if horizon is not None:
            for site_id, kept in list(self.state.sites.items()):
                # Forgetting an open episode counts a false alarm: that needs the site's record.
                if any(e.first_at < horizon and e.respond_by is None for e in kept.episodes):
                    self.site(site_id)
        records = {}
        for site_id, view in self.views.items():
            if horizon is not None:
                view.prune(horizon)
            live = view.live()
            if live is None:
                self.state.sites.pop(site_id, None)
            else:
                self.state.sites[site_id] = live
            records[site_id] = view.record()
        self.state.prune(self.retention)
        return records

    def activation(self, activation: AlarmActivation) -> None:
        site_id = activation.site.site_id
        site = self.site(site_id, activation.site)
        site.site = activation.site
        if not site.remember(activation.event_id):
            logger.info("activation seen before", extra=_ids(site, activation))
            return
        self.state.advance(activation.occurred_at)
        if self._beyond_retention(activation.occurred_at):
            self._beyond(site, activation)
        elif activation.signal in TESTS:
            site.history.tests += 1
        elif activation.signal is AlarmSignal.SITE_SILENT:
            self._site_silent_task(site, activation)
        elif activation.signal not in FOLLOW_UPS and self._in_maintenance(
            site_id, activation.occurred_at
        ):
            # Judged by when it was made, not when it is processed (docs/time.md): a backlog
            # from before a window is real, a press made inside one is not, however late. A
            # restore or cancel still applies: it can only close a press made before.
            self._ignore_in_maintenance(site, activation)
        elif activation.verification is not None:
            self._verification(site, activation)
        elif activation.signal in PRESSES:
            self._press(site, activation)
        elif activation.signal in FOLLOW_UPS:
            self._follow_up(site, activation)

    def report(self, report: ReportSeen) -> None:
        if not self.state.add_report(report):
            return
        for site_id in list(self.state.sites):
            site = self.site(site_id)
            for episode in site.episodes:
                self._match_report(site, episode, report)

    def tick(self) -> None:
        """Escalate, or hold back, every episode whose verify task is overdue."""
        limits = self.verifier.limits
        for site_id in list(self.state.sites):
            site = self.site(site_id)
            for episode in site.episodes:
                if episode.respond_by is None or episode.respond_by > self.now:
                    continue
                episode.respond_by = None
                if episode.status != "open" or episode.resolved:
                    continue
                signals = {press.signal.value for press in episode.presses()}
                if (
                    self._in_maintenance(site.site.site_id, episode.first_at)
                    or not signals & limits.timeout_signals
                    or site.history.unreliable(limits.unreliable_site_false_alarms)
                ):
                    site.history.timeouts_held_back += 1
                    logger.info("verify task overdue, not escalated", extra=_ids(site, episode))
                    continue
                timeout = limits.verify_timeout_seconds
                reason = LinkReason(feature="unresolved_after_timeout", value=timeout,
                                    contribution=1.0)  # fmt: skip
                self._escalate(site, episode, AlertKind.HOLD_UP_IN_PROGRESS, Severity.HIGH,
                               episode.key_id, reason)  # fmt: skip

    # --- activations ---------------------------------------------------------------------

    def _press(self, site: SiteState, press: AlarmActivation) -> None:
        site.history.activations += 1
        episode = site.episode_of_press(
            press.occurred_at, self.verifier.limits.sequential_window_seconds
        )
        if episode is None:
            self._open(site, press)
        elif (
            episode.status == "open"
            # A plain SIA frame can be forged by anyone who reaches the receiver: two of them
            # are no second member of staff.
            and not press.unauthenticated
            and episode.pressed_by_other_staff(press)
        ):
            episode.add(note(press, "second_press"))
            reason = LinkReason(feature="sequential_buttons", value="other staff", contribution=1.0)
            self._escalate(site, episode, AlertKind.VERIFIED_ALARM, self._urgency(episode),
                           press.event_id, reason)  # fmt: skip
        else:
            # The same person again, or part of an episode already decided: evidence only.
            episode.add(note(press, "repeat_press"))

    def _open(self, site: SiteState, press: AlarmActivation) -> None:
        episode = Episode.opened_by(press, self.now)
        episode.add(note(press, "press"))
        site.episodes.append(episode)
        # Restores and cancels that overtook their press, and reports that came before it.
        for loose in [n for n in site.loose_ends if n.occurred_at >= episode.first_at]:
            site.loose_ends.remove(loose)
            self._apply_follow_up(site, episode, loose)
        for report in self.state.reports:
            self._match_report(site, episode, report)
        if episode.status != "open":
            return
        if not self.verifier.settings.time.press_is_live(press.occurred_at, self.now):
            # A backlog or a replay: nobody can still be helped, so nobody is asked to verify.
            logger.info("press is history: no verify task", extra=_ids(site, episode))
            return
        if seconds_between(self.now, press.occurred_at) > self.verifier.limits.late_press_seconds:
            logger.info("press arrived too late for a verify task", extra=_ids(site, episode))
            return
        self._verify_task(site, episode)

    def _beyond(self, site: SiteState, activation: AlarmActivation) -> None:
        """Older than the cell keeps evidence (a centre's backlog, after newer activations):
        its episode may be forgotten, so only what the activation says of itself decides. A
        verdict "verified" is a hold-up for history, a historical verified_alarm under its own
        key; anything else is logged, not judged."""
        verdict = activation.verification
        if verdict is None or not verdict.verified or activation.signal in TESTS:
            logger.warning("activation too late to be judged", extra=_ids(site, activation))
            return
        if self._in_maintenance(site.site.site_id, activation.occurred_at):
            # A verdict on a press made during maintenance is no hold-up, live or history.
            self._ignore_in_maintenance(site, activation)
            return
        # Not kept in the cell: the next prune would forget it at once.
        episode = Episode.opened_by(activation, self.now)
        method = verdict.method.value
        episode.add(note(activation, "verification", f"{method}:{verdict.verified}"))
        site.history.verified += 1
        reason = LinkReason(feature="verification", value=method, contribution=1.0)
        self._escalate(site, episode, AlertKind.VERIFIED_ALARM, HISTORY_SEVERITY,
                       activation.event_id, reason)  # fmt: skip

    def _ignore_in_maintenance(self, site: SiteState, activation: AlarmActivation) -> None:
        site.history.during_maintenance += 1
        logger.info("activation during maintenance ignored", extra=_ids(site, activation))

    def _follow_up(self, site: SiteState, follow_up: AlarmActivation) -> None:
        noted = note(follow_up, "restore" if follow_up.signal is AlarmSignal.RESTORE else "cancel")
        episode = site.episode_before(follow_up.occurred_at)
        if episode is None:
            site.loose_ends = [*site.loose_ends, noted][-MAX_LOOSE_ENDS:]
        else:
            self._apply_follow_up(site, episode, noted)

    def _apply_follow_up(self, site: SiteState, episode: Episode, follow_up: Noted) -> None:
        episode.add(follow_up)
        if episode.status != "open":
            # Offenders can make staff cancel: a cancel never withdraws an escalation.
            return
        after = seconds_between(follow_up.occurred_at, episode.first_at)
        if after <= self.verifier.limits.restore_grace_seconds:
            site.close_false(
                episode, f"{follow_up.role} after {after:.0f} s", follow_up.occurred_at
            )
            logger.info("false alarm", extra=_ids(site, episode) | site.history.model_dump())
        else:
            # Too late to call it a slip of the hand, but the centre has an answer: no timeout.
            episode.resolved = True
            episode.respond_by = None

    def _verification(self, site: SiteState, update: AlarmActivation) -> None:
        verdict = update.verification
        assert verdict is not None
        episode = site.episode_at(
            update.occurred_at, self.verifier.limits.sequential_window_seconds
        )
        if episode is None:
            # The verdict overtook its press: the episode starts here, with no task to send.
            episode = Episode.opened_by(update, self.now)
            site.episodes.append(episode)
        method = verdict.method.value
        episode.add(note(update, "verification", f"{method}:{verdict.verified}"))
        if verdict.verified:
            site.history.verified += 1
            if episode.status != "escalated":
                reason = LinkReason(feature="verification", value=method, contribution=1.0)
                self._escalate(site, episode, AlertKind.VERIFIED_ALARM, self._urgency(episode),
                               update.event_id, reason)  # fmt: skip
        elif episode.status == "open":
            site.close_false(episode, f"not verified ({method})", verdict.at)
            logger.info("false alarm", extra=_ids(site, episode) | site.history.model_dump())
        elif episode.status == "escalated":
            logger.warning("centre found no hold-up after escalation", extra=_ids(site, episode))

    def _match_report(self, site: SiteState, episode: Episode, report: ReportSeen) -> None:
        limits = self.verifier.limits
        if episode.status == "escalated" or report.branch_type != site.site.branch_type:
            return
        gap = seconds_between(report.occurred_at, episode.first_at)
        location = site.site.location
        distance = metres_between(location.lat, location.lon, report.lat, report.lon)
        if abs(gap) > limits.report_match_seconds or distance > limits.report_match_radius_m:
            return
        reason = LinkReason(feature="incident_report", value=report.incident_type.value,
                            contribution=1.0)  # fmt: skip
        link = EvidenceLink(event_id=report.event_id, event_type="incident_report",
                            occurred_at=report.occurred_at,
                            distance_m=round(distance, 1), time_gap_s=gap,
                            reasons=[reason])  # fmt: skip
        self._escalate(site, episode, AlertKind.HOLD_UP_IN_PROGRESS, self._urgency(episode),
                       report.event_id, reason, link)  # fmt: skip

    # --- what is published -----------------------------------------------------------------

    def _verify_task(self, site: SiteState, episode: Episode) -> None:
        timeout = self.verifier.limits.verify_timeout_seconds
        self._task(site, AlarmTaskKind.VERIFY, f"verify:{site.site.site_id}:{episode.key_id}",
                   episode.alarm_centre, episode.signal, episode.key_id, timeout)  # fmt: skip
        episode.respond_by = self.now + timedelta(seconds=timeout)
        logger.info("verify task raised", extra=_ids(site, episode))

    def _site_silent_task(self, site: SiteState, silent: AlarmActivation) -> None:
        dedup_key = f"site_silent:{site.site.site_id}:{silent.event_id}"
        within = self.verifier.settings.sia_supervision_hours * 3600
        self._task(site, AlarmTaskKind.SITE_SILENT, dedup_key, silent.alarm_centre, silent.signal,
                   silent.event_id, within)  # fmt: skip

    def _task(self, site: SiteState, kind: AlarmTaskKind, dedup_key: str, centre: str,
              signal: AlarmSignal, activation_id: UUID, within_s: float) -> None:  # fmt: skip
        self.outputs.append(
            AlarmTask(
                task_id=alert_id_for(dedup_key),
                kind=kind,
                alarm_centre=centre,
                site_id=site.site.site_id,
                signal=signal,
                activation_ids=[activation_id],
                respond_within_s=within_s,
                dedup_key=dedup_key,
                created_at=self.now,
            )
        )

    def _escalate(
        self,
        site: SiteState,
        episode: Episode,
        kind: AlertKind,
        severity: Severity,
        decided_by: object,
        reason: LinkReason,
        report: EvidenceLink | None = None,
    ) -> None:
        site.mark_escalated(episode, reason.feature)
        historical = not self.verifier.settings.time.press_is_live(episode.first_at, self.now)
        if historical:
            # Past its live horizon a press is a fact for history, never "in progress" or urgent.
            kind, severity = AlertKind.VERIFIED_ALARM, HISTORY_SEVERITY
        evidence = [_link(episode, noted, reason, decided_by) for noted in episode.noted]
        dedup_key = f"hold_up:{site.site.site_id}:{episode.key_id}"
        location = site.site.location
        radius = self.verifier.settings.robbery_alert_radius_m
        # Built without validating again: every part comes from validated models and settings
        # (tests/streams/test_verify_alarms.py checks the result validates to the same alert).
        # Each field is given, so no default (Lookout()) is deep-copied per alert.
        self.outputs.append(
            Alert.model_construct(
                alert_id=alert_id_for(dedup_key),
                kind=kind,
                severity=severity,
                area=Area.model_construct(center=location, radius_m=radius, cells=[]),
                police_unit=police_unit_for(location),
                branch_types_at_risk=[site.site.branch_type],
                site_id=site.site.site_id,
                series_id=None,
                hotspot_id=None,
                lookout=NO_LOOKOUT,
                vehicles=[],
                persons=[],
                evidence=[*evidence, report] if report else evidence,
                dedup_key=dedup_key,
                created_at=self.now,
                occurred_at=episode.first_at,
                historical=historical,
                grounds=None,
                basis=None,
            )
        )
        details = {"kind": kind.value, "severity": severity.value, "reason": reason.feature,
                   "historical": historical}  # fmt: skip
        logger.info(
            "alarm escalated", extra=_ids(site, episode) | details | site.history.model_dump()
        )

    def _urgency(self, episode: Episode) -> Severity:
        # Minutes after the press the offenders may still be near; later it is a reported fact.
        in_the_act = timedelta(minutes=self.verifier.settings.time.robbery_in_the_act_minutes)
        return Severity.CRITICAL if self.now - episode.first_at <= in_the_act else Severity.HIGH

    def _beyond_retention(self, occurred_at: datetime) -> bool:
        retention = timedelta(hours=self.verifier.limits.episode_retention_hours)
        return (
            self.state.stream_time is not None and occurred_at < self.state.stream_time - retention
        )

    def _in_maintenance(self, site_id: str, occurred_at: datetime) -> bool:
        return in_maintenance(self.maintenance, site_id, occurred_at)


def _link(episode: Episode, noted: Noted, reason: LinkReason, decided_by: object) -> EvidenceLink:
    # Unvalidated, as the alert: a role, a signal or a verdict, and times of validated models.
    context = LinkReason.model_construct(feature=noted.role,
                                         value=noted.detail or noted.signal.value,
                                         contribution=0.0)  # fmt: skip
    # The deciding reason sits on the event that decided; a timeout is decided by the first press.
    reasons = [context, reason] if noted.event_id == decided_by else [context]
    return EvidenceLink.model_construct(
        event_id=noted.event_id,
        event_type="alarm_activation",
        occurred_at=noted.occurred_at,
        distance_m=0.0,
        time_gap_s=seconds_between(noted.occurred_at, episode.first_at),
        similarity={},
        reasons=reasons,
    )


def _ids(site: SiteState, subject: Episode | AlarmActivation) -> dict[str, object]:
    if isinstance(subject, Episode):
        return {"site_id": site.site.site_id, "episode": str(subject.key_id),
                "status": subject.status}  # fmt: skip
    return {"site_id": site.site.site_id, "event_id": str(subject.event_id),
            "signal": subject.signal.value}  # fmt: skip


def replay(
    verifier: AlarmVerifier,
    arrivals: Iterable[tuple[datetime, AlarmActivation | IncidentReport]],
    maintenance: Maintenance = NO_MAINTENANCE,
) -> list[Output]:
    """Events through the decision in arrival order, the timer firing at each deadline, as in
    the stream: for tests, benchmarks and measurements without a broker."""
    cells: dict[str, CellState] = {}
    records: dict[str, SiteRecord] = {}
    deadlines: list[tuple[datetime, str]] = []
    outputs: list[Output] = []

    def run(key: str, item: CellItem, now: datetime) -> None:
        cell = cells.get(key) or CellState(partition=0)
        decision = verifier.handle(cell, item, now, maintenance, records.get)
        cells[key] = decision.state
        records.update(decision.records)
        outputs.extend(decision.outputs)
        if decision.state.next_deadline is not None:
            heapq.heappush(deadlines, (decision.state.next_deadline, key))

    def fire_until(moment: datetime) -> None:
        while deadlines and deadlines[0][0] <= moment:
            deadline, key = heapq.heappop(deadlines)
            pending = cells[key].next_deadline
            if pending is not None and pending <= deadline:
                run(key, TimeoutTick(at=deadline), deadline)

    for arrived_at, event in arrivals:
        fire_until(arrived_at)
        for key, item in route(event, verifier.limits.report_match_radius_m):
            run(key, item, arrived_at)
    # The timer has not yet come for deadlines after the present moment.
    fire_until(datetime.now(UTC))
    return outputs


# --- the Faust stage ------------------------------------------------------------------------


@contextlib.contextmanager
def acting_for(event: faust.EventT[bytes]) -> Iterator[None]:
    """Make `event` the current one, whose partition a table write's changelog record takes.

    A batch from `take_events` spans partitions; Faust's own current event is the batch's last.
    Only this task's context variable is set: the stream's attribute belongs to its drainer.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


def outcome_of(decision: Decision) -> str:
    """What one input came to, for the decisions counter: the kind of the alert it raised, a
    task for the alarm centre only, or nothing (yet)."""
    for output in decision.outputs:
        if isinstance(output, Alert):
            return output.kind.value
    return "task" if decision.outputs else "nothing"


def by_cell_topic(settings: Settings) -> str:
    # Named after the app like Faust's own internal topics, and removed with them.
    return f"{settings.app_id}-verify_alarms-by_cell"


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Declare this stage's agents, table and timers on the app."""
    verifier = AlarmVerifier(settings)
    source = f"urn:heterdaad:stream:{settings.app_id}"
    partitions = ALARM_ACTIVATIONS.partitions
    # Activations (keyed by site) and robbery reports (keyed by branch) meet on one topic keyed
    # by grid cell, so that one agent and one co-partitioned table see both.
    by_cell: InternalTopic[CellItem] = InternalTopic(
        app, by_cell_topic(settings), get_args(CellItem), dead_letters=ALARM_ACTIVATIONS,
        partitions=partitions, retention=timedelta(days=7), deleting=True,
    )  # fmt: skip
    cell_to_alarm_sites = app.Table(
        "cell_to_alarm_sites", default=None, key_type=bytes, value_type=bytes, partitions=partitions
    )
    # Keyed by site, written only with an input of the site's cell current: the record shares
    # its cell's changelog partition (streams/alarm_state.py says why).
    site_to_alarm_history = app.Table(
        "site_to_alarm_history", default=None, key_type=bytes, value_type=bytes,
        partitions=partitions,
    )  # fmt: skip
    windows = MaintenanceWindows(settings)
    deadlines = DeadlineIndex()
    # Ticks sent and not yet processed, so that a busy agent is not sent the same tick again.
    ticked: dict[bytes, tuple[datetime, datetime]] = {}

    async def forward(event: AlarmActivation | IncidentReport) -> None:
        for key, item in route(event, settings.alarms.report_match_radius_m):
            await by_cell.send(key.encode(), item)

    topics.intake.subscribe(ALARM_ACTIVATIONS, AlarmActivation, STAGE, forward)
    topics.intake.subscribe(INCIDENT_REPORTS, IncidentReport, STAGE, forward)

    async def send(output: Output) -> Awaitable[RecordMetadata]:
        """Queue one output in the producer; the returned future is the broker's ack."""
        spec, topic = (ALERTS, topics.alerts) if isinstance(output, Alert) else (
            ALARM_TASKS, topics.alarm_tasks)  # fmt: skip
        record = encode(spec, output, source)
        return await topic.send(key=record.key, value=record.value, headers=record.headers)

    async def decide(batch: Sequence[tuple[faust.EventT[bytes], CellItem]]) -> None:
        """Decide a batch in order; publish; only when the broker has every output, save state.

        The broker has the outputs before the table says they were sent: a crash in between
        repeats the same dedup keys and ids after the restart, it never loses a notification.
        One wait for the whole batch, not one round trip per alert, is what keeps up with a
        burst.
        """
        now = datetime.now(UTC)
        states: dict[bytes, tuple[CellState, faust.EventT[bytes]]] = {}
        records: dict[str, tuple[SiteRecord, faust.EventT[bytes]]] = {}
        # What the tables held before this batch: a cell or record saved unchanged would only
        # cost a changelog write (a report or a tick reads every site of its cell).
        stored_cells: dict[bytes, bytes | None] = {}
        stored_records: dict[bytes, bytes | None] = {}
        sending = []
        outcomes: Counter[str] = Counter()

        def record_of(site_id: str) -> SiteRecord | None:
            # Parsed once per batch; the decision changes it in place, as it does the cell.
            if site_id in records:
                return records[site_id][0]
            key = site_id.encode()
            if key not in stored_records:
                stored_records[key] = site_to_alarm_history.get(key)
            raw = stored_records[key]
            return SiteRecord.model_validate_json(raw) if raw else None

        for event, item in batch:
            key = event.key
            assert isinstance(key, bytes)
            if key in states:
                state = states[key][0]
            else:
                raw = stored_cells[key] = cell_to_alarm_sites.get(key)
                state = CellState.model_validate_json(raw) if raw else CellState(partition=0)
            state.partition = event.message.partition
            # Parsed for this batch alone, so the decision may change it in place.
            decision = verifier.apply(state, item, now, windows.current(), record_of)
            outcomes[outcome_of(decision)] += 1
            states[key] = (decision.state, event)
            records.update((site_id, (record, event)) for site_id, record
                           in decision.records.items())  # fmt: skip
            # Sent in decision order; each send only queues the record in the producer.
            sending.extend([await send(output) for output in decision.outputs])
            if isinstance(item, TimeoutTick):
                ticked.pop(key, None)
        await asyncio.gather(*sending)
        # Counted per batch: a labelled counter's look-up costs as much as a small decision.
        for outcome, count in outcomes.items():
            metrics.DECISIONS.labels(stage="verify_alarms", outcome=outcome).inc(count)
        for key, (state, event) in states.items():
            deadlines.note(key, state)
            saved = state.model_dump_json().encode()
            if saved != stored_cells[key]:
                # The changelog record goes to the partition of the input that changed the cell.
                with acting_for(event):
                    cell_to_alarm_sites[key] = saved
        for site_id, (record, event) in records.items():
            key = site_id.encode()
            saved = record.model_dump_json().encode()
            if saved != stored_records.get(key):
                # An input of the site's own cell: the record goes to its cell's partition.
                with acting_for(event):
                    site_to_alarm_history[key] = saved

    @app.agent(by_cell.topic, name="verify_alarms")
    async def verify_alarms(stream: faust.StreamT[bytes]) -> None:
        limits = settings.alarms
        # take_events is on the concrete Stream only, not on the StreamT interface.
        batches = cast("faust.Stream[bytes]", stream).take_events(
            limits.batch_max, within=limits.batch_wait_seconds
        )
        async for batch in batches:
            # The first batch waits for the maintenance windows (at most their read's timeout),
            # inside the loop: Faust hands a partition's records only to a stream that iterates
            # when it is assigned, and a stream started after a slow read lost the records
            # fetched meanwhile (docs/fault-tolerance.md, finding 9).
            await windows.first_read()
            if readable := await dead_letters.readable(batch, by_cell, topics, stage=STAGE):
                await decide(readable)

    async def escalate_overdue_tasks() -> None:
        # During a rebalance the assignment is in flux; the next beat sees the new one.
        if app.rebalancing:
            return
        name = by_cell_topic(settings)
        mine = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}
        now = datetime.now(UTC)
        # Standby copies of other workers' partitions are in the table too: only our own count.
        # The index is rebuilt from the table after each rebalance, once recovery has ended.
        cells = cell_to_alarm_sites.items
        for key, partition, deadline in deadlines.overdue(app.rebalancing_count, cells, mine, now):
            previous = ticked.get(key)
            if previous and previous[0] == deadline and now - previous[1] < timedelta(seconds=30):
                continue
            await by_cell.send(key, TimeoutTick(at=now), partition=partition)
            ticked[key] = (deadline, now)

    # Faust's timer and task decorators are untyped: applied as calls, not as decorators.
    app.timer(interval=settings.alarms.timer_seconds)(escalate_overdue_tasks)
    app.task(windows.refresh)
    app.timer(interval=settings.alarms.maintenance_refresh_seconds)(windows.refresh)
