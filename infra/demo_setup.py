"""What the demo sets up around its services: free ports, the README's examples, demo.env.

The README's shell blocks run verbatim against the running demo (tests/infra/
test_readme_examples.py), so the demo registers what they name (organisation `cbl`, branch
`ah-1001`, the CBL example's retailers, alarm account 1234, a desk user) and writes the
addresses and keys they use to `.heterdaad/demo.env`. The database, and with it these
registrations and keys, outlives a run; only `--fresh` starts over.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import shlex
import socket
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from consumers.desk import add_user, set_password
from heterdaad.auth import SUBSCRIPTIONS_WRITE
from producers.api import admin
from producers.api.kinds import default_scopes
from schemas.common import Address, Branch, BranchType, Location, PoliceUnit

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

logger = logging.getLogger(__name__)

ENV_FILE = "demo.env"
# The organisation of the README's examples, and the branch its report names (the Damrak).
EXAMPLE_ORG = "cbl"
EXAMPLE_BRANCH = Branch(
    branch_id="ah-1001",
    chain="Buurtsuper",
    branch_type=BranchType.SUPERMARKET,
    location=Location(lat=52.3757, lon=4.8965),
    address=Address(street="Damstraat 1", postcode="1012 JL", city="Amsterdam"),
)
# The members and branches named in docs/examples/cbl-example.csv (docs/cbl-import.md), each
# with an address, as a registered branch has: the desk's card names it (README, "The police
# desk").
CBL_MEMBERS = {
    "buurtmarkt": ("Buurtmarkt", [
        ("BM-0412", 52.3731, 4.8922, Address(street="Nieuwezijds Voorburgwal 147",
                                             postcode="1012 RJ", city="Amsterdam")),
        ("BM-0377", 52.0907, 5.1214, Address(street="Oudegracht 152", postcode="3511 AZ",
                                             city="Utrecht")),
    ]),
    "versplein": ("Versplein", [
        ("VP-0033", 51.9225, 4.4792, Address(street="Coolsingel 64", postcode="3011 AD",
                                             city="Rotterdam")),
        ("VP-0101", 52.0705, 4.3007, Address(street="Spuistraat 40", postcode="2511 BE",
                                             city="Den Haag")),
    ]),
}  # fmt: skip
# The README's DC-09 example: a plain panic from account 1234. A hand-typed frame cannot be
# encrypted, so this one site is marked for plain frames (its activations are flagged
# unauthenticated and never verify an alarm; docs/sia.md).
ALARM_CENTRE = "pac-noord"
JEWELLER = Branch(
    branch_id="juwelier-1",
    chain="Goudsmid",
    branch_type=BranchType.JEWELLER,
    location=Location(lat=52.3702, lon=4.8910),
    address=Address(street="Kalverstraat 112", postcode="1012 PK", city="Amsterdam"),
)
PLAIN_SITE = ("site-1234", "1234")
# docs/notify.md subscribes the Amsterdam unit and the national coordinator.
POLICE = {"politie-ams": PoliceUnit.AMSTERDAM, "lfo": None}
DESK_USER = "demo"
DESK_UNIT = PoliceUnit.AMSTERDAM

_PORTS = (
    ("kafka_port", "HETERDAAD_KAFKA_PORT", "Kafka"),
    ("postgres_port", "HETERDAAD_POSTGRES_PORT", "PostgreSQL"),
    ("api_port", "HETERDAAD_API_PORT", "API"),
    ("sia_port", "HETERDAAD_SIA_PORT", "SIA"),
    ("desk_port", "HETERDAAD_DESK_PORT", "desk"),
    # The parts' health and metrics servers: taken, they are only logged and skipped, and the
    # demo's parts would run unobserved, or another system's /readyz answer for them.
    ("metrics.worker_port", "HETERDAAD_METRICS__WORKER_PORT", "worker metrics"),
    ("metrics.sink_port", "HETERDAAD_METRICS__SINK_PORT", "sink metrics"),
    ("metrics.notify_port", "HETERDAAD_METRICS__NOTIFY_PORT", "notify metrics"),
    ("metrics.sia_port", "HETERDAAD_METRICS__SIA_PORT", "SIA receiver metrics"),
)
_BUSY = (
    "port {port} ({what}, {variable}) is in use: stop what uses it (is `heterdaad infra up` or "
    "another demo running?) or choose another, for example export {variable}={other}"
)


class PortBusy(RuntimeError):
    """A port the demo needs is taken; the message says which and what to do, in one line."""


def _taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(settings: Settings) -> None:
    """Raise PortBusy naming the first port of the settings that something else holds."""
    hosts = {"api_port": settings.api_host, "sia_port": settings.sia_host,
             "desk_port": settings.desk_host}  # fmt: skip
    wanted: list[tuple[int, str, str, str]] = []
    for field, variable, what in _PORTS:
        group, _, name = field.rpartition(".")
        port: int = getattr(getattr(settings, group) if group else settings, name)
        host = settings.metrics.host if group == "metrics" else hosts.get(field, "127.0.0.1")
        wanted.append((port, host, variable, what))
    for port, host, variable, what in wanted:
        if port != 0 and _taken(host, port):  # a metrics port of 0 is a server turned off
            other = _free_port_near(host, port, {used for used, *_ in wanted})
            raise PortBusy(_BUSY.format(port=port, what=what, variable=variable, other=other))


def _free_port_near(host: str, port: int, used: set[int]) -> int:
    """The port the refusal suggests: free now and none the demo wants for another part.

    port + 1 was suggested blindly, and next to a taken port it is often taken too: beside
    `heterdaad infra up`'s Kafka (19092) is its controller (19093), so following the advice
    only led to the next refusal.
    """
    above = range(port + 1, min(port + 100, 65536))
    below = range(port - 1, max(port - 100, 1023), -1)
    for other in itertools.chain(above, below):
        if other not in used and not _taken(host, other):
            return other
    with socket.socket() as probe:  # none near: any the system has free
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class DemoSecrets:
    """Kept in the demo's state dir (owner-only) so a restart keeps keys and pseudonyms."""

    api_key: str
    desk_password: str
    plate_key: str
    # The alarm centre's key (docs/alarm-tasks.md); files of older demos lack it.
    alarm_key: str = ""

    @classmethod
    def load(cls, path: Path) -> DemoSecrets | None:
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, path: Path) -> None:
        path.touch(mode=0o600)
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")


