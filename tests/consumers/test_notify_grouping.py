"""Grouping, inhibition, silences and time windows, as pure decisions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from consumers.notify.admin import NotifyAdminError
from consumers.notify.group import GroupState, schedule
from consumers.notify.inhibit import Inhibitor, inhibitor_of
from consumers.notify.labels import alert_labels, group_key
from consumers.notify.silences import Matcher, Silence, silenced_by
from consumers.notify.windows import TimeWindow, first_opening
from heterdaad.thresholds.notify import NotifyThresholds
from schemas.alerts import AlertKind
from schemas.common import BranchType
from tests import factories

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, 13:00 in Amsterdam
THRESHOLDS = NotifyThresholds(
    group_wait_seconds=2, group_interval_seconds=60, repeat_interval_seconds=3600
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- grouping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "now", "due", "flush_at"),
    [
        # A new group waits group_wait.
        (None, at(0), at(2), at(2)),
        # Within group_wait of a new group: joins its flush.
        (GroupState(at(0), at(0), at(2)), at(1), at(2), at(2)),
        # The flush is overdue but has not happened: go at once.
        (GroupState(at(0), at(0), at(2)), at(3), at(3), at(3)),
        # Notified at 2 s: the next alert waits for group_interval after that flush.
        (GroupState(at(0), at(1), at(2), at(2)), at(10), at(62), at(62)),
        # Notified long ago but still remembered: no group_wait, go now.
        (GroupState(at(0), at(100), at(2), at(2)), at(200), at(200), at(200)),
        # Quiet for longer than repeat_interval: a new group, waiting group_wait again.
        (GroupState(at(0), at(0), at(2), at(2)), at(3700), at(3702), at(3702)),
    ],
)
def test_schedule(
    state: GroupState | None, now: datetime, due: datetime, flush_at: datetime
) -> None:
    when, after = schedule(state, now, THRESHOLDS)
    assert (when, after.next_flush_at, after.touched_at) == (due, flush_at, now)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        # A robbery without a subject: grouped per kind and unit.
        ({}, "kind=robbery_reported,police_unit=amsterdam"),
        # A series update: grouped per series.
        (
            {"kind": AlertKind.SERIES, "series_id": "S-7"},
            "kind=series,police_unit=amsterdam,series_id=S-7",
        ),
        # A hold-up: grouped per site.
        (
            {"kind": AlertKind.HOLD_UP_IN_PROGRESS, "site_id": "site-1"},
            "kind=hold_up_in_progress,police_unit=amsterdam,site_id=site-1",
        ),
    ],
)
def test_group_key(overrides: dict[str, Any], key: str) -> None:
    labels = alert_labels(factories.alert(**overrides))
    assert group_key(labels, THRESHOLDS.group_by) == key


# --- inhibition -------------------------------------------------------------------------


def _labels(kind: AlertKind, site: str | None, key: str) -> dict[str, str]:
    return alert_labels(factories.alert(kind=kind, site_id=site, dedup_key=key))


HOLD_UP_SITE_1 = Inhibitor(
    "hold-up:1", _labels(AlertKind.HOLD_UP_IN_PROGRESS, "site-1", "hold-up:1"), at(0)
)


@pytest.mark.parametrize(
    ("target", "created", "inhibited"),
    [
        # The verified alarm of the same site, a minute after the hold-up: muted.
        (_labels(AlertKind.VERIFIED_ALARM, "site-1", "v:1"), at(60), True),
        # ... a minute before it (the alarm is often first): muted.
        (_labels(AlertKind.VERIFIED_ALARM, "site-1", "v:1"), at(-60), True),
        # ... long before it (inhibit_before is 2 min): a different event, sent.
        (_labels(AlertKind.VERIFIED_ALARM, "site-1", "v:1"), at(-600), False),
        # ... long after it (inhibit_after is 30 min): sent.
        (_labels(AlertKind.VERIFIED_ALARM, "site-1", "v:1"), at(3600), False),
        # Another site: sent.
        (_labels(AlertKind.VERIFIED_ALARM, "site-2", "v:1"), at(60), False),
        # An alarm without a site is not "the same site" as anything: sent.
        (_labels(AlertKind.VERIFIED_ALARM, None, "v:1"), at(60), False),
        # Only alarm-type alerts are inhibited: a robbery report of the site is sent.
        (_labels(AlertKind.ROBBERY_REPORTED, "site-1", "r:1"), at(60), False),
        # A hold-up does not inhibit itself.
        (HOLD_UP_SITE_1.labels, at(0), False),
    ],
)
def test_inhibition(target: dict[str, str], created: datetime, inhibited: bool) -> None:
    found = inhibitor_of(target, created, [HOLD_UP_SITE_1], THRESHOLDS)
    assert (found is HOLD_UP_SITE_1) is inhibited


def test_a_site_less_hold_up_inhibits_nothing() -> None:
    source = Inhibitor("h", _labels(AlertKind.HOLD_UP_IN_PROGRESS, None, "h"), at(0))
    target = _labels(AlertKind.VERIFIED_ALARM, None, "v")
    assert inhibitor_of(target, at(1), [source], THRESHOLDS) is None


# --- silences ---------------------------------------------------------------------------

RECON_AMS = alert_labels(
    factories.alert(
        kind=AlertKind.RECONNAISSANCE_WARNING,
        branch_types_at_risk=[BranchType.JEWELLER, BranchType.TELECOM_SHOP],
        site_id="site-9",
    )
) | {"organisation_id": "ah", "channel": "webhook"}


@pytest.mark.parametrize(
    ("matcher", "matches"),
    [
        # Equal value.
        (Matcher(name="kind", value="reconnaissance_warning"), True),
        # Another value.
        (Matcher(name="kind", value="series"), False),
        # Inequality.
        (Matcher(name="police_unit", value="rotterdam", op="!="), True),
        # A regex over the whole value.
        (Matcher(name="branch_types", value=".*jeweller.*", op="=~"), True),
        # A regex matching only part of the value does not match.
        (Matcher(name="branch_types", value="jeweller", op="=~"), False),
        # Negated regex.
        (Matcher(name="site_id", value="site-[0-8]", op="!~"), True),
        # A label the alert lacks is the empty string.
        (Matcher(name="series_id", value=""), True),
        # Recipient labels can be matched too.
        (Matcher(name="organisation_id", value="ah"), True),
    ],
)
def test_matcher(matcher: Matcher, matches: bool) -> None:
    assert matcher.matches(RECON_AMS) is matches


def _silence(*matchers: Matcher, starts: float = 0, ends: float = 3600) -> Silence:
    return Silence(
        silence_id=uuid.uuid4(), matchers=matchers, starts_at=at(starts), ends_at=at(ends),
        author="coordinator-ams", reason="test", created_at=at(starts),
    )  # fmt: skip


KIND_RECON = Matcher(name="kind", value="reconnaissance_warning")


@pytest.mark.parametrize(
    ("silence", "now", "mutes"),
    [
        # Active and matching.
        (_silence(KIND_RECON), at(10), True),
        # Every matcher must match.
        (_silence(KIND_RECON, Matcher(name="police_unit", value="rotterdam")), at(10), False),
        # Not yet started.
        (_silence(KIND_RECON, starts=60), at(10), False),
        # Ended (the end is exclusive).
        (_silence(KIND_RECON, ends=10), at(10), False),
    ],
)
def test_silence(silence: Silence, now: datetime, mutes: bool) -> None:
    assert (silenced_by(RECON_AMS, [silence], now) is silence) is mutes


@pytest.mark.parametrize(
    "matchers",
    [
        # Would match every alert.
        (Matcher(name="site_id", value=".*", op="=~"),),
        # Matches only alerts without a series, i.e. nearly all.
        (Matcher(name="series_id", value=""),),
    ],
)
def test_a_silence_must_ask_for_something(matchers: tuple[Matcher, ...]) -> None:
    with pytest.raises(ValidationError, match="at least one matcher"):
        _silence(*matchers)


@pytest.mark.parametrize(
    ("text", "matcher"),
    [
        # Equality.
        ("site_id=site-1", Matcher(name="site_id", value="site-1")),
        # Inequality.
        ("kind!=series", Matcher(name="kind", value="series", op="!=")),
        # A regex may itself contain '='.
        ("dedup_key=~a=b.*", Matcher(name="dedup_key", value="a=b.*", op="=~")),
        # Negated regex.
        ("site_id!~test-.*", Matcher(name="site_id", value="test-.*", op="!~")),
        # An empty value.
        ("series_id=", Matcher(name="series_id", value="")),
    ],
)
def test_matcher_from_text(text: str, matcher: Matcher) -> None:
    assert Matcher.parse(text) == matcher


@pytest.mark.parametrize(
    "text",
    [
        # No operator.
        "site_id",
        # Not a label.
        "plate=AB-123-C",
    ],
)
def test_matcher_text_refused(text: str) -> None:
    with pytest.raises(NotifyAdminError):
        Matcher.parse(text)


def test_a_matcher_regex_must_compile() -> None:
    with pytest.raises(ValidationError, match="not a regular expression"):
        Matcher(name="site_id", value="(", op="=~")


# --- time windows -----------------------------------------------------------------------

SHOP = TimeWindow(weekdays=frozenset({1, 2, 3, 4, 5, 6}), starts=time(8), ends=time(22))
NIGHT = TimeWindow(weekdays=frozenset({5}), starts=time(22), ends=time(6))
RECON_ONLY = TimeWindow(
    weekdays=frozenset({1}), starts=time(8), ends=time(9),
    alert_kinds=frozenset({AlertKind.RECONNAISSANCE_WARNING}),
)  # fmt: skip


def ams(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in Amsterdam in the week of 2 March 2026 (CET, UTC+1); day 2 is Monday."""
    return datetime(2026, 3, day, hour - 1, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "kind", "moment", "opening"),
    [
        # Monday 13:00, the shop is open: now.
        (SHOP, AlertKind.RECONNAISSANCE_WARNING, ams(2, 13), ams(2, 13)),
        # Monday 23:00: at Tuesday's opening.
        (SHOP, AlertKind.RECONNAISSANCE_WARNING, ams(2, 23), ams(3, 8)),
        # Monday 07:59: at 08:00.
        (SHOP, AlertKind.RECONNAISSANCE_WARNING, ams(2, 7, 59), ams(2, 8)),
        # Saturday 22:00 (the end is exclusive): closed Sunday, so Monday 08:00.
        (SHOP, AlertKind.RECONNAISSANCE_WARNING, ams(7, 22), ams(9, 8)),
        # A Friday night window runs into Saturday morning.
        (NIGHT, AlertKind.SERIES, ams(7, 5, 30), ams(7, 5, 30)),
        # ... and is closed on Saturday at 06:00: next Friday 22:00.
        (NIGHT, AlertKind.SERIES, ams(7, 6), ams(13, 22)),
        # A window for reconnaissance warnings does not hold back a hold-up.
        (RECON_ONLY, AlertKind.HOLD_UP_IN_PROGRESS, ams(2, 13), ams(2, 13)),
        # ... but does hold back a warning: next Monday 08:00.
        (RECON_ONLY, AlertKind.RECONNAISSANCE_WARNING, ams(2, 13), ams(9, 8)),
    ],
)
def test_first_opening(
    window: TimeWindow, kind: AlertKind, moment: datetime, opening: datetime
) -> None:
    assert first_opening((window,), kind, moment) == opening


def test_the_earliest_of_several_windows() -> None:
    # Monday 23:00: the Friday night window opens later than the shop on Tuesday.
    assert first_opening((NIGHT, SHOP), AlertKind.SERIES, ams(2, 23)) == ams(3, 8)


def test_no_windows_no_wait() -> None:
    assert first_opening(None, AlertKind.SERIES, ams(2, 23)) == ams(2, 23)


@pytest.mark.parametrize(
    "fields",
    [
        # Empty: starts equals ends.
        {"weekdays": {1}, "starts": "08:00", "ends": "08:00"},
        # No day.
        {"weekdays": [], "starts": "08:00", "ends": "09:00"},
        # Not a weekday.
        {"weekdays": [8], "starts": "08:00", "ends": "09:00"},
        # Unknown zone.
        {"weekdays": [1], "starts": "08:00", "ends": "09:00", "time_zone": "Europe/Atlantis"},
    ],
)
def test_invalid_windows(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TimeWindow.model_validate(fields)
