"""The baseline: a bare aiokafka consume-and-produce loop, in its own process like the worker."""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiokafka import AIOKafkaConsumer

from heterdaad.kafka import make_producer
from heterdaad.settings import Settings


async def relay(settings: Settings, source: str, target: str, payload: bytes) -> None:
    """One output record per input: the input's key and headers, an alert-sized value."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.app_id}-relay",
        auto_offset_reset="earliest",
    )
    # The worker's producer settings, so the baseline pays the same acks and idempotence.
    producer = make_producer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            pending = []
            for records in batches.values():
                for record in records:
                    headers = list(record.headers)
                    pending.append(
                        await producer.send(target, value=payload, key=record.key, headers=headers)
                    )
            # Acknowledged before the next poll, as a stream processor commits after producing.
            if pending:
                await asyncio.gather(*pending)
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("payload_file")
    args = parser.parse_args()
    with open(args.payload_file, "rb") as handle:
        payload = handle.read()
    # Settings come from the HETERDAAD_* variables the parent hands over.
    settings = Settings(_env_file=None)
    asyncio.run(relay(settings, args.source, args.target, payload))


if __name__ == "__main__":
    main()
