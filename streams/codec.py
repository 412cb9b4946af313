"""The one format of the worker's internal topics: a model's pydantic JSON, its type in a header.

Every topic the worker writes for itself (the repartitioning between the intake and a stage,
the timer's ticks) carries the same thing: the value is the model's own JSON, and the header
`x-heterdaad-model` names which of the topic's declared models it is. No CloudEvent envelope
(the record never leaves the worker), no second encoding per topic. A record that is not one
of the declared models (another version of the worker wrote it, or something else did) is
refused with a reason and set aside by streams/dead_letters.py, never a crash loop.

As with Quix Streams' repartition topics, the value type is declared with the topic, in one
place (`InternalTopic`), and both ends go through it.

Upgrading from a worker that wrote another format: let its internal topics drain (consumer lag
0) before the new worker starts; a record of the old format would be dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.wire import UndecodableRecord, explain

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence
    from datetime import timedelta

    import faust
    from faust.types import RecordMetadata, TopicT

    from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)

MODEL_HEADER = "x-heterdaad-model"

ModelT = TypeVar("ModelT", bound=BaseModel)
Headers = list[tuple[str, bytes]]


def encode_internal(model: BaseModel) -> tuple[bytes, Headers]:
    """The value and headers of a model on an internal topic."""
    return model.model_dump_json().encode(), [(MODEL_HEADER, type(model).__name__.encode())]


def decode_internal(
    carries: Mapping[str, type[ModelT]],
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None,
) -> ModelT:
    """The model a record of an internal topic carries, or UndecodableRecord saying why not."""
    if value is None:
        raise UndecodableRecord("record has no value")
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    named = next((raw for name, raw in pairs if name == MODEL_HEADER), None)
    if named is None:
        raise UndecodableRecord(f"no {MODEL_HEADER} header: not written by this worker")
    model = carries.get(named.decode(errors="replace"))
    if model is None:
        raise UndecodableRecord(
            f"{MODEL_HEADER} {named!r} is none of {', '.join(sorted(carries))}"
        )
    try:
        return model.model_validate_json(value)
    except ValidationError as error:
        raise UndecodableRecord(explain(error)) from error


class InternalTopic(Generic[ModelT]):
    """A worker-internal topic with the models it carries; created by the worker, like Faust's
    own repartition topics (streams/topology.py reads it from the app)."""

    def __init__(
        self,
        app: faust.App,
        name: str,
        carries: Sequence[type[ModelT]],
        *,
        dead_letters: TopicSpec,
        retention: timedelta,
        partitions: int | None = None,
        deleting: bool | None = None,
    ) -> None:
        self.carries: dict[str, type[ModelT]] = {model.__name__: model for model in carries}
        if len(self.carries) != len(carries):
            raise ValueError(f"{name}: two models of one name cannot be told apart")
        # The catalogue topic whose dead-letter topic takes this one's unreadable records.
        self.dead_letters = dead_letters
        self.topic: TopicT = app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
            internal=True,
            retention=retention,
            deleting=deleting,
        )

    async def send(
        self, key: bytes, model: ModelT, partition: int | None = None
    ) -> Awaitable[RecordMetadata]:
        """Queue the model in the producer; the returned future is the broker's ack."""
        value, headers = encode_internal(model)
        return await self.topic.send(key=key, value=value, headers=headers, partition=partition)

    def decode(self, event: faust.EventT[bytes]) -> ModelT:
        return decode_internal(self.carries, event.value, event.headers)
