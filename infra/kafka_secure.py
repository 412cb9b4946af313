"""The production profile of the local Kafka (`heterdaad infra up --secure`): TLS and
SASL/SCRAM-SHA-512 on its one client listener, one principal per service with only the ACLs
it needs, every password from the environment with no default."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka.helpers import create_ssl_context

from heterdaad.kafka import SCRAM_MECHANISM
from schemas.topics import (
    ALARM_ACTIVATIONS,
    ALARM_TASKS,
    ALERTS,
    INCIDENT_REPORTS,
    RECON_SIGHTINGS,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from heterdaad.settings import Settings
    from schemas.topics import TopicSpec

logger = logging.getLogger(__name__)

ADMIN = "admin"
PASSWORD_ENV = "HETERDAAD_KAFKA_PASSWORD_{}"
MIN_PASSWORD_LENGTH = 16
_ACL_TOOL = "CreateAcls.java"


class KafkaSecurityError(RuntimeError):
    """The secure profile cannot start: a secret is missing or too short, or a tool failed."""


@dataclass(frozen=True)
class Acl:
    principal: str
    resource: str  # topic, group
    pattern: str  # literal, prefixed
    name: str
    operations: tuple[str, ...]

    def lines(self) -> list[str]:
        # Kafka's enums are read by their upper-case names (PatternType.fromString).
        kind, pattern = self.resource.upper(), self.pattern.upper()
        return [f"User:{self.principal}|{kind}|{pattern}|{self.name}|{operation.upper()}"
                for operation in self.operations]  # fmt: skip


def _writes(principal: str, prefix: str, *specs: TopicSpec) -> list[Acl]:
    return [Acl(principal, "topic", "literal", spec.name(prefix), ("write", "describe"))
            for spec in specs]  # fmt: skip


def _reads(principal: str, prefix: str, *specs: TopicSpec) -> list[Acl]:
    return [Acl(principal, "topic", "literal", spec.name(prefix), ("read", "describe"))
            for spec in specs]  # fmt: skip


def _dead_letters(principal: str, prefix: str, *specs: TopicSpec) -> list[Acl]:
    return [Acl(principal, "topic", "literal", spec.dead_letter_name(prefix), ("write", "describe"))
            for spec in specs]  # fmt: skip


def service_acls(settings: Settings) -> dict[str, list[Acl]]:
    """Each service's principal and what it may do; `admin` (topics create) is super user."""
    p, app = settings.topic_prefix, settings.app_id
    # What consumers/sink.py SUNK reads (tests/infra/test_kafka_secure.py holds them equal).
    sunk = (ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS, ALERTS, ALARM_TASKS)
    return {
        # Every stage reads and writes the catalogue; its internal topics and group are its own.
        "worker": [
            Acl("worker", "topic", "prefixed", p, ("read", "write", "describe")),
            Acl("worker", "topic", "prefixed", app, ("all",)),
            Acl("worker", "group", "prefixed", app, ("read", "describe")),
        ],
        # The intake API, the SIA receiver and the CBL importer only write what they take in:
        # none of them reads an alert.
        "api": [
            *_writes("api", p, ALARM_ACTIVATIONS, INCIDENT_REPORTS, RECON_SIGHTINGS),
            # /readyz reads the workers' group: its members and committed offsets, no records.
            Acl("api", "group", "literal", app, ("describe",)),
        ],
        "sia": _writes("sia", p, ALARM_ACTIVATIONS),
        "importer": _writes("importer", p, INCIDENT_REPORTS),
        "sink": [
            *_reads("sink", p, *sunk),
            *_dead_letters("sink", p, *sunk),
            Acl("sink", "group", "literal", f"{app}-sink", ("read", "describe")),
        ],
        "notify": [
            *_reads("notify", p, ALERTS),
            *_dead_letters("notify", p, ALERTS),
            Acl("notify", "group", "literal", f"{app}-notify", ("read", "describe")),
        ],
        # The desk publishes the bulletins its users write (consumers/desk/bulletins.py).
        "desk": [*_reads("desk", p, ALERTS), *_writes("desk", p, ALERTS)],
    }


def passwords_from(env: Mapping[str, str], principals: list[str]) -> dict[str, str]:
    """Every principal's password from HETERDAAD_KAFKA_PASSWORD_<NAME>; all missing or short
    ones named in one error, and no default that would work."""
    passwords, wrong = {}, []
    for principal in principals:
        name = PASSWORD_ENV.format(principal.upper())
        value = env.get(name, "")
        if len(value) < MIN_PASSWORD_LENGTH:
            wrong.append(name)
        passwords[principal] = value
    if wrong:
        raise KafkaSecurityError(
            f"set {', '.join(wrong)} to random secrets of {MIN_PASSWORD_LENGTH}+ characters"
        )
    return passwords


