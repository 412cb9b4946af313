"""`/v1/subscriptions`: an organisation lists, creates, reads, changes and deletes its own
subscriptions.

Decisions:
- the organisation is the key's, never one named in the request: nobody subscribes another;
- organisations that receive alerts (alarm centres, retailers, trade associations, police) may
  subscribe; admin organisations receive nothing (docs/notify.md) and are refused;
- the key needs the scope `subscriptions:write`, which no key gets by default: it decides where
  alerts go, so it is issued on purpose (`heterdaad org issue-key ORG --scope
  subscriptions:write`), apart from the keys that post events or sit in the sighting form;
- another organisation's subscription answers 404, like one that does not exist, so ids say
  nothing about others;
- validation and audit are those of `consumers.notify.subscriptions`, as for the CLI; the
  audit actor is `api:<organisation>:<key id>`;
- one rule more than the CLI: a webhook named by an address of this machine or a private
  network, or by a name resolving to one, is refused whatever `notify.allow_private_webhooks`
  says. The operator may point the CLI at a local relay; an organisation must not make the
  notify service post into the network it runs in (the sender checks again when it connects);
- a change (PATCH) keeps the subscription's id, its deliveries and its webhook's queue, and is
  checked as a new one is, every reason in one 422 (`consumers.notify.change`);
- one webhook of an organisation has one secret (its alerts go in one request, signed once): a
  new subscription of a webhook the organisation has already shares its secret, and another
  secret given for it is refused naming webhook_secret;
- an organisation has at most `notify.subscriptions_per_organisation` subscriptions; one
  more is refused with 409 naming the cap.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from consumers.notify.admin import NotifyAdminError
from consumers.notify.admission import webhook_refusal
from consumers.notify.change import SubscriptionChange, SubscriptionRefusals, change_subscription
from consumers.notify.subscriptions import (
    FieldRefusal,
    StoredSubscription,
    SubscriptionCapError,
    SubscriptionSpec,
    create_subscription,
    delete_subscription,
    list_subscriptions,
)
from heterdaad.auth import SUBSCRIBER_ROLES, SUBSCRIPTIONS_WRITE, Caller, require_scope
from heterdaad.problems import FieldProblem, Problem, ValidationProblem

logger = logging.getLogger(__name__)

# subscription_id is a PostgreSQL bigint: a larger number is no id of ours (404 would mislead).
SubscriptionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class Subscription(BaseModel):
    """A stored subscription of the caller's organisation."""

    subscription_id: int
    created_at: datetime
    signed: bool = Field(description="Whether deliveries carry an HMAC signature.")
    spec: SubscriptionSpec = Field(description="What was asked for; the secret is never shown.")

    @classmethod
    def of(cls, stored: StoredSubscription, **extra: Any) -> Self:
        return cls(
            subscription_id=stored.subscription_id,
            created_at=stored.created_at,
            signed=stored.has_secret,
            spec=stored.spec,
            **extra,
        )


class NewSubscription(Subscription):
    webhook_secret: str | None = Field(
        description="The generated HMAC key of the signatures, shown this once; null when you "
        "gave one, there is no webhook, or another of your subscriptions has this webhook "
        "already (one webhook, one secret: it shares that one)."
    )


class ChangedSubscription(Subscription):
    webhook_secret: str | None = Field(
        description="The new HMAC key when rotate_secret asked for one (or the webhook had "
        "none), shown this once; null otherwise."
    )


_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No key, or a key that is unknown, revoked or expired."},
    403: {"model": Problem, "description": "The role receives no alerts, or the key lacks the "
          f"scope {SUBSCRIPTIONS_WRITE}."},
}  # fmt: skip
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No subscription of the caller's with this id."}
}


# A caller whose organisation may subscribe, with a key that may.
Subscriber = Annotated[Caller, Depends(require_scope(
    SUBSCRIPTIONS_WRITE, SUBSCRIBER_ROLES,
    "an organisation with role {role} receives no alerts: no subscriptions",
))]  # fmt: skip


async def _internal_webhook(spec: SubscriptionSpec) -> FieldProblem | None:
    """Why the webhook points inside (loopback, private, link-local, ...), or None."""
    reason = await webhook_refusal(spec)
    if reason is None:
        return None
    return FieldProblem(field="webhook_url", reason=f"must be a public address: {reason}")


def _field_refusal(problem: FieldProblem) -> JSONResponse:
    return JSONResponse({"detail": [problem.model_dump()]}, status_code=422)


def _actor(caller: Caller) -> str:
    return f"api:{caller.organisation_id}:{caller.key_id}"


def _not_found(subscription_id: int) -> HTTPException:
    return HTTPException(404, f"no subscription {subscription_id} of your organisation")


