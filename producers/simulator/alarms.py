"""Alarm traffic from private alarm centres: mostly false presses, a few real hold-ups, tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from producers.simulator.robberies import MARGIN, add_background_robbery
from producers.simulator.timeline import ANY_HOUR, OFFICE_HOURS, SHOP_HOURS, Clock, new_id
from schemas.events import (
    AlarmActivation,
    AlarmSignal,
    AlarmSite,
    IncidentType,
    Verification,
    VerificationMethod,
)

if TYPE_CHECKING:
    import random
    from datetime import datetime

    from producers.simulator.truth import Draft, Robbery
    from producers.simulator.world import SimBranch

logger = logging.getLogger(__name__)

ALARM_CENTRES = ("pac-noordwacht", "pac-deltaveilig", "pac-centrumalarm", "pac-zuidwacht")
BUTTONS = ("counter", "office", "entrance", "pendant")
HOLD_UPS = (IncidentType.OVERVAL, IncidentType.POGING)
PRESS_SIGNALS = (AlarmSignal.HOLD_UP, AlarmSignal.PANIC, AlarmSignal.DURESS)
# During a real hold-up staff reach for the hold-up button; by mistake any button is hit.
TRUE_PRESS_WEIGHTS = (6, 3, 1)
FALSE_PRESS_WEIGHTS = (9, 10, 1)

# Probabilities of what follows a press; true and false presses differ in them, never fully.
VERIFY_TRUE = 0.6  # the centre confirms a real hold-up (camera, audio, callback)
SECOND_PRESS_TRUE = 0.45  # a colleague presses too
RESTORE_TRUE = 0.5  # reset long after, once police have been
VERIFY_FALSE = 0.25  # the centre checks and finds nothing
SECOND_PRESS_FALSE = 0.02  # colleagues both press by mistake: rare, but it happens
REPEAT_PRESS_FALSE = 0.05  # the same person presses twice


@dataclass(frozen=True)
class Subscriber:
    """A branch connected to an alarm centre, with its staff codes and how jumpy it is."""

    where: SimBranch
    site: AlarmSite
    alarm_centre: str
    account: str
    staff: tuple[str, ...]
    false_press_weight: float


def subscribers(rng: random.Random, draft: Draft) -> dict[str, Subscriber]:
    """Branches connected to a centre, by branch id; a chain uses one centre for all."""
    by_branch: dict[str, Subscriber] = {}
    chains = sorted({b.branch.chain for b in draft.world.branches if b.branch.chain})
    centre_of_chain = {chain: rng.choice(ALARM_CENTRES) for chain in chains}
    for number, where in enumerate(draft.world.branches, start=1):
        if rng.random() >= draft.config.alarm_coverage:
            continue
        chain = where.branch.chain
        centre = centre_of_chain[chain] if chain else rng.choice(ALARM_CENTRES)
        site = AlarmSite(
            site_id=f"{centre.removeprefix('pac-')}-{number:06d}",
            location=where.location,
            branch_type=where.branch_type,
            chain=chain,
            address=where.branch.address,
        )
        by_branch[where.branch_id] = Subscriber(
            where=where,
            site=site,
            alarm_centre=centre,
            account=f"acc{number:06d}",
            staff=tuple(f"u{code}" for code in rng.sample(range(100, 1000), rng.randint(2, 9))),
            # A few sites with faulty buttons or untrained staff cause most false presses.
            false_press_weight=rng.lognormvariate(0, 1.0),
        )
    return by_branch


def add_alarms(rng: random.Random, draft: Draft) -> None:
    sites = subscribers(rng, draft)
    if not sites:
        return
    config = draft.config
    days = min(config.days, config.alarm_days or config.days)
    # Alarms only in the last `days`: the same draft, its clock narrowed to them.
    draft = replace(draft, clock=Clock(start=draft.clock.end - timedelta(days=days),
                                       end=draft.clock.end))  # fmt: skip
    presses = round(config.alarm_activations_per_day * days)
    true_count = round(presses * (1 - config.false_alarm_share))
    robbed: set[str] = set()
    for robbery in _robberies_with_alarm(rng, draft, sites, true_count):
        robbed.add(robbery.where.branch_id)
        _true_episode(rng, draft, sites[robbery.where.branch_id], robbery)
    jumpy = list(sites.values())
    if config.one_episode_per_site:
        pressing = _sites_once(rng, [s for s in jumpy if s.where.branch_id not in robbed]
                               or jumpy, presses - true_count)  # fmt: skip
    else:
        weights = [s.false_press_weight for s in jumpy]
        pressing = rng.choices(jumpy, weights=weights, k=presses - true_count)
    for subscriber in pressing:
        _false_episode(rng, draft, subscriber)
    for subscriber in rng.choices(jumpy, k=round(config.test_signals_per_day * days)):
        _test(rng, draft, subscriber)
    logger.debug("alarms", extra={"presses": presses, "true": true_count, "sites": len(sites)})


def _sites_once(rng: random.Random, jumpy: list[Subscriber], count: int) -> list[Subscriber]:
    """`count` sites for false presses, each once while sites last, the jumpy ones likelier.

    Two independent false presses at one site within minutes are rare in a national month (by
    default 120 presses a day over some 1,400 connected sites: one a site every twelve days);
    drawn with repetition in a live minute carrying thousands of times that volume over a few
    hundred sites, they are common, and presses by two colleagues in turn are sequential
    verification (docs/alarm-verification.md), an alert for the police.
    """
    chosen: list[Subscriber] = []
    while len(chosen) < count:
        # Weighted sampling without replacement (Efraimidis and Spirakis): the largest keys.
        ranked = sorted(jumpy, key=lambda s: rng.random() ** (1 / s.false_press_weight),
                        reverse=True)  # fmt: skip
        chosen.extend(ranked[: count - len(chosen)])
    return chosen


def _robberies_with_alarm(
    rng: random.Random, draft: Draft, sites: dict[str, Subscriber], count: int
) -> list[Robbery]:
    """Robberies during which someone pressed; more robberies when the rates ask for more."""
    eligible = [
        r
        for r in draft.robberies
        if r.where.branch_id in sites
        and r.report.incident_type in HOLD_UPS
        and r.report.occurred_at >= draft.clock.start
    ]
    connected = [s.where for s in sites.values()]
    while len(eligible) < count:
        where = rng.choices(connected, weights=[b.risk for b in connected])[0]
        add_background_robbery(rng, draft, where)
        eligible.append(draft.robberies[-1])
    return rng.sample(eligible, count)


def _true_episode(rng: random.Random, draft: Draft, site: Subscriber, robbery: Robbery) -> None:
    pressed_at = robbery.report.occurred_at + timedelta(seconds=rng.uniform(0, 90))
    signal = rng.choices(PRESS_SIGNALS, TRUE_PRESS_WEIGHTS)[0]
    user, button = rng.choice(site.staff), rng.choice(BUTTONS)
    press = _activation(rng, draft, site, signal, pressed_at, user=user, button=button)
    labels: dict[str, object] = {
        "alarm": "true",
        "alarm_episode": press.event_id,
        "robbery_id": robbery.report.event_id,
    }
    draft.add(press, emitted_at=press.received_at, where=site.where, alarm_role="press", **labels)
    if rng.random() < VERIFY_TRUE:
        method = rng.choice((VerificationMethod.CAMERA, VerificationMethod.AUDIO,
                             VerificationMethod.CALLBACK))  # fmt: skip
        _verification(rng, draft, site, press, method, verified=True, labels=labels)
    if rng.random() < SECOND_PRESS_TRUE and len(site.staff) > 1:
        colleague = rng.choice([code for code in site.staff if code != user])
        _follow_up(rng, draft, site, press, signal, rng.uniform(10, 120), user=colleague,
                   button=rng.choice(BUTTONS), role="second_press", labels=labels)  # fmt: skip
    if rng.random() < RESTORE_TRUE:
        _follow_up(rng, draft, site, press, AlarmSignal.RESTORE, rng.uniform(1800, 5400),
                   user=user, button=button, role="restore", labels=labels)  # fmt: skip


def _false_episode(rng: random.Random, draft: Draft, site: Subscriber) -> None:
    pressed_at = draft.clock.draw(rng, SHOP_HOURS, margin=MARGIN)
    signal = rng.choices(PRESS_SIGNALS, FALSE_PRESS_WEIGHTS)[0]
    user, button = rng.choice(site.staff), rng.choice(BUTTONS)
    press = _activation(rng, draft, site, signal, pressed_at, user=user, button=button)
    labels: dict[str, object] = {"alarm": "false", "alarm_episode": press.event_id}
    draft.add(press, emitted_at=press.received_at, where=site.where, alarm_role="press", **labels)
    if rng.random() < REPEAT_PRESS_FALSE:
        _follow_up(rng, draft, site, press, signal, rng.uniform(3, 60), user=user, button=button,
                   role="repeat_press", labels=labels)  # fmt: skip
    if rng.random() < SECOND_PRESS_FALSE and len(site.staff) > 1:
        colleague = rng.choice([code for code in site.staff if code != user])
        _follow_up(rng, draft, site, press, signal, rng.uniform(10, 120), user=colleague,
                   button=rng.choice(BUTTONS), role="second_press", labels=labels)  # fmt: skip
    if rng.random() < VERIFY_FALSE:
        method = rng.choice((VerificationMethod.CAMERA, VerificationMethod.CALLBACK))
        _verification(rng, draft, site, press, method, verified=False, labels=labels)
    if rng.random() < draft.config.restore_share:
        cancel = rng.random() < 0.3
        _follow_up(rng, draft, site, press,
                   AlarmSignal.CANCEL if cancel else AlarmSignal.RESTORE, rng.uniform(60, 600),
                   user=user, button=button, role="cancel" if cancel else "restore",
                   labels=labels)  # fmt: skip


def _test(rng: random.Random, draft: Draft, site: Subscriber) -> None:
    """A staff test during office hours, or the transmitter's automatic link test."""
    if rng.random() < 0.4:
        at = draft.clock.draw(rng, OFFICE_HOURS, margin=MARGIN)
        signal = _activation(rng, draft, site, AlarmSignal.TEST, at, user=rng.choice(site.staff),
                             button=rng.choice(BUTTONS))  # fmt: skip
    else:
        at = draft.clock.draw(rng, ANY_HOUR, margin=MARGIN)
        signal = _activation(rng, draft, site, AlarmSignal.LINK_TEST, at, user=None, button=None)
    draft.add(signal, emitted_at=signal.received_at, where=site.where, alarm="test",
              alarm_episode=signal.event_id, alarm_role="test")  # fmt: skip