async def seed(db: asyncpg.Connection, settings: Settings, kept: DemoSecrets | None) -> DemoSecrets:
    """Register the README's examples once; a later run keeps them and their keys."""
    seeded = await db.fetchval(
        "SELECT 1 FROM organisation WHERE organisation_id = $1", EXAMPLE_ORG
    )
    if seeded and kept is not None:
        if not kept.alarm_key:
            kept.alarm_key = await _alarm_centre_key(db)
        return kept
    plate_key = kept.plate_key if kept else secrets.token_urlsafe(32)
    if not seeded:
        await _register(db)
    desk_password = secrets.token_urlsafe(12)
    if seeded:
        # Registered by an earlier run whose secrets are gone: new ones for the same names.
        await set_password(db, DESK_USER, desk_password, thresholds=settings.desk)
    else:
        await add_user(db, DESK_USER, desk_password, DESK_UNIT, language=settings.language,
                       thresholds=settings.desk)  # fmt: skip
    # The README's examples post reports and manage subscriptions with this one key.
    scopes = [*default_scopes("trade_association"), SUBSCRIPTIONS_WRITE]
    issued = await admin.issue_key(db, EXAMPLE_ORG, scopes=scopes)
    logger.info("demo seeded", extra={"organisation_id": EXAMPLE_ORG, "key_id": issued.key_id})
    return DemoSecrets(api_key=issued.key, desk_password=desk_password, plate_key=plate_key,
                       alarm_key=await _alarm_centre_key(db))  # fmt: skip


