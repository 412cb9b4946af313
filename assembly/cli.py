"""The `heterdaad` command: one entry point for every part of the system."""

from __future__ import annotations

import asyncio
import gc
import logging
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from assembly.camera_cli import camera_app
from assembly.dead_letters_cli import dead_letters_app
from assembly.desk_cli import desk_app
from assembly.model_cli import model_app
from assembly.notify_cli import notify_app
from assembly.org_cli import org_app
from heterdaad.cli_support import stop_on_signals, validated_settings
from producers.cbl_import.command import import_app

logger = logging.getLogger(__name__)

# The worker's collector thresholds (generation 0, 1, 2); CPython's defaults are 700, 10, 10.
GC_THRESHOLDS = (10_000, 20, 20)

app = typer.Typer(
    help="Heterdaad: robbery alerting for retailers, alarm centres and the police.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The PostgreSQL store.", no_args_is_help=True)
topics_app = typer.Typer(help="The Kafka topics of the catalogue.", no_args_is_help=True)
schemas_app = typer.Typer(help="The event contract.", no_args_is_help=True)
receiver_app = typer.Typer(help="Receivers for alarm signals.", no_args_is_help=True)
infra_app = typer.Typer(
    help="Local Apache Kafka (from Maven Central) and PostgreSQL for tests and CI.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(infra_app, name="infra")
app.add_typer(receiver_app, name="receiver")
app.add_typer(org_app, name="org")
app.add_typer(notify_app, name="notify")
app.add_typer(desk_app, name="desk")
app.add_typer(import_app, name="import")
app.add_typer(camera_app, name="camera")
app.add_typer(model_app, name="model")
app.add_typer(dead_letters_app, name="dead-letters")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply the SQL migrations that are not applied yet (safe to repeat)."""
    from infra.migrate import migrate

    settings = validated_settings()
    applied = asyncio.run(migrate(settings.database_url, settings.database_schema))
    typer.echo(f"{len(applied)} migration(s) applied to schema {settings.database_schema}")


@db_app.command("retention")
def db_retention() -> None:
    """Delete personal data older than HETERDAAD_PERSONAL_DATA_RETENTION_DAYS (keeps counts)."""
    import asyncpg

    from consumers.retention import purge_personal_data

    settings = validated_settings()

    async def run() -> None:
        connection = await asyncpg.connect(
            settings.database_url, server_settings={"search_path": settings.database_schema}
        )
        try:
            report = await purge_personal_data(
                connection,
                settings.personal_data_retention_days,
                audit_retention_days=settings.audit_retention_days,
            )
        finally:
            await connection.close()
        typer.echo(f"before {report.cutoff:%Y-%m-%d %H:%M}: {report.purged}")

    asyncio.run(run())


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic the worker needs that does not exist: the catalogue's, their
    dead-letter topics, and the worker's repartition topics and table changelogs."""
    from streams.supervision import EXIT_TOPICS
    from streams.topology import topic_problems, worker_topics

    settings = validated_settings()
    plans = worker_topics(settings)

    async def run() -> tuple[list[str], list[str]]:
        from heterdaad.kafka import ensure_topics

        created = await ensure_topics(settings, plans=plans)
        return created, await topic_problems(settings, plans)

    created, problems = asyncio.run(run())
    typer.echo(f"{len(created)} topic(s) created")
    if problems:
        # A partition count cannot be lowered, and raising it would move keys: a person decides.
        typer.echo(f"heterdaad topics create: {'; '.join(problems)}", err=True)
        raise typer.Exit(EXIT_TOPICS)


@schemas_app.command("export")
def schemas_export(
    directory: Annotated[Path, typer.Argument(help="Where to write the files.")] = Path(
        "docs/contract"
    ),
) -> None:
    """Write the JSON Schema of every model and the AsyncAPI document of the topics."""
    from schemas.export import write_all

    settings = validated_settings()
    for path in write_all(directory, settings.topic_prefix):
        typer.echo(str(path))


@infra_app.command("up")
def infra_up(
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="Production profile: Kafka over TLS with SASL/SCRAM, one principal per "
            "service with its ACLs; passwords from HETERDAAD_KAFKA_PASSWORD_<PRINCIPAL>.",
        ),
    ] = False,
) -> None:
    """Start PostgreSQL and Apache Kafka on loopback (harmless when they run already).

    Prints `export` lines for the shell: eval "$(heterdaad infra up)".
    """
    import os

    from infra import kafka_broker, kafka_secure, postgres_server
    from infra.exports import export_lines, record

    settings = validated_settings()
    state_dir = settings.state_dir.resolve()
    try:
        profile = (
            kafka_secure.secure_profile(settings, state_dir / "kafka-tls", os.environ)
            if secure
            else None
        )
        dsn = postgres_server.up(state_dir, settings.postgres_port)
        bootstrap = kafka_broker.up(
            state_dir,
            settings.cache_dir,
            settings.kafka_port,
            settings.kafka_controller_port,
            settings.kafka_version,
            timeout=180,
            secure=profile,
        )
    except (
        kafka_broker.KafkaBrokerError,
        kafka_secure.KafkaSecurityError,
        postgres_server.PostgresServerError,
    ) as error:
        typer.echo(f"heterdaad infra up: {error}", err=True)
        raise typer.Exit(1) from error
    exports = [
        ("HETERDAAD_KAFKA_BOOTSTRAP", bootstrap),
        ("HETERDAAD_DATABASE_URL", dsn),
        ("HETERDAAD_TEST_KAFKA_BOOTSTRAP", bootstrap),
        ("HETERDAAD_TEST_DATABASE_URL", dsn),
        ("HETERDAAD_STATE_DIR", str(state_dir)),
    ]
    if profile is not None:
        # Each service then sets its own HETERDAAD_KAFKA_SASL_USERNAME and _PASSWORD.
        exports += [
            ("HETERDAAD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("HETERDAAD_KAFKA_SSL_CAFILE", str(profile.cafile)),
        ]
    # Recorded, so `infra status` checks what was exported rather than the port settings.
    record(state_dir, exports)
    for line in export_lines(exports):
        typer.echo(line)


@infra_app.command("kafka-acls")
def infra_kafka_acls() -> None:
    """Print every service principal's ACLs as kafka-acls.sh commands (compose's script)."""
    from infra.kafka_secure import acl_script

    typer.echo(acl_script(validated_settings()), nl=False)


@infra_app.command("kafka-certs")
def infra_kafka_certs(
    directory: Annotated[Path, typer.Argument(help="Where to write the CA and broker files.")],
) -> None:
    """Make a CA and the broker's certificate (for hosts kafka, localhost, 127.0.0.1)."""
    from infra.kafka_secure import make_certificates

    make_certificates(directory, ["127.0.0.1", "localhost", "kafka"])
    typer.echo(f"{directory}/ca.pem: the CA every service trusts; keep ca.key offline")


@infra_app.command("down")
def infra_down() -> None:
    """Stop the Kafka broker and PostgreSQL started by `heterdaad infra up`."""
    from infra import kafka_broker, postgres_server
    from infra.exports import recorded

    state_dir = validated_settings().state_dir.resolve()
    if not recorded(state_dir):
        # Say where it looked: a shell that sourced demo.env looks in the demo's state dir.
        typer.echo(f"heterdaad infra down: no `infra up` recorded in {state_dir} "
                   "(HETERDAAD_STATE_DIR)", err=True)  # fmt: skip
    kafka_broker.down(state_dir)
    postgres_server.down(state_dir)


@infra_app.command("status")
def infra_status() -> None:
    """Say whether the Kafka broker and PostgreSQL that `infra up` exported run and answer."""
    from urllib.parse import urlsplit

    from infra import kafka_broker, postgres_server
    from infra.exports import recorded

    settings = validated_settings()
    # What `infra up` printed for this state dir; the port settings only when it never ran.
    exported = recorded(settings.state_dir.resolve())
    bootstrap = exported.get("HETERDAAD_KAFKA_BOOTSTRAP", f"127.0.0.1:{settings.kafka_port}")
    dsn = exported.get(
        "HETERDAAD_DATABASE_URL",
        postgres_server.dsn_for(settings.postgres_port, "heterdaad", "heterdaad", "heterdaad"),
    )
    kafka_ok = kafka_broker.is_ready(bootstrap, timeout=5)
    postgres_ok = postgres_server.is_ready(dsn, timeout=5)
    typer.echo(f"kafka {bootstrap}: {'ready' if kafka_ok else 'not answering'}")
    typer.echo(f"postgres {urlsplit(dsn).netloc.rpartition('@')[2]}: "
               f"{'ready' if postgres_ok else 'not answering'}")  # fmt: skip
    if not (kafka_ok and postgres_ok):
        raise typer.Exit(3)


ROLE_HELP = (
    "The stages this process runs: all (the default), live (verify_alarms and "
    "report_robberies: what alerts on a press or a robbery now), or patterns (link_series, "
    "detect_hotspots, link_reconnaissance); run live and patterns side by side, never with "
    "all (docs/operations.md, 'Worker roles')."
)


def _role(text: str) -> str:
    from streams.roles import UnknownRole, parse_role

    try:
        return parse_role(text)
    except UnknownRole as error:
        raise typer.BadParameter(str(error)) from None


@app.command()
def worker(
    role: Annotated[str, typer.Option(help=ROLE_HELP, callback=_role)] = "all",
) -> None:
    """Run the Faust stream processors (one worker of the consumer group)."""

    from heterdaad.health import serve_consumer
    from schemas.topics import all_topics
    from streams.app import Worker, create_app
    from streams.roles import parse_role, role_app_id
    from streams.supervision import EXIT_TOPICS
    from streams.topology import input_topics, internal_topics, topic_problems

    settings = validated_settings()
    faust_app = create_app(settings, parse_role(role))
    plans = [
        *all_topics(settings.topic_prefix, settings.personal_data_retention_days),
        *internal_topics(faust_app),
    ]
    # Refused before Faust starts: Faust would create a missing internal topic itself, and a
    # wrong partition count only shows later, as an agent's PartitionsMismatch.
    if problems := asyncio.run(topic_problems(settings, plans)):
        typer.echo(
            f"heterdaad worker: not starting: {'; '.join(problems)} "
            "(create them with `heterdaad topics create`)",
            err=True,
        )
        raise typer.Exit(EXIT_TOPICS)
    # The modules, the app and its stages live as long as the process: out of the collector's
    # sight, a full collection no longer walks them, which keeps its pauses out of the alerts'
    # latency. Fewer, larger young collections do the same for the objects of each event.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    # The database too: alarm verification reads the maintenance windows from it.
    group = role_app_id(settings, parse_role(role))
    serve_consumer(settings, group, input_topics(faust_app), settings.metrics.worker_port)
    worker = Worker(faust_app, loglevel=settings.log_level.lower())
    worker.log_format = settings.log_format
    worker.execute_from_commandline()


@app.command("worker-ready")
def worker_ready(
    role: Annotated[str, typer.Option(help=ROLE_HELP, callback=_role)] = "all",
) -> None:
    """Exit 0 when the workers' group consumes every stage's input within the lag bound
    (HETERDAAD_WORKER_READY_MAX_LAG), 1 with the reasons otherwise: a healthcheck."""
    import json

    from heterdaad.consumption import group_readiness
    from streams.app import create_app
    from streams.roles import parse_role, role_app_id
    from streams.topology import input_topics

    settings = validated_settings()
    group = role_app_id(settings, parse_role(role))
    topics = input_topics(create_app(settings, parse_role(role)))
    try:
        readiness = asyncio.run(
            group_readiness(settings, group, topics, settings.worker_ready_max_lag)
        )
    except Exception as error:  # a broker it cannot ask means: not ready, said as /readyz says it
        typer.echo(json.dumps({"ready": False, "problems": [repr(error)]}))
        raise typer.Exit(1) from None
    typer.echo(json.dumps(readiness.as_json()))
    if not readiness.ready:
        raise typer.Exit(1)


@app.command()
def api() -> None:
    """Run the ingest API (HTTP) for alarm centres, retailers and the /meld form."""
    import uvicorn

    from assembly.api import create_app
    from assembly.startup import service_settings

    settings = service_settings(plates=True)
    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None,
        **settings.uvicorn_options(),
    )  # fmt: skip


