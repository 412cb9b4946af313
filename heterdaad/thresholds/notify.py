"""Thresholds of alert notification a working group would tune: grouping, muting, retries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GroupLabel = Literal["kind", "severity", "police_unit", "site_id", "series_id", "hotspot_id"]


class NotifyThresholds(BaseModel):
    """Nested in Settings as `notify` (HETERDAAD_NOTIFY__<FIELD> variables)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Grouping (docs/notify.md, "Grouping").
    group_by: tuple[GroupLabel, ...] = Field(
        ("kind", "police_unit", "site_id", "series_id", "hotspot_id"),
        description="Labels whose values make up a group: alerts with equal values are sent "
        "to a recipient together.",
    )
    group_wait_seconds: float = Field(
        2.0,
        ge=0,
        le=600,
        description="How long the first alert of a new group waits, so that related alerts, "
        "an inhibiting hold-up at the same site and fresh silences catch up. Short, because "
        "catching offenders in the act is measured in minutes.",
    )
    group_interval_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="After a group was notified, how long its later alerts wait for the next "
        "notification of that group (webhooks; the police desk gets each alert at once).",
    )
    repeat_interval_seconds: float = Field(
        3600.0,
        gt=0,
        le=7 * 24 * 3600,
        description="How long a group is remembered after its last alert. Each alert is sent "
        "once and never repeated; after this much quiet a new alert opens a new group and "
        "waits group_wait again instead of group_interval.",
    )

    # Muting.
    inhibit_before_seconds: float = Field(
        120.0,
        ge=0,
        le=3600,
        description="An inhibiting alert (hold-up in progress) mutes targets of the same site "
        "raised up to this long before it...",
    )
    inhibit_after_seconds: float = Field(
        1800.0, ge=0, le=24 * 3600, description="...and up to this long after it."
    )
    window_max_defer_seconds: float = Field(
        12 * 3600.0,
        ge=0,
        le=7 * 24 * 3600,
        description="An alert that arrives outside a subscription's time window waits for the "
        "window to open, unless that is more than this long after the alert: then it is muted.",
    )

    # Delivery.
    webhook_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=120,
        description="How long one webhook request may take in all, from connecting to the "
        "last byte read of the answer: a receiver that trickles its answer is cut off.",
    )
    webhook_max_response_kib: int = Field(
        16,
        ge=1,
        le=1024,
        description="Most of a receiver's answer that is read (KiB); the rest is never read, "
        "so a huge answer cannot grow the service.",
    )
    receiver_concurrency: int = Field(
        2,
        ge=1,
        le=100,
        description="Webhook requests in flight to one receiver at once: a slow receiver "
        "holds at most this many of send_concurrency, never the others' deliveries.",
    )
    busy_retry_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="When a receiver (or the service) already has all its requests in "
        "flight, its next notification is taken up again this much later; no attempt counted.",
    )
    allow_private_webhooks: bool = Field(
        False,
        description="Let webhooks reach loopback and private addresses (a local relay, the "
        "tests). Off: a webhook whose name resolves to such an address is refused when it "
        "is stored and again when it is sent to.",
    )
    retry_base_seconds: float = Field(
        1.0, gt=0, le=600, description="Wait before the second attempt; doubles per attempt."
    )
    retry_max_seconds: float = Field(
        60.0, gt=0, le=3600, description="Longest wait between two attempts."
    )
    max_attempts: int = Field(
        6, ge=1, le=100, description="Attempts before a notification is given up as dead."
    )
    receiver_rate_per_minute: float = Field(
        60.0, gt=0, le=60_000, description="Sustained webhook requests per receiver per minute."
    )
    receiver_burst: int = Field(
        20, ge=1, le=10_000, description="Webhook requests a receiver may get at once."
    )

    watch_max_radius_m: float = Field(
        3000.0,
        gt=0,
        le=50_000,
        description="Largest area a neighbourhood watch may subscribe to (the radius around "
        "its point): a watch keeps an eye on its own neighbourhood, not on a city "
        "(docs/neighbourhood-watch.md).",
    )
    retail_max_radius_m: float = Field(
        25_000.0,
        gt=0,
        le=50_000,
        description="Farthest from one of its branches that a retailer, a trade association "
        "(its member organisations' branches) or an alarm centre (the branches of its alarm "
        "sites) hears of an alert: need to know (AVG, Wet politiegegevens). A larger "
        "radius_m is refused, none is stored as this, and matching applies it to every row "
        "(docs/notify.md). 25 km: about the reach of a getaway car in the quarter of an hour "
        "in which a warning is worth acting on, and about one police unit's city region.",
    )
    subscriptions_per_organisation: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Most subscriptions one organisation may hold (API and CLI): every "
        "matching alert goes to each, so without a cap one organisation multiplies the "
        "service's work (issue 11, finding 17).",
    )

    # Follow-up notices (docs/notify.md, "Resolved and escalated").
    notice_lookback_hours: float = Field(
        24.0,
        gt=0,
        le=30 * 24,
        description="Resolutions and escalations on the desk are told to subscribers when they "
        "happened at most this long ago: a service that was down longer does not send stale "
        "news when it comes back.",
    )

    # The service's own pace.
    poll_seconds: float = Field(
        0.5, gt=0, le=60, description="How often the delivery loop looks for due deliveries."
    )
    directory_refresh_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="How long subscriptions, police desks and branches are cached for routing "
        "(read again at once when a subscription is made, changed or deleted: NOTIFY).",
    )
    claim_batch: int = Field(
        64, ge=1, le=10_000, description="Most deliveries taken up in one pass."
    )
    send_concurrency: int = Field(
        16, ge=1, le=1000, description="Webhook requests in flight at once."
    )

    @model_validator(mode="after")
    def _backoff_grows(self) -> NotifyThresholds:
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError("retry_max_seconds must be at least retry_base_seconds")
        return self

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery stays claimed before another pass may take it up.

        Long enough for a whole pass of timed-out requests, so no other instance takes up a
        delivery that is still waiting its turn; a crashed instance's deliveries wait this long.
        """
        waves = -(-self.claim_batch // self.send_concurrency)
        return self.webhook_timeout_seconds * waves + 30.0
