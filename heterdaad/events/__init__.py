"""The event layer: how every aiokafka consumer reads and every part publishes.

It sits at the bottom, beside heterdaad.kafka, and imports only heterdaad.settings, metrics,
kafka, logs, event_time and schemas: producers/, consumers/ and streams/ build on it, never
the reverse.
The Faust stages have their own intake (streams/), under the same rules.

The rules of `EventConsumer.run`, for every consumer that uses it:
1. Decode once. Each record is decoded with schemas.wire.decode once per delivery, here; the
   handler gets typed contract models (`Batch.models`), never bytes.
2. Dead-letter in one place. A record that does not decode, and a record the handler refuses
   (it returns a `Refusal`), goes to its topic's dead-letter topic with the reason, through
   `dead_letter`, after the batch's effect: a batch read again would otherwise send it twice.
   So does an event of a source topic whose time lies further ahead of the reader's clock
   than the edges allow (heterdaad/event_time.py): the handler never sees it.
   A reader without a group (a desk, a tail) only logs it; the grouped sink dead-letters it.
3. Commit after the effect. The handler is called once per partition per poll; only when it
   returned (and its dead letters were acknowledged) is that partition's offset committed, and
   exactly to just past the batch's last record, never to the consumer's position. A handler
   that raises commits nothing of its partition, nor of the partitions after it in that poll:
   they are rewound to their first record and read again. A failure in `retry_on` (the
   database away) or a dead letter the broker refused is retried after a back-off during which
   the consumer keeps polling with its partitions paused, so it stays in its group; any other
   failure ends `run`.
4. So effects are at least once: every handler is idempotent (an upsert on the record's id, a
   delivery row keyed by alert), and a replay after a crash or rebalance changes nothing.

Publishing goes through `BrokerLink`: one checked, idempotent producer per process that is
replaced when it falls out of step with the broker (producers/api/broker.py re-exports it).
"""

from heterdaad.events.consumer import Batch, EventConsumer, Handler, Received, TopicMissing
from heterdaad.events.dead_letters import Refusal, dead_letter
from heterdaad.events.publisher import BrokerLink, BrokerUnavailable

__all__ = [
    "Batch",
    "BrokerLink",
    "BrokerUnavailable",
    "EventConsumer",
    "Handler",
    "Received",
    "Refusal",
    "TopicMissing",
    "dead_letter",
]