async def _alarm_centre_key(db: asyncpg.Connection) -> str:
    """A key of the demo's alarm centre, for the alarm-task examples (reading, verdicts)."""
    issued = await admin.issue_key(db, ALARM_CENTRE, scopes=default_scopes("alarm_centre"))
    logger.info("demo seeded", extra={"organisation_id": ALARM_CENTRE, "key_id": issued.key_id})
    return issued.key


async def _register(db: asyncpg.Connection) -> None:
    await admin.create_organisation(db, EXAMPLE_ORG, "Centraal Bureau Levensmiddelenhandel",
                                    "trade_association")  # fmt: skip
    await admin.create_branch(db, EXAMPLE_ORG, EXAMPLE_BRANCH)
    for member, (name, branches) in CBL_MEMBERS.items():
        await admin.create_organisation(db, member, name, "retailer")
        await admin.add_association_member(db, EXAMPLE_ORG, member)
        for branch_id, lat, lon, address in branches:
            await admin.create_branch(db, member, Branch(
                branch_id=branch_id, chain=name, branch_type=BranchType.SUPERMARKET,
                location=Location(lat=lat, lon=lon), address=address))  # fmt: skip
    await admin.create_organisation(db, "goudsmid", "Goudsmid Juweliers", "retailer")
    await admin.create_branch(db, "goudsmid", JEWELLER)
    await admin.create_organisation(db, ALARM_CENTRE, "Alarmcentrale Noord", "alarm_centre")
    site_id, account = PLAIN_SITE
    await admin.create_alarm_site(db, site_id, ALARM_CENTRE, account,
                                  branch_id=JEWELLER.branch_id, sia_plain_frames=True)  # fmt: skip
    for organisation, unit in POLICE.items():
        await admin.create_organisation(db, organisation, f"Politie {organisation}", "police",
                                        police_unit=unit)  # fmt: skip


def write_env(path: Path, live: Settings, demo_secrets: DemoSecrets) -> Path:
    """The shell lines that point the CLI (and curl) at the running demo."""
    exports = {
        "HETERDAAD_KAFKA_BOOTSTRAP": live.kafka_bootstrap,
        "HETERDAAD_KAFKA_FLAVOUR": live.kafka_flavour,
        "HETERDAAD_DATABASE_URL": live.database_url,
        "HETERDAAD_DATABASE_SCHEMA": live.database_schema,
        "HETERDAAD_TOPIC_PREFIX": live.topic_prefix,
        "HETERDAAD_APP_ID": live.app_id,
        # The demo's own state dir: `heterdaad model fit` writes the model where its worker
        # reads it (and the demo restarts the worker to load it).
        "HETERDAAD_STATE_DIR": str(live.state_dir.resolve()),
        "HETERDAAD_PLATE_KEY": demo_secrets.plate_key,
        "HETERDAAD_API_HOST": live.api_host,
        "HETERDAAD_API_PORT": str(live.api_port),
        "HETERDAAD_SIA_HOST": live.sia_host,
        "HETERDAAD_SIA_PORT": str(live.sia_port),
        "HETERDAAD_DESK_HOST": live.desk_host,
        "HETERDAAD_DESK_PORT": str(live.desk_port),
        # `demo --language en`: `desk tail`, subscriptions and the digest in the second
        # terminal speak the demo's language.
        "HETERDAAD_LANGUAGE": live.language,
        # Not settings: what the README's examples use.
        "API": f"http://{live.api_host}:{live.api_port}",
        "KEY": demo_secrets.api_key,
        "ALARM_KEY": demo_secrets.alarm_key,
        "DESK_USER": DESK_USER,
        "DESK_PASSWORD": demo_secrets.desk_password,
    }
    # The interpreter's own bin/ (.venv/bin): `heterdaad` without activating anything.
    scripts = os.path.abspath(os.path.dirname(sys.executable))
    lines = [
        f"# Written by `heterdaad demo` at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: the "
        "running demo's addresses and keys. Use: source .heterdaad/demo.env",
        f'export PATH={shlex.quote(scripts)}:"$PATH"',
        *(f"export {name}={shlex.quote(value)}" for name, value in exports.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
