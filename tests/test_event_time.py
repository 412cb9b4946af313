"""The one rule on event times ahead of the clock (heterdaad/event_time.py): the edges, the
worker's intake and the sink's refuse the same times with the same words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel, ValidationError

from heterdaad.event_time import (
    ENTERING,
    READ_MARGIN,
    ahead_of_clock,
    event_times,
    in_the_future,
    read_skew,
    too_far_ahead,
)
from producers.edge_policy import admit
from schemas.events import Verification, VerificationMethod
from tests import factories

NOW = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
SKEW = timedelta(minutes=2)
VERDICT = Verification(method=VerificationMethod.CALLBACK, verified=True, at=NOW)
REASON = "lies in the future by more than the allowed clock skew (2 minutes)"


def test_exactly_the_skew_ahead_is_accepted_and_beyond_it_refused() -> None:
    assert not too_far_ahead(NOW + SKEW, now=NOW, skew=SKEW)
    assert too_far_ahead(NOW + SKEW + timedelta(microseconds=1), now=NOW, skew=SKEW)
    assert not too_far_ahead(NOW - timedelta(days=400), now=NOW, skew=SKEW)  # the past: not here


def test_a_model_is_refused_naming_its_first_time_too_far_ahead() -> None:
    at_skew = factories.incident_report(occurred_at=NOW + SKEW)
    beyond = factories.incident_report(occurred_at=NOW + SKEW + timedelta(microseconds=1))
    assert ahead_of_clock(at_skew, now=NOW, skew=SKEW) is None
    assert ahead_of_clock(beyond, now=NOW, skew=SKEW) == f"occurred_at: {REASON}"
    # Every event time counts, not only the first field: an activation received ahead.
    alarm = factories.alarm_activation(occurred_at=NOW, received_at=NOW + timedelta(days=200))
    assert ahead_of_clock(alarm, now=NOW, skew=SKEW) == f"received_at: {REASON}"
    sighting = factories.recon_sighting(observed_at=NOW + timedelta(hours=1))
    assert ahead_of_clock(sighting, now=NOW, skew=SKEW) == f"observed_at: {REASON}"


@pytest.mark.parametrize("seconds", [120, 90, 3600])
def test_the_readers_refuse_in_the_edges_words(seconds: int) -> None:
    skew = timedelta(seconds=seconds)
    report = factories.incident_report(occurred_at=NOW + skew + timedelta(seconds=1))
    with pytest.raises(ValidationError) as refused:
        admit(report, clock_skew=skew, now=NOW)
    [error] = refused.value.errors()
    assert error["ctx"]["error"].args[0] == in_the_future(skew)
    assert ahead_of_clock(report, now=NOW, skew=skew) == f"occurred_at: {in_the_future(skew)}"
    assert admit(factories.incident_report(occurred_at=NOW + skew), clock_skew=skew, now=NOW)


def test_every_event_time_of_every_source_model_is_seen() -> None:
    # The walk skips the models that hold no event time (a branch, a description): it must not
    # skip one that does. Every EventTime field of the three models, each alone too far ahead.
    far = NOW + timedelta(days=200)
    models: list[BaseModel] = [
        factories.alarm_activation(verification=VERDICT),
        factories.incident_report(),
        factories.recon_sighting(),
    ]
    assert {type(model) for model in models} == {spec.value_model for spec in ENTERING}
    expected = [{"occurred_at", "received_at", "verification.at"}, {"occurred_at"},
                {"observed_at"}]  # fmt: skip
    for model, paths in zip(models, expected, strict=True):
        times = dict(event_times(model))
        assert set(times) == paths, model
        for path in times:
            assert not ahead_of_clock(model, now=_due_at(times), skew=SKEW), model
            moved = _with_time(model, path.split("."), far)
            assert ahead_of_clock(moved, now=_due_at(times), skew=SKEW) == f"{path}: {REASON}"


def _due_at(times: dict[str, datetime]) -> datetime:
    """A clock at which every one of the model's own times is due."""
    return max(times.values())


def _with_time(model: BaseModel, path: list[str], moment: datetime) -> BaseModel:
    first, *rest = path
    if not rest:
        return model.model_copy(update={first: moment})
    inner = getattr(model, first)
    return model.model_copy(update={first: _with_time(inner, rest, moment)})


def test_a_reader_takes_what_an_edge_took_by_a_clock_up_to_the_margin_ahead() -> None:
    # The edge's clock READ_MARGIN ahead of the reader's: what the edge took at its skew the
    # reader takes too; a record days ahead it refuses all the same.
    reader_now = NOW - READ_MARGIN
    taken = factories.incident_report(occurred_at=NOW + SKEW)
    assert admit(taken, clock_skew=SKEW, now=NOW)
    assert ahead_of_clock(taken, now=reader_now, skew=read_skew(SKEW)) is None
    far = factories.incident_report(occurred_at=NOW + timedelta(days=1))
    assert ahead_of_clock(far, now=reader_now, skew=read_skew(SKEW)) == (
        "occurred_at: lies in the future by more than the allowed clock skew (12 minutes)"
    )
