"""The warning score of reconnaissance patterns, and the calibration of its threshold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from bench.evaluation.calibrate_recon import BackgroundScores, calibrate, choose, probability_curve
from consumers.alert_text import summary
from heterdaad.thresholds.reconnaissance import ReconThresholds
from heterdaad.thresholds.time import TimeModel
from schemas.alerts import Alert, BranchAlertView, RecipientRole
from schemas.common import BranchType
from schemas.events import GetawayMode, ReconBehaviour, Vehicle
from streams.link_reconnaissance import alert_for
from streams.recon_evidence import false_warnings_per_100, robbery_probability, warning_score
from streams.recon_linkage import ReconLinker
from streams.recon_scoring import TrackedSighting
from tests import factories
from tests.streams.test_link_reconnaissance import (
    DAM,
    OOST,
    SCOUT,
    STRANGER,
    UTRECHT,
    scouting,
    shop,
)

if TYPE_CHECKING:
    from heterdaad.language import Language

B = ReconBehaviour
T = ReconThresholds()
NOW = datetime.now(UTC)


def sighting(number: int = 1, hours_ago: float = 10, **overrides: Any) -> TrackedSighting:
    """A sparse sighting: no persons, no vehicle, unless given."""
    fields: dict[str, Any] = {"persons": [], "vehicle": None, "behaviours": [B.ASKS_ABOUT_CASH]}
    where = overrides.pop("where", DAM)
    return TrackedSighting.of(
        scouting(number, where, hours_ago, **(fields | overrides)), pattern_id=f"rp-{number}"
    )


CAR = Vehicle(kind=GetawayMode.CAR, make="Opel Astra")


@pytest.mark.parametrize(
    ("members", "others", "score"),
    [
        # One strong behaviour, nothing else noted: its weight, and nothing taken off.
        ([sighting()], [], 2.0),
        # A weak behaviour (waiting in a car) weighs less.
        ([sighting(behaviours=[B.WAITS_IN_VEHICLE])], [], 0.5),
        # Three strong behaviours at one visit and a car (make only, no plate, no persons):
        # 3 x 2, +2.5 for several at one visit, +1.
        ([sighting(behaviours=[B.ASKS_ABOUT_CASH, B.FILMS_CAMERAS, B.FILMS_ENTRANCE],
                   vehicle=CAR)], [], 9.5),
        # The same three over two visits: no single visit shows several (6 + 2 repeat).
        ([sighting(hours_ago=34, behaviours=[B.ASKS_ABOUT_CASH, B.FILMS_CAMERAS]),
          sighting(hours_ago=10, behaviours=[B.FILMS_ENTRANCE])], [], 8.0),
        # Two persons together: +0.5 (scouts come in pairs).
        ([sighting(persons=[SCOUT, STRANGER])], [], 2.5),
        # Back at the same shop a day later: a repeat visit (+2).
        ([sighting(hours_ago=34), sighting(hours_ago=10)], [], 4.0),
        # Two shops linked into one pattern: +3 per further branch.
        ([sighting(1), sighting(2, where=OOST)], [], 5.0),
        # An unlinked sighting two days before at another supermarket 2.9 km on, with a
        # behaviour in common: +1.5.
        ([sighting()], [sighting(2, 58, where=OOST)], 3.5),
        # ... but not when it did something else (a stranger), came after, was 35 km away or
        # at another kind of shop.
        ([sighting()], [sighting(2, 58, where=OOST, behaviours=[B.LOITERS_AT_OPENING])], 2.0),
        ([sighting()], [sighting(2, 5, where=OOST)], 2.0),
        ([sighting()], [sighting(2, 58, where=UTRECHT)], 2.0),
        ([sighting()], [TrackedSighting.of(scouting(
            2, OOST, 58, persons=[], vehicle=None, behaviours=[B.ASKS_ABOUT_CASH],
            branch=shop(2, OOST, BranchType.JEWELLER)), pattern_id="rp-2")], 2.0),
    ],
)  # fmt: skip
def test_warning_score(
    members: list[TrackedSighting], others: list[TrackedSighting], score: float
) -> None:
    assert warning_score(members, [*members, *others], T).total == score


def test_missing_evidence_is_not_evidence_against() -> None:
    bare = warning_score([sighting()], [], T)
    described = scouting(1, DAM, 10, behaviours=[B.ASKS_ABOUT_CASH])  # persons and a car
    full = warning_score([TrackedSighting.of(described, pattern_id="rp-1")], [], T)
    assert bare.total == 2.0
    assert full.total >= bare.total
    assert all(reason.contribution >= 0 for reason in full.reasons)


def test_a_single_sparse_sighting_warns_when_its_score_reaches_the_threshold() -> None:
    linker = ReconLinker(T)
    three = [B.ASKS_ABOUT_CASH, B.FILMS_CAMERAS, B.FILMS_ENTRANCE]
    strong = scouting(1, DAM, 10, persons=[], vehicle=CAR, behaviours=three)
    weak = scouting(5, UTRECHT, 9, persons=[], vehicle=None, behaviours=[B.LOITERS_AT_CLOSING])
    (warning,) = linker.observe(strong).decisions
    assert warning.score.total >= T.warn_score  # type: ignore[union-attr]
    assert linker.observe(weak).decisions == ()


def test_one_strong_behaviour_warns_with_neighbours_doing_the_same() -> None:
    linker = ReconLinker(T)
    for number, hours in ((2, 60), (3, 40)):
        where = OOST if number == 2 else DAM
        assert not linker.observe(scouting(number, where, hours, persons=[], vehicle=None,
                                           behaviours=[B.ASKS_ABOUT_CASH])).decisions  # fmt: skip
    # One behaviour, a car, two shops of the kind nearby with the same question: 2 + 1 + 3.
    last = scouting(1, DAM, 10, persons=[], vehicle=CAR, behaviours=[B.ASKS_ABOUT_CASH])
    decisions = linker.observe(last).decisions
    assert [d.dedup_key for d in decisions] == [f"recon:rp-{last.event_id.hex[:16]}:1+2"]


@pytest.mark.parametrize(
    ("score", "rate"),
    [(0.0, 100.0), (1.0, 50.0), (2.5, 50.0), (3.0, 1.0), (9.0, 1.0)],
)
def test_false_warnings_per_100_reads_the_curve_as_steps(score: float, rate: float) -> None:
    assert false_warnings_per_100(score, ((1.0, 50.0), (3.0, 1.0))) == rate


def test_choose_takes_the_lowest_level_within_the_target() -> None:
    # 200 background sightings: 2 per 100 allows 4 false warnings; one is forced (linked).
    scores = BackgroundScores(200, forced=1, scores=[1.0] * 50 + [4.0] * 5 + [5.0, 6.0, 7.0])
    calibration = choose(scores, 2.0)
    assert calibration.warn_score == 5.0  # 1 + 3 at 5 or more; at 4, 1 + 8
    assert calibration.achieved_per_100 == 2.0
    assert dict(calibration.curve)[4.0] == 4.5


def test_probability_is_the_share_of_planted_patterns_at_or_above_each_level() -> None:
    # 4 planted patterns (one warned whatever it scored, one never scored), 1 forced and
    # 5 scored background patterns.
    scores = BackgroundScores(
        100, forced=1, scores=[1.0, 1.0, 4.0, 6.0, 8.0],
        planted=[float("inf"), 7.0, 4.0, float("-inf")],
    )  # fmt: skip
    curve = dict(probability_curve(scores, [1.0, 4.0, 6.0, 8.0]))
    assert curve[1.0] == round(3 / (3 + 1 + 5), 3)  # every scored pattern counts
    assert curve[4.0] == round(3 / (3 + 1 + 3), 3)
    assert curve[6.0] == round(2 / (2 + 1 + 2), 3)
    assert curve[8.0] == round(1 / (1 + 1 + 1), 3)  # the forced background one still counts


@pytest.mark.parametrize(
    ("score", "probability"),
    [(0.5, None), (1.0, 0.1), (5.9, 0.1), (6.0, 0.6), (20.0, 0.6)],
)
def test_robbery_probability_reads_the_curve_as_steps(
    score: float, probability: float | None
) -> None:
    assert robbery_probability(score, ((1.0, 0.1), (6.0, 0.6))) == probability


def test_calibration_is_reproducible_and_holds_on_its_seeds() -> None:
    once = calibrate(seeds=(2001, 2002), days=20, per_day=10, jobs=1)
    again = calibrate(seeds=(2001, 2002), days=20, per_day=10, jobs=1)
    assert once == again
    assert once.achieved_per_100 <= 2.0
    assert once.background_sightings == 400
    # Scouted robberies were scored too, and scoring higher makes a robbery no less likely.
    assert once.planted > 0 and once.probability
    shares = [share for _, share in once.probability]
    assert shares[-1] >= shares[0]
    with pytest.raises(AssertionError):
        calibrate(seeds=(1001,), days=1, jobs=1)


def test_the_default_threshold_is_the_calibrated_one() -> None:
    """The value in heterdaad/thresholds/reconnaissance.py is what the command writes."""
    from heterdaad.thresholds import reconnaissance

    assert T.warn_score == reconnaissance.WARN_SCORE
    assert false_warnings_per_100(T.warn_score, T.false_rate_curve) <= T.false_rate_target_per_100



# --- what the warning says it rests on ---------------------------------------------------------


def _single_warning_alert() -> Alert:
    linker = ReconLinker(T)
    three = [B.ASKS_ABOUT_CASH, B.FILMS_CAMERAS, B.FILMS_ENTRANCE]
    (warning,) = linker.observe(
        scouting(1, DAM, 10, persons=[], vehicle=CAR, behaviours=three)
    ).decisions
    return alert_for(warning, T, TimeModel(), NOW)


def test_a_warning_states_its_grounds_score_and_false_rate() -> None:
    alert = _single_warning_alert()
    grounds = alert.grounds
    assert grounds is not None
    assert (grounds.score, grounds.threshold, grounds.vehicle) == (9.5, T.warn_score, True)
    assert set(grounds.behaviours) == {B.ASKS_ABOUT_CASH, B.FILMS_CAMERAS, B.FILMS_ENTRANCE}
    assert grounds.false_warnings_per_100 == false_warnings_per_100(9.5, T.false_rate_curve)
    assert grounds.false_warnings_per_100 <= T.false_rate_target_per_100
    # The basis: the rule, the probability that a robbery follows at this score, the rate.
    assert alert.basis is not None
    assert alert.basis.model_version == "recon-evidence/2"
    assert alert.basis.probability == robbery_probability(9.5, T.probability_curve)
    assert alert.basis.probability is not None
    assert alert.basis.calibrated_to == (
        f"at most {T.false_rate_target_per_100:g} false warnings per 100 background sightings"
    )
    # Branches see the grounds too: they hold no personal data.
    view = alert.view_for(RecipientRole.BRANCH, reference_key=factories.REFERENCE_KEY)
    assert isinstance(view, BranchAlertView)
    assert view.grounds == grounds


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nl", "grond: vraagt naar geld, filmt de camera's, filmt de ingang, voertuig gezien; "
               "score 9,5 (drempel "),
        ("en", "rests on: asks about cash, films the cameras, films the entrance, vehicle noted;"
               " score 9.5 (threshold "),
    ],
)  # fmt: skip
def test_the_warning_text_says_what_it_rests_on(language: Language, expected: str) -> None:
    text = summary(_single_warning_alert(), language, NOW)
    assert expected in text
    assert ("valse per 100 meldingen" if language == "nl" else "false per 100 sightings") in text
    # Said once: the grounds, then the rule and the chance of a robbery in the same part (the
    # line read "grond: ...; score ... · grond: model recon-evidence/2, kans 34%").
    rests_on = "grond:" if language == "nl" else "rests on:"
    assert text.count(rests_on) == 1
    (part,) = [part for part in text.split(" · ") if part.startswith(rests_on)]
    chance = "kans op een overval" if language == "nl" else "chance of a robbery"
    assert f"); model recon-evidence/2, {chance} " in part
