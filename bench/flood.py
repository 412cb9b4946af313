"""Flood throughput (or, with --rate, latency at a fixed rate) of the worker under setting
variants against the relay, in one run:
`python -m bench.flood --variant kafka_linger_ms=0 --variant kafka_linger_ms=5`.

A tuning step is judged on the flood ratio of issue 14, and the shared machine's speed drifts
by a factor of several within minutes: so each round floods the relay and then each variant
(each a fresh worker on fresh topics), and every ratio is to the relay of its own round. A
variant is one or more `name=value` settings, comma separated; `alarms.batch_max=1000` sets a
field of a settings group. Appends a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shlex
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import pipeline
from bench.common import cleanup, fresh_settings, prepare

if TYPE_CHECKING:
    from heterdaad.settings import Settings

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DRAIN_S = 300.0


def varied(settings: Settings, variant: str) -> Settings:
    """The settings with a variant's `name=value` pairs applied (validated like the env)."""
    fields: dict[str, Any] = settings.model_dump()
    for pair in filter(None, variant.split(",")):
        name, _, value = pair.partition("=")
        group, _, field = name.partition(".")
        if field:
            fields[group][field] = value
        else:
            fields[group] = value
    # model_validate, not the constructor: the environment is not read again.
    return type(settings).model_validate(fields)


async def flood(
    name: str, settings: Settings, count: int, rate: float, rng: random.Random
) -> pipeline.Step:
    """`count` verified activations offered at `rate` (inf: a flood) to a fresh relay or
    worker."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    await prepare(settings)
    try:
        path = await pipeline.start_path(name, settings, settings.state_dir / f"{name}.log",
                                         rng, 120)  # fmt: skip
        try:
            return await path.step(count, rate, DRAIN_S, rng)
        finally:
            await path.close()
    finally:
        await cleanup(settings)


def row(round_: int, system: str, step: pipeline.Step, relay: pipeline.Step) -> str:
    return (
        f"| {round_} | {system} | {step.delivered} | {step.throughput:.0f} | "
        f"{step.throughput / relay.throughput:.2f} | {step.latency.p50:.1f} / "
        f"{step.latency.p99:.1f} | {step.latency.p99 / relay.latency.p99:.2f} |"
    )


async def run(
    variants: list[str], count: int, rate: float, rounds: int, base: Path
) -> list[str]:
    rng = random.Random(11)
    rows = []
    for round_ in range(1, rounds + 1):
        relay = await flood("relay", fresh_settings(base), count, rate, rng)
        rows.append(row(round_, "relay (baseline)", relay, relay))
        for variant in variants:
            settings = varied(fresh_settings(base), variant)
            step = await flood("worker", settings, count, rate, rng)
            rows.append(row(round_, f"worker {variant or '(defaults)'}", step, relay))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[],
                        help="name=value[,name=value]; empty: the defaults")  # fmt: skip
    parser.add_argument("--count", type=int, default=3000, help="activations per flood")
    parser.add_argument("--rate", type=float, default=math.inf,
                        help="offered events/s (default: all at once, a flood)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    variants = args.variant or [""]
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="heterdaad-flood-") as base:
        rows = asyncio.run(run(variants, args.count, args.rate, args.rounds, Path(base)))
    command = shlex.join(["python", "-m", "bench.flood", *sys.argv[1:]])
    lines = [
        f"## {started:%Y-%m-%d %H:%M} UTC — `{command}`",
        "",
        "| round | system | delivered | ev/s | / relay of the round | latency ms p50 / p99 | "
        "p99 / relay's |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    with RESULTS.open("a") as results:
        results.write("\n" + "\n".join(lines))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
