"""Whether a consumer group is consuming: its members and its lag, read from the broker.

The worker's readiness (`heterdaad worker ready`) and the API's /readyz ask the broker, not
the worker: a worker that died, hangs or lags says nothing itself, but its group shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from heterdaad.kafka import client_options, make_admin

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aiokafka.admin import AIOKafkaAdminClient

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Readiness:
    """Ready when the group has a member and no topic lags beyond the bound."""

    members: int = 0
    lag: dict[str, int] = field(default_factory=dict)
    # The same lag per (topic, partition), for the consumer-lag gauge.
    partition_lag: dict[tuple[str, int], int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "members": self.members, "lag": self.lag,
                "problems": self.problems}  # fmt: skip


async def _members(admin: AIOKafkaAdminClient, group: str) -> int:
    for response in await admin.describe_consumer_groups([group]):
        for described in response.to_object()["groups"]:
            if described["group"] == group and described["state"] == "Stable":
                return len(described["members"])
    return 0


async def group_readiness(
    settings: Settings, group: str, topics: Iterable[str], max_lag: int
) -> Readiness:
    """Members of `group` and its lag on `topics` (records not yet committed), against
    `max_lag` per topic."""
    readiness = Readiness()
    admin = make_admin(settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, **client_options(settings)
    )
    try:
        await admin.start()
        await consumer.start()
        readiness.members = await _members(admin, group)
        if not readiness.members:
            readiness.problems.append(f"consumer group {group} has no active member")
        # All topics' metadata: naming one that is missing could create it on an old broker.
        described = {t["topic"]: t["partitions"] for t in await admin.describe_topics()}
        for topic in topics:
            if topic not in described:
                readiness.problems.append(f"{topic} is missing")
                continue
            tps = [TopicPartition(topic, p["partition"]) for p in described[topic]]
            # The partitions named: asked for all of a group's offsets, Tansu answers in a form
            # aiokafka cannot decode and the connection breaks (docs/embedded.md).
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            lag = 0
            for tp in tps:
                # -1 (or no entry): the group never committed it; behind from the log start.
                done = committed[tp].offset if tp in committed else -1
                behind = max(0, ends[tp] - max(done, starts[tp]))
                readiness.partition_lag[(topic, tp.partition)] = behind
                lag += behind
            readiness.lag[topic] = lag
            if lag > max_lag:
                readiness.problems.append(f"{topic} lags {lag} records (bound {max_lag})")
    finally:
        await consumer.stop()
        await admin.close()
    return readiness