def subscription_router(
    most_per_organisation: int, watch_max_radius_m: float, retail_max_radius_m: float
) -> APIRouter:
    router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"], responses=_REFUSALS)

    @router.get("", summary="The caller's subscriptions, oldest first")
    async def list_own(request: Request, caller: Subscriber) -> list[Subscription]:
        stored = await list_subscriptions(request.app.state.intake.pool, caller.organisation_id)
        return [Subscription.of(subscription) for subscription in stored]

    @router.post(
        "",
        status_code=201,
        response_model=NewSubscription,
        summary="Subscribe the caller's organisation to alerts",
        description="Audited. A generated webhook secret is in the answer this once. Every "
        "empty list means 'any'; see docs/notify.md for what each field does. A retailer, "
        "trade association or alarm centre hears only of alerts near the branches it answers "
        "for: radius_m at most notify.retail_max_radius_m (25 km by default; more is 422 "
        "naming radius_m), and without radius_m the subscription has that radius (the "
        "answer's spec.radius_m says so).",
        responses={
            201: {"description": "Stored; Location names it."},
            409: {"model": ValidationProblem, "description": "The organisation already holds "
                  "the most subscriptions allowed (notify.subscriptions_per_organisation)."},
            422: {"model": ValidationProblem, "description": "Each offending field and why."},
        },
    )
    async def create(
        request: Request, response: Response, caller: Subscriber, spec: SubscriptionSpec
    ) -> NewSubscription | JSONResponse:
        pool = request.app.state.intake.pool
        internal = await _internal_webhook(spec)
        if internal is not None:
            return _field_refusal(internal)
        try:
            created = await create_subscription(
                pool, caller.organisation_id, spec, actor=_actor(caller),
                most=most_per_organisation, watch_max_radius_m=watch_max_radius_m,
                retail_max_radius_m=retail_max_radius_m,
            )  # fmt: skip
        except SubscriptionCapError as refusal:
            # Not the body's fault: a conflict with what the organisation already holds.
            return JSONResponse({"detail": [FieldProblem(
                field="(organisation)", reason=str(refusal)).model_dump()]}, status_code=409)
        except FieldRefusal as refusal:
            # One field the caller's role does not allow (radius_m beyond need to know).
            return _field_refusal(FieldProblem(field=refusal.field, reason=str(refusal)))
        except NotifyAdminError as refusal:
            # What the spec allows but the caller's role does not (escalations, no webhook).
            return _field_refusal(FieldProblem(field="(body)", reason=str(refusal)))
        [stored] = await list_subscriptions(
            pool, caller.organisation_id, subscription_id=created.subscription_id
        )
        response.headers["Location"] = f"{router.prefix}/{created.subscription_id}"
        return NewSubscription.of(stored, webhook_secret=created.webhook_secret)

    @router.get("/{subscription_id}", summary="One of the caller's subscriptions",
                responses=_NOT_FOUND)  # fmt: skip
    async def read(
        request: Request, caller: Subscriber, subscription_id: SubscriptionId
    ) -> Subscription:
        found = await list_subscriptions(
            request.app.state.intake.pool, caller.organisation_id, subscription_id=subscription_id
        )
        if not found:
            raise _not_found(subscription_id)
        return Subscription.of(found[0])

    @router.patch(
        "/{subscription_id}",
        response_model=ChangedSubscription,
        summary="Change one of the caller's subscriptions",
        description="Audited. Only the fields given change; the id, the delivery history and "
        "what is queued for the webhook stay. Checked as a new subscription is; every reason "
        "in one 422. rotate_secret: a new HMAC key for this webhook (all your subscriptions "
        "with this webhook_url), in the answer this once; the old one stops at once.",
        responses=_NOT_FOUND | {
            422: {"model": ValidationProblem, "description": "Each offending field and why."},
        },
    )  # fmt: skip
    async def change(
        request: Request, caller: Subscriber, subscription_id: SubscriptionId,
        body: SubscriptionChange,
    ) -> ChangedSubscription | JSONResponse:  # fmt: skip
        pool = request.app.state.intake.pool
        internal = None
        if body.webhook_url is not None:
            internal = await _internal_webhook(SubscriptionSpec(webhook_url=body.webhook_url))
        try:
            changed = await change_subscription(
                pool, subscription_id, body, actor=_actor(caller),
                organisation_id=caller.organisation_id,
                refused_webhook=None if internal is None else internal.reason,
                watch_max_radius_m=watch_max_radius_m, retail_max_radius_m=retail_max_radius_m,
            )  # fmt: skip
        except SubscriptionRefusals as refused:
            problems = [FieldProblem(field=r.field, reason=str(r)) for r in refused.refusals]
            return JSONResponse(
                {"detail": [problem.model_dump() for problem in problems]}, status_code=422
            )
        except NotifyAdminError as refusal:  # the organisation itself (disabled)
            return _field_refusal(FieldProblem(field="(organisation)", reason=str(refusal)))
        if changed is None:
            raise _not_found(subscription_id)
        [stored] = await list_subscriptions(
            pool, caller.organisation_id, subscription_id=subscription_id
        )
        return ChangedSubscription.of(stored, webhook_secret=changed.webhook_secret)

    @router.delete(
        "/{subscription_id}",
        status_code=204,
        summary="Delete one of the caller's subscriptions",
        description="Audited. Notifications still waiting for its webhook are given up.",
        responses=_NOT_FOUND,
    )
    async def delete(request: Request, caller: Subscriber, subscription_id: SubscriptionId) -> None:
        deleted = await delete_subscription(
            request.app.state.intake.pool, subscription_id,
            actor=_actor(caller), organisation_id=caller.organisation_id,
        )  # fmt: skip
        if not deleted:
            raise _not_found(subscription_id)

    return router
