"""Every topic a worker reads or writes, its Faust-internal ones read from the app itself, and
the start-up check that they all exist with the partitions the app declares."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mode.utils.times import want_seconds

from heterdaad.kafka import TopicPlan, ensure_topics, make_admin
from schemas.topics import all_topics
from streams.app import create_app

if TYPE_CHECKING:
    import faust
    from faust.types import TopicT

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)


def _plan(app: faust.App, topic: TopicT) -> list[TopicPlan]:
    # The same configs Faust's own declare() would give it (transport._topic_config).
    configs: dict[str, str] = {}
    flags = (("compact", topic.compacting), ("delete", topic.deleting))
    policy = [flag for flag, on in flags if on]
    if policy:
        configs["cleanup.policy"] = ",".join(policy)
    if topic.retention:
        configs["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
    configs.update({key: str(value) for key, value in (topic.config or {}).items()})
    partitions = topic.partitions or app.conf.topic_partitions
    return [(name, partitions, configs) for name in topic.topics]


def internal_topics(app: faust.App) -> list[TopicPlan]:
    """The repartition topics the app's agents read and its tables' changelogs.

    Read from the app, not listed by hand, so a stage that adds a table or a group-by topic
    is covered without anyone remembering it here.
    """
    plans: dict[str, TopicPlan] = {}
    channels = [agent.channel for agent in app.agents.values()]
    changelogs = [table.changelog_topic for table in app.tables.values()]
    for topic in [*channels, *changelogs]:
        if getattr(topic, "internal", False):
            for plan in _plan(app, topic):
                plans[plan[0]] = plan
    return sorted(plans.values())


def input_topics(app: faust.App) -> list[str]:
    """Every topic a stage reads: the ones whose lag says whether a stage keeps up."""
    return sorted({name for agent in app.agents.values() for name in agent.channel.topics})


def worker_topics(settings: Settings) -> list[TopicPlan]:
    """The catalogue's topics and the worker's internal ones, those of a split's patterns
    worker included (streams/roles.py): either way of running may start on them."""
    internal = sorted(
        {plan[0]: plan for role in ("all", "patterns")
         for plan in internal_topics(create_app(settings, role))}.values()
    )  # fmt: skip
    catalogue = all_topics(settings.topic_prefix, settings.personal_data_retention_days)
    return [*catalogue, *internal]


async def ensure_worker_topics(settings: Settings) -> list[str]:
    """Create every topic the worker needs that does not exist yet; returns the names created.

    The broker runs with auto.create.topics.enable=false: a topic made by a stray metadata
    request would get the broker's default partition count, which breaks co-partitioning.
    """
    return await ensure_topics(settings, plans=worker_topics(settings))


async def topic_problems(settings: Settings, plans: list[TopicPlan]) -> list[str]:
    """What is wrong with the topics on the broker: missing, or another partition count."""
    admin = make_admin(settings)
    await admin.start()
    try:
        # Metadata of all topics: naming the wanted ones could create them on a broker that
        # still auto-creates.
        described = await admin.describe_topics()
    finally:
        await admin.close()
    found = {
        topic["topic"]: len(topic["partitions"])
        for topic in described
        if topic.get("error_code", 0) == 0
    }
    problems = []
    for name, partitions, _ in plans:
        if name not in found:
            problems.append(f"{name} is missing")
        elif found[name] != partitions:
            problems.append(f"{name} has {found[name]} partitions, the worker needs {partitions}")
    return problems