@app.command()
def sink() -> None:
    """Persist every event, alert and alarm task in PostgreSQL; runs retention daily."""
    from assembly.startup import service_settings
    from consumers.retention import run_retention_schedule
    from consumers.sink import SUNK, Sink
    from heterdaad.db import create_pool
    from heterdaad.health import serve_consumer

    settings = service_settings()

    async def run() -> None:
        stop = stop_on_signals()
        # The sink runs for good wherever data is stored, so it carries the retention schedule
        # on a pool of its own (one connection): a long purge never holds up a write.
        pool = await create_pool(settings, max_size=1)
        retention = asyncio.create_task(run_retention_schedule(pool, settings, stop))
        try:
            async with Sink(settings) as running:
                serve_consumer(settings, running.group_id,
                               [spec.name(settings.topic_prefix) for spec in SUNK],
                               settings.metrics.sink_port)  # fmt: skip
                await running.run(stop)
        finally:
            stop.set()
            await retention
            await pool.close()

    asyncio.run(run())


@app.command()
def demo(
    rate: Annotated[
        float, typer.Option(help="Live events per second, once the history is loaded.")
    ] = 5.0,
    language: Annotated[str | None, typer.Option(help="nl or en.")] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Start over: forget the organisations, keys, users and events kept."
        ),
    ] = False,
    history_days: Annotated[
        float, typer.Option(min=0, help="Days of history loaded first (0: none).")
    ] = 120.0,
) -> None:
    """The main job: embedded broker and database, all parts, history, then live; Ctrl-C stops.

    Writes .heterdaad/demo.env: `source` it to use the CLI and the README's examples.
    """
    from rich.console import Console
    from rich.markup import escape

    from heterdaad.notation import DUTCH_TIME
    from infra.demo import run_demo
    from infra.demo_setup import PortBusy

    settings = validated_settings()
    if language is not None:
        if language not in ("nl", "en"):
            raise typer.BadParameter("nl or en", param_hint="--language")
        settings = settings.model_copy(update={"language": language})
    console = Console(highlight=False)

    def say(line: str) -> None:
        # escape: alert text holds brackets ("[urgent]") that rich would read as markup.
        # Dutch time, as the alert texts it prints say it, whatever the machine's zone.
        stamp = datetime.now(DUTCH_TIME)
        console.print(f"[dim]{stamp:%H:%M:%S}[/dim] {escape(line)}", soft_wrap=True)

    async def run() -> None:
        await run_demo(settings, stop_on_signals(), say, traffic_rate=rate,
                       history_days=history_days, fresh=fresh)  # fmt: skip

    try:
        asyncio.run(run())
    except PortBusy as busy:
        typer.echo(f"heterdaad demo: {busy}", err=True)
        raise typer.Exit(1) from busy


