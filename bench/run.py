"""One command for the whole benchmark: `python -m bench.run [--quick]`; appends to RESULTS.md."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import api, backfill, micro, pipeline, sink, tasks
from bench.common import cleanup, fresh_settings, prepare
from heterdaad.settings import Settings
from schemas.events import AlarmActivation

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
# Where the benchmark finds its Kafka and PostgreSQL (bench/common.py reads them).
TEST_VARIABLES = ("HETERDAAD_TEST_KAFKA_BOOTSTRAP", "HETERDAAD_TEST_DATABASE_URL")
# The targets of issue 14, each a ratio to a baseline of the same run.
FLOOD_TARGET = 0.3
P99_TARGET = 2
SINK_TARGET = 0.6
FLOOD_DRAIN_S = 300.0


class Plan:
    """The sizes of one run; --quick keeps the whole run to about three minutes."""

    def __init__(self, quick: bool, idle_s: float) -> None:
        self.quick = quick
        self.idle_s = idle_s
        self.flood = 3000 if quick else 10_000
        self.step_s = 8.0 if quick else 30.0
        self.fractions = (0.4, 0.55, 0.7, 1.0) if quick else (0.25, 0.4, 0.55, 0.7, 0.85, 1.0, 1.2)
        self.half_s = 12.0 if quick else 60.0
        self.drain_s = 20.0 if quick else 60.0
        self.micro_days = 14.0 if quick else 60.0
        self.micro_repeats = 3 if quick else 5
        self.sink_rows = 2000 if quick else 20_000
        # A year even in --quick: loading a year of history in bounded time is the target.
        self.backfill_days = 365.0
        # Presses measured from the press to the alarm centre holding its task, 2 a second.
        self.task_presses = 20 if quick else 60
        # The same presses again right after a monthly import of months-old robbery reports.
        self.task_backlog = 3000
        # Incident reports through the API's batch endpoint (and bare), twice each.
        self.api_reports = 2000 if quick else 10_000


def machine_facts(settings: Settings) -> list[str]:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return [
        f"- nproc: {nproc}; {platform.machine()}; {platform.platform()}",
        f"- {sys.version.split()[0]} (`python -V`: Python {platform.python_version()})",
        f"- Kafka: {_kafka_version_from_jars()} at {settings.kafka_bootstrap}",
    ]


def _kafka_version_from_jars() -> str:
    # Kafka reports no version over the protocol; the broker's class path names its directory.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False)
    for line in ps.stdout.splitlines():
        if "kafka.Kafka" in line:
            found = re.search(r"kafka[-_](?:2\.\d+-)?(\d+\.\d+\.\d+)", line)
            if found:
                return f"Apache Kafka {found.group(1)}"
    return "Apache Kafka (version not found in the process list)"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "n/a"


def step_row(label: str, step: pipeline.Step) -> str:
    offered = "flood" if math.isinf(step.offered) else f"{step.offered:.0f}"
    return (
        f"| {label} | {offered} | {step.sent} | {step.delivered} | {step.throughput:.0f} | "
        f"{step.latency.row()} | {step.first_third_p50:.1f} → {step.last_third_p50:.1f} | "
        f"{'-' if math.isinf(step.offered) else 'yes' if step.sustainable else 'no'} |"
    )


async def kafka_part(plan: Plan, base: Path, lines: list[str]) -> float:
    """Baseline relay and alarm path, each on its own fresh topics and app id.

    Returns the relay's flood throughput, the baseline of the backfill measured after it.
    """
    rng = random.Random(11)
    relay_settings, worker_settings = fresh_settings(base), fresh_settings(base)
    for settings in (relay_settings, worker_settings):
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        await prepare(settings)
    steps: list[tuple[str, pipeline.Step]] = []
    targets: list[str] = []
    try:
        relay = await pipeline.start_path(
            "relay", relay_settings, relay_settings.state_dir / "relay.log", rng, 60
        )
        try:
            relay_flood = await relay.step(plan.flood, math.inf, plan.drain_s, rng)
            steps.append(("baseline relay", relay_flood))
            worker = await pipeline.start_path(
                "worker", worker_settings, worker_settings.state_dir / "worker.log", rng, 120
            )
            try:
                # Drained in full (as the burst is): a backlog left over would load the ramp.
                worker_flood = await worker.step(plan.flood, math.inf, FLOOD_DRAIN_S, rng)
                steps.append(("alarm path", worker_flood))
                sustainable: float | None = None
                for fraction in plan.fractions:
                    rate = fraction * worker_flood.throughput
                    step = await worker.step(int(rate * plan.step_s), rate, plan.drain_s, rng)
                    steps.append((f"alarm path ramp {fraction:.2f}x flood", step))
                    if not step.sustainable:
                        break
                    sustainable = rate
                half = (sustainable or plan.fractions[0] * worker_flood.throughput) / 2
                count = max(50, int(half * plan.half_s))
                worker_half = await worker.step(count, half, plan.drain_s, rng)
                steps.append(("alarm path at ½ sustainable", worker_half))
                if not plan.quick:
                    try:
                        targets = await idle_and_burst(
                            plan, worker, half, worker_half, worker_flood, rng
                        )
                    except Exception as error:  # the figures measured so far must survive
                        targets = ["### Idle and burst targets", "", f"Failed: {error!r}", ""]
            finally:
                await worker.close()
            relay_half = await relay.step(count, half, plan.drain_s, rng)
            steps.append(("baseline relay at same rate", relay_half))
        finally:
            await relay.close()
    finally:
        await cleanup(relay_settings)
        await cleanup(worker_settings)

    lines += [
        "### Through Kafka (open-loop generator, latency = output seen - intended send time)",
        "",
        "| run | offered ev/s | sent | delivered | throughput ev/s | latency ms p50 / p95 / "
        "p99 / max | p50 first → last third | sustainable |",
        "|---|---|---|---|---|---|---|---|",
        *(step_row(label, step) for label, step in steps),
        "",
    ]
    thr = worker_flood.throughput / relay_flood.throughput
    p99 = worker_half.latency.p99 / relay_half.latency.p99
    found = f"{sustainable:.0f} ev/s" if sustainable else "none of the ramp's rates"
    lines += [
        f"- Sustainable maximum of the alarm path (ramp): {found}; ½ of it = {half:.0f} ev/s.",
        f"- **Alarm-path throughput / baseline throughput = {ratio(worker_flood.throughput, relay_flood.throughput)}** "  # noqa: E501
        f"(target ≥ {FLOOD_TARGET}: "
        f"{'met' if thr >= FLOOD_TARGET else f'missed by {FLOOD_TARGET - thr:.2f}'}).",
        f"- Sustainable maximum / baseline flood throughput = "
        f"{ratio(sustainable or math.nan, relay_flood.throughput)} (the flood figure above is "
        "what the target is judged on; this is the stricter reading).",
        f"- **Alarm-path p99 at ½ sustainable / baseline p99 at the same rate = "
        f"{ratio(worker_half.latency.p99, relay_half.latency.p99)}** "
        f"(target ≤ {P99_TARGET}: "
        f"{'met' if p99 <= P99_TARGET else f'missed by {p99 - P99_TARGET:.2f}'}).",
        "",
        *targets,
    ]
    return relay_flood.throughput


async def backfill_part(plan: Plan, base: Path, lines: list[str], relay_per_s: float) -> None:
    """A year of national history at the 2012 rate, against the relay of this run."""
    settings = fresh_settings(base)
    await prepare(settings)
    try:
        done = await backfill.run(settings, plan.backfill_days)
    finally:
        await cleanup(settings)
    share = done.send_per_s / relay_per_s if relay_per_s else math.nan
    lines += [
        f"### History backfill ({done.days:g} days at the 2012 rate, 1,982 robberies a year; "
        "`heterdaad simulate --history-days` straight to Kafka, batching producer)",
        "",
        "| events | generate s | send s | total s | sent ev/s | overall ev/s | relay flood ev/s |",
        "|---|---|---|---|---|---|---|",
        f"| {done.events} | {done.generate_s:.1f} | {done.send_s:.1f} | {done.total_s:.1f} | "
        f"{done.send_per_s:.0f} | {done.total_per_s:.0f} | {relay_per_s:.0f} |",
        "",
        f"- **Backfill / baseline relay throughput = {ratio(done.send_per_s, relay_per_s)}** "
        f"(target ≥ 0.5: {'met' if share >= 0.5 else 'missed'}; sending only, the scenario "
        "is drawn before the first send). The relay consumes and produces, the backfill only "
        "produces; both pay the same producer settings (`make_producer`).",
        f"- A year of national history is on the broker {done.total_s:.0f} s after the command "
        "starts. The worker then works through it at its own pace (see the alarm path above; "
        "alarms are most of the events).",
        "",
    ]


async def idle_and_burst(
    plan: Plan,
    worker: pipeline.Running,
    normal: float,
    warm: pipeline.Step,
    flood: pipeline.Step,
    rng: random.Random,
) -> list[str]:
    """First alarm after an idle spell, then a 60 s burst at 10x the normal rate.

    "Normal" is the operating point of the p99 figure (½ the sustainable rate): the national
    alarm rate the simulator models is far below anything that loads the worker.
    """
    await asyncio.sleep(plan.idle_s)
    idle = await worker.step(1, math.inf, plan.drain_s, rng)
    burst_rate = 10 * normal
    burst = await worker.step(int(burst_rate * 60), burst_rate, 300, rng)
    drain_s = burst.span_s - burst.sent / burst_rate
    lost = burst.sent - burst.delivered
    idle_ratio = idle.latency.max / warm.latency.p99
    drained = drain_s <= 120 and lost == 0
    return [
        "### Idle and burst targets",
        "",
        f"- First alarm after {plan.idle_s / 60:.1f} min idle: {idle.latency.max:.1f} ms = "
        f"**{ratio(idle.latency.max, warm.latency.p99)}x the warm p99** "
        f"(target ≤ 2: {'met' if idle_ratio <= 2 else f'missed by {idle_ratio - 2:.2f}'}).",
        f"- Burst: 60 s at {burst_rate:.0f} ev/s (10x {normal:.0f}) = {burst.sent} alarms; "
        f"{burst.delivered} delivered, {lost} lost; drained {drain_s:.1f} s after the burst "
        f"ended; p99 {burst.latency.p99:.0f} ms "
        f"(target: drained within 120 s, nothing lost: {'met' if drained else 'missed'}).",
        # Backlog at the end = 60 s x (10 x normal - F), drained at F: within 120 s needs
        # F >= 600 x normal / 180 = 3.33 x normal, i.e. 1.67 x the sustainable rate.
        f"- What the burst target asks: a throughput of at least 3.33x the normal rate, here "
        f"{10 * normal / 3:.0f} ev/s, held through the burst and its backlog; measured over "
        f"the burst {burst.throughput:.0f} ev/s = {ratio(burst.throughput, normal)}x normal "
        f"(the flood step of {flood.sent} alarms: {flood.throughput:.0f} ev/s). Each alarm "
        "of the bench is at a new site: a new record in `site_to_alarm_history` each, while "
        "the cells stay small (every alarm is verified at once, no episode stays live).",
        "",
    ]


async def sink_part(plan: Plan, base: Path, lines: list[str]) -> None:
    settings = fresh_settings(base)
    await prepare(settings)
    try:
        rng = random.Random(5)
        rows: list[AlarmActivation] = [
            pipeline.verified_activation(rng) for _ in range(plan.sink_rows)
        ]
        rates = await sink.run(settings, rows, batch=500)
    finally:
        await cleanup(settings)
    lines += [
        "### PostgreSQL sink (alarm activations, 500 rows a transaction, as the sink batches)",
        "",
        "| writer | rows | rows/s |",
        "|---|---|---|",
        f"| bare asyncpg executemany INSERT (baseline) | {rates.rows} | {rates.bare_rows_per_s:.0f} |",  # noqa: E501
        f"| consumers.sink.store_many, COPY of the new ids | {rates.rows} | {rates.store_rows_per_s:.0f} |",  # noqa: E501
        f"| the same again, every id held and compared (a redelivery) | {rates.rows} | {rates.repeat_rows_per_s:.0f} |",  # noqa: E501
        "",
        f"- **store / bare = {ratio(rates.store_rows_per_s, rates.bare_rows_per_s)}** "
        f"(target ≥ {SINK_TARGET}: "
        f"{'met' if rates.store_rows_per_s >= SINK_TARGET * rates.bare_rows_per_s else 'missed'}); "
        f"a redelivery / bare = {ratio(rates.repeat_rows_per_s, rates.bare_rows_per_s)}.",
        "",
    ]


# The worker split by role, as docker-compose.yml runs it (streams/roles.py).
SPLIT = ("live", "patterns")


async def tasks_part(plan: Plan, base: Path, lines: list[str]) -> None:
    settings = fresh_settings(base)
    await prepare(settings)
    try:
        found = await tasks.run(settings, base / "logs", plan.task_presses, spacing_s=0.5)
    finally:
        await cleanup(settings)
    settings = fresh_settings(base)
    await prepare(settings)
    try:
        behind = await tasks.run(settings, base / "logs", plan.task_presses, spacing_s=0.5,
                                 backlog=plan.task_backlog)  # fmt: skip
    finally:
        await cleanup(settings)
    settings = fresh_settings(base)
    await prepare(settings)
    try:
        split = await tasks.run(settings, base / "logs", plan.task_presses, spacing_s=0.5,
                                backlog=plan.task_backlog, roles=SPLIT)  # fmt: skip
    finally:
        await cleanup(settings)
    baseline = found.topic
    lines += [
        f"### From a press to the alarm centre holding its verify task ({found.presses} presses, "
        "2 a second, each at a new site; worker, sink and notify as child processes)",
        "",
        "| path | p50 / p95 / p99 / max ms | p50 ratio to baseline |",
        "|---|---|---|",
        f"| task on alarm-tasks.v1, bare Kafka reader (baseline) | {baseline.row()} | 1.00 |",
        f"| signed webhook through notify | {found.webhook.row()} | "
        f"{ratio(found.webhook.p50, baseline.p50)} |",
        f"| GET /v1/alarm-tasks long-poll (wait 2 s, cursor) | {found.long_poll.row()} | "
        f"{ratio(found.long_poll.p50, baseline.p50)} |",
        "",
        f"### The same {behind.presses} presses right after {plan.task_backlog} robbery reports "
        "of 2-4 months ago (supermarkets over the same area, produced at once to "
        "incident-reports.v1)",
        "",
        "| path | p50 / p95 / p99 / max ms | p50 ratio to no backlog | max ratio to no backlog |",
        "|---|---|---|---|",
        f"| task on alarm-tasks.v1, bare Kafka reader | {behind.topic.row()} | "
        f"{ratio(behind.topic.p50, baseline.p50)} | {ratio(behind.topic.max, baseline.max)} |",
        f"| signed webhook through notify | {behind.webhook.row()} | "
        f"{ratio(behind.webhook.p50, found.webhook.p50)} | "
        f"{ratio(behind.webhook.max, found.webhook.max)} |",
        f"| task on alarm-tasks.v1, workers split (`--role live`, `--role patterns`) | "
        f"{split.topic.row()} | {ratio(split.topic.p50, baseline.p50)} | "
        f"{ratio(split.topic.max, baseline.max)} |",
        f"| signed webhook through notify, workers split | {split.webhook.row()} | "
        f"{ratio(split.webhook.p50, found.webhook.p50)} | "
        f"{ratio(split.webhook.max, found.webhook.max)} |",
        "",
    ]


async def api_part(plan: Plan, base: Path, lines: list[str]) -> None:
    settings = fresh_settings(base)
    await prepare(settings)
    try:
        found = await api.run(settings, plan.api_reports, batch=100)
    finally:
        await cleanup(settings)
    lines += [
        f"### Ingest API, batch endpoint in process ({found.reports} incident reports, "
        f"{found.batch} a request, best of 2)",
        "",
        "| path | reports/s | CPU µs a report (this process) |",
        "|---|---|---|",
        f"| the same reports as events, BrokerLink.publish gathered per batch (baseline) | "
        f"{found.bare_per_s:.0f} | {found.bare_cpu_us:.0f} |",
        f"| POST /v1/incident-reports/batch, every report 202 | {found.api_per_s:.0f} | "
        f"{found.api_cpu_us:.0f} |",
        "",
        f"- **API / bare = {ratio(found.api_per_s, found.bare_per_s)}**; CPU a report, API / "
        f"bare = {ratio(found.api_cpu_us, found.bare_cpu_us)}.",
        "",
    ]


def micro_part(plan: Plan, base: Path, lines: list[str]) -> None:
    rates = micro.run_all(fresh_settings(base), days=plan.micro_days, repeats=plan.micro_repeats)
    codec = rates[0].per_second
    lines += [
        f"### Pure decision logic, one process (simulator, {plan.micro_days:g} days, seed 7, "
        f"best of {plan.micro_repeats})",
        "",
        "| stage | events | events/s | ratio to codec |",
        "|---|---|---|---|",
        *(
            f"| {r.name} | {r.events} | {r.per_second:.0f} | {ratio(r.per_second, codec)} |"
            for r in rates
        ),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about three minutes in all")
    parser.add_argument(
        "--only", choices=("micro", "sink", "kafka", "tasks", "api"),
        help="run one part of the benchmark",
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=600, help="idle spell of the full run's probe"
    )
    args = parser.parse_args()
    if missing := [name for name in TEST_VARIABLES if not os.environ.get(name)]:
        # One line saying what to set, rather than a KeyError from deep in the first part.
        parser.exit(2, f"python -m bench.run: set {' and '.join(missing)} to a running Kafka "
                       'and PostgreSQL, e.g. eval "$(heterdaad infra up)"\n')  # fmt: skip
    plan = Plan(args.quick, args.idle_seconds)
    base = Path(".heterdaad") / "bench"
    started = time.monotonic()
    lines: list[str] = []
    facts = machine_facts(fresh_settings(base))
    if args.only in (None, "micro"):
        micro_part(plan, base, lines)
    if args.only in (None, "sink"):
        asyncio.run(sink_part(plan, base, lines))
    if args.only in (None, "tasks"):
        asyncio.run(tasks_part(plan, base, lines))
    if args.only in (None, "api"):
        asyncio.run(api_part(plan, base, lines))
    if args.only in (None, "kafka"):
        relay_per_s = asyncio.run(kafka_part(plan, base, lines))
        asyncio.run(backfill_part(plan, base, lines, relay_per_s))
    if plan.quick and args.only in (None, "kafka"):
        lines += [
            "### Idle and burst targets",
            "",
            "Not measured in --quick (the idle probe alone takes 10 minutes): see the full run.",
            "",
        ]
    duration = time.monotonic() - started
    command = shlex.join(["python", "-m", "bench.run", *sys.argv[1:]])
    header = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `{command}`"
        f" ({'quick' if plan.quick else 'full'}, {duration:.0f} s)",
        "",
        *facts,
        "- 2 shared, noisy cores: compare the ratios, not the bare figures.",
        "",
    ]
    with RESULTS.open("a", encoding="utf-8") as handle:
        if RESULTS.stat().st_size == 0:
            handle.write("# Benchmark results\n\n")
        handle.write("\n".join(header + lines) + "\n")
    print("\n".join(header + lines))


if __name__ == "__main__":
    main()