@dataclass(frozen=True)
class SecureProfile:
    """What the broker needs for TLS + SCRAM: its certificate, the principals and their ACLs."""

    directory: Path
    passwords: dict[str, str]
    acls: list[Acl]

    @property
    def cafile(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker-keystore.pem"

    def client_options(self, principal: str = ADMIN) -> dict[str, Any]:
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": SCRAM_MECHANISM,
            "sasl_plain_username": principal,
            "sasl_plain_password": self.passwords[principal],
            "ssl_context": create_ssl_context(cafile=str(self.cafile)),
        }

    def properties(self, port: int, controller_port: int) -> dict[str, str]:
        admin = self.passwords[ADMIN]
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
            "inter.broker.listener.name": "SASL_SSL",
            # The controller listener is on loopback only and never advertised to clients.
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{ADMIN}" password="{admin}";'
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore.resolve()),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.cafile.resolve()),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # ANONYMOUS is the broker itself on the loopback controller listener (registration);
            # on the client listener every connection is a SCRAM principal.
            "super.users": f"User:{ADMIN};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        }

    def scram_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that store every principal's SCRAM credential."""
        arguments = []
        for principal, password in self.passwords.items():
            credential = f"{SCRAM_MECHANISM}=[name={principal},password={password}]"
            arguments += ["--add-scram", credential]
        return arguments

    def admin_config(self) -> Path:
        path = self.directory / "admin.properties"
        path.write_text(
            "security.protocol=SASL_SSL\n"
            f"sasl.mechanism={SCRAM_MECHANISM}\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{self.passwords[ADMIN]}";\n'
            "ssl.truststore.type=PEM\n"
            f"ssl.truststore.location={self.cafile.resolve()}\n"
        )
        path.chmod(0o600)
        return path

    def create_acls(self, java: str, libs: Path, bootstrap: str, tool_dir: Path) -> None:
        lines = "\n".join(line for acl in self.acls for line in acl.lines())
        result = subprocess.run(
            [java, "-cp", f"{libs}/*", str(tool_dir / _ACL_TOOL), bootstrap,
             str(self.admin_config())],
            input=lines, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if result.returncode != 0:
            raise KafkaSecurityError(f"creating ACLs failed:\n{result.stderr.strip()[-4000:]}")
        logger.info("Kafka ACLs created", extra={"acls": len(self.acls)})


def make_certificates(directory: Path, hosts: list[str]) -> None:
    """A CA and a broker certificate for `hosts` signed by it (openssl); kept if present."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "broker-keystore.pem").is_file():
        return
    names = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() else f"DNS:{h}" for h in hosts)
    (directory / "san.ext").write_text(f"subjectAltName={names}\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "825", "-subj", "/CN=heterdaad-kafka-ca"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
         "-subj", "/CN=heterdaad-kafka"],
        ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "broker.crt", "-days", "825", "-extfile", "san.ext"],
    ]  # fmt: skip
    for step in steps:
        result = subprocess.run(["openssl", *step], cwd=directory, capture_output=True,
                                text=True, check=False)  # fmt: skip
        if result.returncode != 0:
            raise KafkaSecurityError(f"openssl {step[0]} failed:\n{result.stderr.strip()}")
    keystore = (directory / "broker.key").read_text() + (directory / "broker.crt").read_text()
    (directory / "broker-keystore.pem").write_text(keystore)
    for private in ("ca.key", "broker.key", "broker-keystore.pem"):
        (directory / private).chmod(0o600)


def secure_profile(settings: Settings, directory: Path, env: Mapping[str, str]) -> SecureProfile:
    """The profile for these settings: certificates made in `directory` if absent, passwords
    from `env` (refused when one is unset)."""
    acls = service_acls(settings)
    passwords = passwords_from(env, [ADMIN, *acls])
    make_certificates(directory, ["127.0.0.1", "localhost", "kafka"])
    return SecureProfile(directory, passwords, [acl for group in acls.values() for acl in group])


def acl_script(settings: Settings, bootstrap: str = "kafka:9092") -> str:
    """The ACLs as `kafka-acls.sh` commands, for compose's kafka-acls service (the image has
    no compiler for CreateAcls.java); infra/kafka/compose-acls.sh is this, for the defaults."""
    lines = [
        "#!/bin/bash",
        "# Generated by `heterdaad infra kafka-acls`: do not edit (tests/test_compose.py checks).",
        "set -euo pipefail",
        "umask 077",
        "CONFIG=/tmp/admin.properties",
        'cat > "$CONFIG" <<CONFIG',
        "security.protocol=SASL_SSL",
        f"sasl.mechanism={SCRAM_MECHANISM}",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN}" password="${{HETERDAAD_KAFKA_PASSWORD_ADMIN:?}}";',
        "ssl.truststore.type=PEM",
        "ssl.truststore.location=/etc/kafka/tls/ca.pem",
        "CONFIG",
    ]
    for acls in service_acls(settings).values():
        for acl in acls:
            kind = "--topic" if acl.resource == "topic" else "--group"
            operations = " ".join(f"--operation {op.title()}" for op in acl.operations)
            lines.append(
                f"/opt/kafka/bin/kafka-acls.sh --bootstrap-server {bootstrap} "
                f'--command-config "$CONFIG" --add --allow-principal User:{acl.principal} '
                f"--resource-pattern-type {acl.pattern} {kind} '{acl.name}' {operations}"
            )
    return "\n".join(lines) + "\n"