@app.command("digest")
def digest(
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM.")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the HTML, CSV and PDF files.")
    ] = Path("digests"),
    language: Annotated[
        str | None, typer.Option("--language", help="nl or en (default: HETERDAAD_LANGUAGE).")
    ] = None,
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also write a PDF (needs weasyprint).")
    ] = False,
) -> None:
    """Write the monthly digest for the retailer-police working group (HTML, CSV, PDF)."""
    from typing import cast

    from rich.progress import Progress

    from consumers.digest import Month, write_digest
    from consumers.digest.export import pdf_available
    from heterdaad.language import Language

    settings = validated_settings()
    if pdf and not pdf_available():
        from heterdaad.cli_errors import FAILURE_EXIT, text

        typer.echo(f"heterdaad: {text('pdf_missing')}", err=True)
        raise typer.Exit(FAILURE_EXIT)
    try:
        Month.parse(month, now=datetime.now(UTC))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--month") from error
    if language not in (None, "nl", "en"):
        raise typer.BadParameter("nl or en", param_hint="--language")
    with Progress(transient=True) as bar:
        task = bar.add_task("digest", total=None)

        def advance(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        html = asyncio.run(
            write_digest(
                settings, month, out, language=cast("Language | None", language), pdf=pdf,
                progress=advance,
            )
        )  # fmt: skip
    typer.echo(str(html))


# SimulationConfig's fields whose option is named otherwise.
_SIMULATE_OPTIONS = {
    "truth_path": "truth", "late_entry_share": "late-share", "late_entry_days": "late-days",
    "sparse_reports": "sparse",
}  # fmt: skip


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same events.")] = 1,
    days: Annotated[float, typer.Option(help="Length of the simulated period.")] = 30.0,
    rate: Annotated[
        float | None, typer.Option(help="Events per second; default: as fast as possible.")
    ] = None,
    target: Annotated[str, typer.Option(help="kafka (direct) or http (the ingest API).")] = "kafka",
    api_url: Annotated[str | None, typer.Option(help="Base URL of the ingest API.")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="HETERDAAD_SIMULATE_API_KEY")] = None,
    truth: Annotated[Path | None, typer.Option(help="Write the ground truth here.")] = None,
    history_days: Annotated[
        float | None,
        typer.Option(help="History mode: the last N days at full speed, straight to Kafka "
                     "through a batching producer (overrides --days, --rate, --target)."),
    ] = None,
    robberies_per_year: Annotated[
        float | None, typer.Option(help="Background robberies a year (2012: 1982; default 900).")
    ] = None,
    hotspots: Annotated[int, typer.Option(help="Planted hotspots in the last 3 days.")] = 0,
    alarm_days: Annotated[
        float | None, typer.Option(help="Alarm traffic only in the last N days.")
    ] = None,
    late_share: Annotated[
        float, typer.Option(help="Share of reports and sightings entered late.")
    ] = 0.0,
    late_days: Annotated[
        tuple[float, float], typer.Option(help="Min and max delay of a late entry, in days.")
    ] = (1.0, 30.0),
    sparse: Annotated[
        bool, typer.Option(help="Sparse reports: modus operandi, descriptions, plates missing.")
    ] = False,
    witness_noise: Annotated[
        float, typer.Option(help="Chance that a witness gets each detail wrong.")
    ] = 0.0,
    crew_changes: Annotated[
        float, typer.Option(help="Chance a crew changes car, weapon, clothing or kind of branch.")
    ] = 0.0,
    shared_area_crews: Annotated[
        int, typer.Option(help="Extra crews in the area and weeks of a planted series.")
    ] = 0,
    copycats: Annotated[int, typer.Option(help="Copycat robberies per planted series.")] = 0,
    single_sighting_share: Annotated[
        float, typer.Option(help="Share of reconnaissance patterns with a single sighting.")
    ] = 0.0,
    hardest: Annotated[
        bool, typer.Option(help="All evaluation dials at their hardest defaults "
                           "(docs/evaluation.md); overrides the dial options.")
    ] = False,
) -> None:
    """Send realistic traffic over real Dutch places, with planted series and reconnaissance."""
    from pydantic import ValidationError

    from producers.simulator import SimulationConfig
    from producers.simulator import simulate as run_simulation

    if target not in ("kafka", "http"):
        raise typer.BadParameter("kafka or http", param_hint="--target")
    if history_days is not None:
        days, rate, target = history_days, None, "kafka"
    settings = validated_settings()
    extra: dict[str, object] = {}
    if robberies_per_year is not None:
        extra["robberies_per_year"] = robberies_per_year
    from producers.simulator.dials import HARDEST_DIALS

    dials: dict[str, object] = {
        "sparse_reports": sparse, "witness_noise": witness_noise, "crew_changes": crew_changes,
        "shared_area_crews": shared_area_crews, "copycats": copycats,
        "single_sighting_share": single_sighting_share,
    }  # fmt: skip
    if hardest:
        dials = dict(HARDEST_DIALS)
    try:
        config = SimulationConfig.model_validate({
            "seed": seed, "days": days, "rate": rate, "truth_path": truth, "hotspots": hotspots,
            "alarm_days": alarm_days, "late_entry_share": late_share, "late_entry_days": late_days,
            **extra, **dials,
        })  # fmt: skip
    except ValidationError as error:
        # A value out of range is a usage error of the option it came from, not a traceback.
        problem = error.errors(include_url=False)[0]
        field = str(problem["loc"][0]) if problem["loc"] else ""
        if field == "days" and history_days is not None:
            field = "history_days"
        if not field:  # a rule across fields
            raise typer.BadParameter(problem["msg"]) from None
        option = _SIMULATE_OPTIONS.get(field, field.replace("_", "-"))
        raise typer.BadParameter(problem["msg"], param_hint=f"--{option}") from None
    report = asyncio.run(
        run_simulation(
            settings,
            config,
            target="kafka" if target == "kafka" else "http",
            api_url=api_url,
            api_key=api_key,
            progress=True,
        )
    )
    typer.echo(
        f"sent {sum(report.sent.values())} events ({report.sent}), rejected {report.rejected}, "
        f"in {report.seconds:.1f} s ({report.events_per_second:.0f} events/s)"
    )