def _verification(
    rng: random.Random,
    draft: Draft,
    site: Subscriber,
    press: AlarmActivation,
    method: VerificationMethod,
    *,
    verified: bool,
    labels: dict[str, object],
) -> None:
    """The centre's verdict, forwarded as an update of the press it is about."""
    verdict_at = draft.clock.cap(press.occurred_at + timedelta(seconds=rng.uniform(30, 240)))
    update = AlarmActivation(
        event_id=new_id(rng),
        alarm_centre=site.alarm_centre,
        subscriber_account=site.account,
        site=site.site,
        signal=press.signal,
        button_id=press.button_id,
        user_id=press.user_id,
        occurred_at=press.occurred_at,
        received_at=draft.clock.cap(verdict_at + timedelta(seconds=rng.uniform(1, 10))),
        verification=Verification(method=method, verified=verified, at=verdict_at),
    )
    draft.add(update, emitted_at=update.received_at, where=site.where, alarm_role="verification",
              **labels)  # fmt: skip


def _follow_up(
    rng: random.Random,
    draft: Draft,
    site: Subscriber,
    press: AlarmActivation,
    signal: AlarmSignal,
    after_seconds: float,
    *,
    user: str,
    button: str,
    role: str,
    labels: dict[str, object],
) -> None:
    at = press.occurred_at + timedelta(seconds=after_seconds)
    activation = _activation(rng, draft, site, signal, at, user=user, button=button)
    draft.add(activation, emitted_at=activation.received_at, where=site.where, alarm_role=role,
              **labels)  # fmt: skip


def _activation(
    rng: random.Random,
    draft: Draft,
    site: Subscriber,
    signal: AlarmSignal,
    occurred_at: datetime,
    *,
    user: str | None,
    button: str | None,
) -> AlarmActivation:
    occurred_at = draft.clock.cap(occurred_at)
    return AlarmActivation(
        event_id=new_id(rng),
        alarm_centre=site.alarm_centre,
        subscriber_account=site.account,
        site=site.site,
        signal=signal,
        button_id=button,
        user_id=user,
        occurred_at=occurred_at,
        # Forwarding through the centre takes seconds.
        received_at=draft.clock.cap(occurred_at + timedelta(seconds=rng.uniform(2, 30))),
    )
