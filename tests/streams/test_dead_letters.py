"""The worker's dead letters: a record read again after a rebalance is not set aside twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.topics import INCIDENT_REPORTS
from schemas.wire import DLQ_OFFSET, DLQ_REASON
from streams.dead_letters import SetAside, set_aside


@dataclass
class _Message:
    topic: str
    partition: int
    offset: int


@dataclass
class _Event:
    message: _Message
    key: bytes = b"k"
    value: bytes = b"not json"
    headers: dict[str, bytes] = field(default_factory=dict)


@dataclass
class _DeadLetterTopic:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **record: Any) -> None:
        self.sent.append(record)


class _Topics:
    def __init__(self, remembered: int = 100_000) -> None:
        self.set_aside = SetAside(remembered)
        self.topic = _DeadLetterTopic()

    def dead_letter(self, spec: object) -> _DeadLetterTopic:
        return self.topic


def _event(partition: int, offset: int) -> Any:
    return _Event(_Message("heterdaad.incident-reports.v1", partition, offset))


async def _set_aside(topics: Any, partition: int, offset: int, stage: str = "intake") -> None:
    await set_aside(topics, INCIDENT_REPORTS, _event(partition, offset), "bad", stage=stage)


def _offsets(topics: _Topics) -> list[int]:
    return [int(dict(record["headers"])[DLQ_OFFSET]) for record in topics.topic.sent]


async def test_a_record_read_again_is_set_aside_once() -> None:
    topics = _Topics()
    for offset in (3, 7, 3, 7, 5):  # 3 and 7 read again; 5 was skipped the first time
        await _set_aside(topics, 0, offset)
    assert _offsets(topics) == [3, 7, 5]
    assert all(dict(record["headers"])[DLQ_REASON] == b"bad" for record in topics.topic.sent)


async def test_each_partition_and_stage_is_its_own() -> None:
    topics = _Topics()
    await _set_aside(topics, 0, 3)
    await _set_aside(topics, 1, 3)
    await _set_aside(topics, 0, 3, stage="link_series")
    assert _offsets(topics) == [3, 3, 3]


async def test_a_record_forgotten_is_set_aside_again_never_lost() -> None:
    topics = _Topics(remembered=2)
    for offset in (1, 2, 3, 1):
        await _set_aside(topics, 0, offset)
    assert _offsets(topics) == [1, 2, 3, 1]