@receiver_app.command("sia")
def receiver_sia() -> None:
    """Receive SIA DC-09 frames from alarm panels and alarm centres over TCP."""
    from datetime import timedelta

    from assembly.startup import service_settings
    from heterdaad import health
    from producers.sia.receiver import SiaReceiver

    settings = service_settings()

    async def run() -> None:
        async with SiaReceiver(
            settings,
            settings.sia_host,
            settings.sia_port,
            supervision_default=timedelta(hours=settings.sia_supervision_hours),
            supervision_check_every=timedelta(seconds=settings.sia_supervision_check_seconds),
        ):
            checks = [health.database_check(settings), health.broker_check(settings)]
            health.serve(health.Probe(settings, checks), settings.metrics.sia_port)
            await stop_on_signals().wait()

    asyncio.run(run())


def main() -> None:
    """`heterdaad`: the commands above, with errors the user can mend said in one line."""
    from heterdaad.cli_errors import FAILURE_EXIT, explain
    from heterdaad.settings import get_settings

    try:
        app()
    except Exception as error:
        cause = _innermost(error)
        settings = get_settings()
        line = explain(cause, settings)
        if line is None:
            raise
        if settings.log_level == "DEBUG":  # the one line, and what lies behind it
            traceback.print_exception(error)
        typer.echo(f"heterdaad: {line}", err=True)
        raise SystemExit(FAILURE_EXIT) from None


def _innermost(error: BaseException) -> BaseException:
    # Task groups wrap the failure that matters; so do some clients' own error types.
    while True:
        if isinstance(error, BaseExceptionGroup) and error.exceptions:
            error = error.exceptions[0]
        elif error.__cause__ is not None and not isinstance(error, OSError):
            error = error.__cause__
        else:
            return error


if __name__ == "__main__":
    main()
