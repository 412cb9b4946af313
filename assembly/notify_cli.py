"""`heterdaad notify ...`: the notification service, subscriptions and silences."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from assembly.org_cli import run_on_database
from heterdaad.cli_support import stop_on_signals, validated_settings
from schemas.alerts import AlertKind, Severity
from schemas.common import BranchType, PoliceUnit

if TYPE_CHECKING:
    import asyncpg

    from consumers.notify.change import ChangedSubscription
    from consumers.notify.subscriptions import CreatedSubscription

notify_app = typer.Typer(
    help="Alert notification: the service, subscriptions, silences.", no_args_is_help=True
)


# A subscription's fields by the option that gives them, where the two names differ.
_OPTIONS = {
    "alert_kinds": "kind", "branch_types": "branch-type", "chains": "chain",
    "police_units": "police-unit", "send_alerts": "alerts", "send_escalations": "escalations",
    "include_historical": "historical",
}  # fmt: skip

ModelT = TypeVar("ModelT", bound=BaseModel)


def _options_checked(model: type[ModelT], fields: dict[str, Any]) -> ModelT:
    """`model` of the options' values; a value it refuses is a usage error naming its option,
    every one at once (exit 2, as typer's own), not a traceback."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            field = str(problem["loc"][0]) if problem["loc"] else ""
            option = f"--{_OPTIONS.get(field, field.replace('_', '-'))}" if field else "options"
            reason = str(problem["msg"]).removeprefix("Value error, ")
            typer.echo(f"heterdaad: {option}: {reason}", err=True)
        raise typer.Exit(2) from None


def _refusal() -> type[Exception]:
    from consumers.notify.admin import NotifyAdminError

    return NotifyAdminError


@notify_app.command("run")
def run() -> None:
    """Deliver alerts to police desks and subscribers' webhooks (grouped, muted, retried)."""
    from assembly.startup import service_settings
    from consumers.notify.service import NotifyService
    from heterdaad.health import serve_consumer
    from schemas.topics import ALERTS

    # The plate key keys the dedup keys subscribers see (schemas.alerts.alert_reference): every
    # instance must hold the one its id named, or one alert would reach a receiver under two.
    settings = service_settings(plates=True)

    async def serve() -> None:
        stop = stop_on_signals()
        async with NotifyService(settings, settings.notify) as service:
            serve_consumer(settings, service.group_id, [ALERTS.name(settings.topic_prefix)],
                           settings.metrics.notify_port)  # fmt: skip
            await service.run(stop)

    asyncio.run(serve())


@notify_app.command("subscribe")
def subscribe(
    organisation_id: str,
    kind: Annotated[list[AlertKind] | None, typer.Option(help="Alert kinds; none: all.")] = None,
    branch_type: Annotated[list[BranchType] | None, typer.Option()] = None,
    chain: Annotated[list[str] | None, typer.Option()] = None,
    police_unit: Annotated[list[PoliceUnit] | None, typer.Option()] = None,
    radius_m: Annotated[
        float | None, typer.Option(help="Around the organisation's branches.")
    ] = None,
    area_center: Annotated[
        str | None,
        typer.Option(help="Neighbourhood watch: 'LAT,LON' of its area; --radius-m is the radius."),
    ] = None,
    min_severity: Annotated[Severity, typer.Option()] = Severity.INFO,
    webhook_url: Annotated[str | None, typer.Option()] = None,
    language: Annotated[
        str | None, typer.Option(help="nl or en; default: the deployment's HETERDAAD_LANGUAGE.")
    ] = None,
    alerts: Annotated[
        bool, typer.Option("--alerts/--no-alerts", help="Send the alerts themselves.")
    ] = True,
    escalations: Annotated[
        bool,
        typer.Option(
            "--escalations/--no-escalations",
            help="Police webhooks: also send escalations of hold-ups nobody acknowledged.",
        ),
    ] = False,
    historical: Annotated[
        bool,
        typer.Option(
            "--historical/--no-historical",
            help="Webhooks: also send historical alerts (events past their live horizon).",
        ),
    ] = False,
    actor: Annotated[str, typer.Option(help="Who asks, for the audit log.")] = "cli",
) -> None:
    """Subscribe an organisation to alerts; a generated webhook secret is printed once.

    Refused: a webhook inside this machine or a private network (unless
    notify.allow_private_webhooks, for a local relay), and more subscriptions than
    notify.subscriptions_per_organisation.
    """
    from consumers.notify.admin import NotifyAdminError
    from consumers.notify.admission import webhook_refusal
    from consumers.notify.subscriptions import SubscriptionSpec, create_subscription

    settings = validated_settings()
    spec = _options_checked(
        SubscriptionSpec,
        {
            "alert_kinds": kind or [], "branch_types": branch_type or [], "chains": chain or [],
            "police_units": police_unit or [], "radius_m": radius_m,
            "min_severity": min_severity, "webhook_url": webhook_url,
            "language": language or settings.language,
            "send_alerts": alerts, "send_escalations": escalations,
            "include_historical": historical, "area_center": _point(area_center),
        }
    )  # fmt: skip
    thresholds = settings.notify

    async def store(db: asyncpg.Connection) -> CreatedSubscription:
        if not thresholds.allow_private_webhooks:
            reason = await webhook_refusal(spec)
            if reason is not None:
                raise NotifyAdminError(f"webhook_url must be a public address: {reason}")
        return await create_subscription(
            db, organisation_id, spec, actor=actor, most=thresholds.subscriptions_per_organisation,
            watch_max_radius_m=thresholds.watch_max_radius_m,
            retail_max_radius_m=thresholds.retail_max_radius_m,
        )

    created = run_on_database(store, _refusal())
    typer.echo(f"subscription {created.subscription_id} created")
    if created.webhook_secret:
        typer.echo(f"webhook secret (shown once): {created.webhook_secret}")


def _point(text: str | None) -> dict[str, str] | None:
    """'52.37,4.89' as the fields of a Location (the spec checks the numbers)."""
    if text is None:
        return None
    lat, comma, lon = text.partition(",")
    if not comma:
        raise typer.BadParameter(f"{text!r} is not 'LAT,LON'", param_hint="--area-center")
    return {"lat": lat.strip(), "lon": lon.strip()}


@notify_app.command("change")
def change(
    subscription_id: int,
    kind: Annotated[list[AlertKind] | None, typer.Option(help="Alert kinds instead.")] = None,
    branch_type: Annotated[list[BranchType] | None, typer.Option()] = None,
    chain: Annotated[list[str] | None, typer.Option()] = None,
    police_unit: Annotated[list[PoliceUnit] | None, typer.Option()] = None,
    radius_m: Annotated[float | None, typer.Option()] = None,
    min_severity: Annotated[Severity | None, typer.Option()] = None,
    webhook_url: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str | None, typer.Option(help="nl or en.")] = None,
    alerts: Annotated[bool | None, typer.Option("--alerts/--no-alerts")] = None,
    escalations: Annotated[bool | None, typer.Option("--escalations/--no-escalations")] = None,
    historical: Annotated[bool | None, typer.Option("--historical/--no-historical")] = None,
    rotate_secret: Annotated[
        bool, typer.Option(help="A new secret for this webhook (all its subscriptions).")
    ] = False,
    actor: Annotated[str, typer.Option(help="Who asks, for the audit log.")] = "cli",
) -> None:
    """Change a subscription in place (its id, history and queue stay); only the options given
    change. A rotated secret is printed once. Refused as `subscribe` refuses, every reason at
    once."""
    from consumers.notify.admission import webhook_refusal
    from consumers.notify.change import SubscriptionChange, change_subscription
    from consumers.notify.subscriptions import SubscriptionSpec

    settings = validated_settings()
    given = {
        "alert_kinds": kind, "branch_types": branch_type, "chains": chain,
        "police_units": police_unit, "radius_m": radius_m, "min_severity": min_severity,
        "webhook_url": webhook_url, "language": language, "send_alerts": alerts,
        "send_escalations": escalations, "include_historical": historical,
    }  # fmt: skip
    body = _options_checked(
        SubscriptionChange,
        {name: value for name, value in given.items() if value is not None}
        | ({"rotate_secret": True} if rotate_secret else {}),
    )
    thresholds = settings.notify

    async def store(db: asyncpg.Connection) -> ChangedSubscription | None:
        refused = None
        if body.webhook_url is not None and not thresholds.allow_private_webhooks:
            reason = await webhook_refusal(SubscriptionSpec(webhook_url=body.webhook_url))
            refused = None if reason is None else f"must be a public address: {reason}"
        return await change_subscription(
            db, subscription_id, body, actor=actor, refused_webhook=refused,
            watch_max_radius_m=thresholds.watch_max_radius_m,
            retail_max_radius_m=thresholds.retail_max_radius_m,
        )  # fmt: skip

    changed = run_on_database(store, _refusal())
    if changed is None:
        typer.echo(f"heterdaad: no subscription {subscription_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"subscription {subscription_id} changed")
    if changed.webhook_secret:
        typer.echo(f"webhook secret (shown once): {changed.webhook_secret}")


@notify_app.command("unsubscribe")
def unsubscribe(subscription_id: int, actor: Annotated[str, typer.Option()] = "cli") -> None:
    """Delete a subscription."""
    from consumers.notify.subscriptions import delete_subscription

    if not run_on_database(
        lambda db: delete_subscription(db, subscription_id, actor=actor), _refusal()
    ):
        typer.echo(f"heterdaad: no subscription {subscription_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"subscription {subscription_id} deleted")


@notify_app.command("silence")
def silence(
    matchers: Annotated[list[str], typer.Argument(help="name=value, name!=value, name=~regex")],
    author: Annotated[str, typer.Option()],
    reason: Annotated[str, typer.Option()],
    hours: Annotated[float, typer.Option(help="How long it lasts.")] = 2.0,
) -> None:
    """Mute alerts that match every matcher, for a while; audited."""
    from consumers.notify.silences import Matcher, create_silence

    parsed = [Matcher.parse(text) for text in matchers]
    created = run_on_database(
        lambda db: create_silence(
            db, parsed, author=author, reason=reason,
            ends_at=datetime.now(UTC) + timedelta(hours=hours),
        ),
        _refusal(),
    )  # fmt: skip
    typer.echo(f"silence {created.silence_id} until {created.ends_at:%Y-%m-%d %H:%M %Z}")


@notify_app.command("expire")
def expire(silence_id: uuid.UUID, author: Annotated[str, typer.Option()]) -> None:
    """End a silence now (its record stays)."""
    from consumers.notify.silences import expire_silence

    if not run_on_database(lambda db: expire_silence(db, silence_id, author=author), _refusal()):
        typer.echo(f"heterdaad: no active silence {silence_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"silence {silence_id} expired")
