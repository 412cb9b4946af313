"""docker-compose.yml: every service's command exists in the CLI, and waits are on healthchecks.

No Docker engine runs here, so the file is checked by reading it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from typer.testing import CliRunner

from assembly.cli import app
from heterdaad import metrics
from heterdaad.settings import Settings
from infra.kafka_secure import ADMIN, acl_script, service_acls

ROOT = Path(__file__).parents[1]
TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(TEXT)
ENTRYPOINT = (ROOT / "infra" / "kafka" / "compose-entrypoint.sh").read_text()
ACL_SCRIPT = (ROOT / "infra" / "kafka" / "compose-acls.sh").read_text()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: service for name, service in SERVICES.items() if "build" in service}


def test_our_services_are_there() -> None:
    assert {"migrate", "topics", "worker", "sink", "api", "sia-receiver"} <= set(OURS)


@pytest.mark.parametrize("name", sorted(OURS))
def test_service_command_exists_in_the_cli(name: str) -> None:
    result = CliRunner().invoke(app, [*OURS[name]["command"], "--help"])
    command = " ".join(OURS[name]["command"])
    assert result.exit_code == 0, f"{name}: heterdaad {command}: {result.output}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_waits_are_on_healthchecks_or_completed_setup(name: str) -> None:
    for dependency, rule in SERVICES[name].get("depends_on", {}).items():
        condition = rule["condition"]
        assert condition in {"service_healthy", "service_completed_successfully"}
        if condition == "service_healthy":
            assert "healthcheck" in SERVICES[dependency], f"{dependency} has no healthcheck"


PUBLISHED = [
    (name, str(port)) for name, service in SERVICES.items() for port in service.get("ports", [])
]


@pytest.mark.parametrize(("name", "port"), PUBLISHED)
def test_published_ports_are_on_loopback_unless_asked(name: str, port: str) -> None:
    # Issue 11, finding 3: the SIA port was published on 0.0.0.0, open to anyone who could
    # reach the host. Another address takes HETERDAAD_PUBLISH_HOST, set on purpose.
    assert port.startswith("${HETERDAAD_PUBLISH_HOST:-127.0.0.1}:"), f"{name}: {port}"


def test_kafka_creates_no_topic_by_itself() -> None:
    # A topic made by a stray metadata request gets one partition and breaks co-partitioning.
    assert "\nauto.create.topics.enable=false\n" in ENTRYPOINT


# Not a secret: where the ports are published, loopback unless an operator says otherwise.
PUBLISH_HOST = "HETERDAAD_PUBLISH_HOST"


def test_no_secret_or_setting_from_the_environment_has_a_default() -> None:
    # `${X:-default}` would start with a known password; `${X:?why}` refuses to start.
    references = re.findall(r"\$\{([A-Z_]+)([^}]*)\}", TEXT)
    assert references
    # Only these two may default, and only to loopback: what is published, whom to believe.
    loopback = {PUBLISH_HOST, "HETERDAAD_TRUSTED_PROXIES"}
    secrets = [(name, rest) for name, rest in references if name not in loopback]
    assert all(rest.startswith(":?") for _, rest in secrets), secrets
    assert {rest for name, rest in references if name in loopback} == {":-127.0.0.1"}


def test_kafka_takes_only_tls_and_scram_and_enforces_acls() -> None:
    assert "\nlisteners=SASL_SSL://:9092,CONTROLLER://127.0.0.1:9093\n" in ENTRYPOINT
    assert "\nlistener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT\n" in ENTRYPOINT
    assert "\nsasl.enabled.mechanisms=SCRAM-SHA-512\n" in ENTRYPOINT
    assert "\nallow.everyone.if.no.acl.found=false\n" in ENTRYPOINT
    assert "ports" not in SERVICES["kafka"], "Kafka is for the services on the compose network"


def test_every_kafka_client_is_its_own_principal() -> None:
    clients = {
        name: service["environment"]
        for name, service in OURS.items()
        if service["environment"].get("HETERDAAD_KAFKA_SECURITY_PROTOCOL") == "SASL_SSL"
    }
    assert set(clients) == set(OURS) - {"migrate"}
    # The two workers are one service split by role (streams/roles.py), with one principal.
    assert clients.pop("worker-patterns")["HETERDAAD_KAFKA_SASL_USERNAME"] == "worker"
    principals = [env["HETERDAAD_KAFKA_SASL_USERNAME"] for env in clients.values()]
    assert len(principals) == len(set(principals)), "two services share a principal"
    known = [ADMIN, *service_acls(Settings(_env_file=None))]
    assert set(principals) <= set(known)
    # The broker stores a SCRAM credential for exactly these.
    assert f'PRINCIPALS="{" ".join(known)}"' in ENTRYPOINT


def test_the_acl_script_is_the_generated_one() -> None:
    assert acl_script(Settings(_env_file=None)) == ACL_SCRIPT, "run heterdaad infra kafka-acls"


def test_worker_is_restarted_after_a_crash() -> None:
    for name in ("worker", "worker-patterns"):
        assert OURS[name]["restart"] in {"unless-stopped", "always", "on-failure"}


def test_the_workers_run_every_stage_once_the_live_alerts_in_a_process_of_their_own() -> None:
    from streams.roles import STAGES, parse_role

    commands = [s["command"] for s in OURS.values() if s["command"][0] == "worker"]
    roles = [parse_role(command[command.index("--role") + 1]) for command in commands]
    stages = [stage for role in roles for stage in STAGES[role]]
    assert sorted(stages) == sorted(STAGES["all"])
    assert STAGES["live"] in [STAGES[role] for role in roles]
    # Each worker's healthcheck asks its own role's group.
    for service in OURS.values():
        if service["command"][0] == "worker":
            assert service["healthcheck"]["test"][2:] == ["worker-ready", *service["command"][1:]]


# --- metrics: Prometheus scrapes every long-running service, Grafana shows the dashboard ----

PROMETHEUS = yaml.safe_load((ROOT / "infra" / "prometheus.yml").read_text())
GRAFANA = ROOT / "infra" / "grafana"
DASHBOARD = json.loads((GRAFANA / "heterdaad.json").read_text())
LONG_RUNNING = {"worker", "worker-patterns", "sink", "notify", "api", "desk", "sia-receiver"}


def _settings_ports() -> dict[str, int]:
    defaults = Settings(_env_file=None)
    return {
        "api": defaults.api_port,
        "desk": defaults.desk_port,
        "worker": defaults.metrics.worker_port,
        "worker-patterns": defaults.metrics.worker_port,
        "sink": defaults.metrics.sink_port,
        "notify": defaults.metrics.notify_port,
        "sia-receiver": defaults.metrics.sia_port,
    }


def test_prometheus_scrapes_every_long_running_service_on_its_settings_port() -> None:
    targets = {
        job["job_name"]: target
        for job in PROMETHEUS["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert set(targets) == LONG_RUNNING and set(OURS) >= LONG_RUNNING
    assert targets == {name: f"{name}:{port}" for name, port in _settings_ports().items()}


def test_the_metrics_servers_listen_on_the_compose_network(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback inside a container is out of Prometheus' reach; no port of theirs is published.
    for name in ("worker", "worker-patterns", "sink", "notify", "sia-receiver"):
        host = OURS[name]["environment"]["HETERDAAD_METRICS__HOST"]
        assert host == "0.0.0.0"
        published = OURS[name].get("ports", [])
        assert not any(f":{_settings_ports()[name]}" in port for port in published)
    # The variable is the one the settings read.
    monkeypatch.setenv("HETERDAAD_METRICS__HOST", "0.0.0.0")
    assert Settings(_env_file=None).metrics.host == "0.0.0.0"


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    check = " ".join(OURS[name]["healthcheck"]["test"])
    # The workers ask their groups; the API its dependencies.
    if name not in {"worker", "worker-patterns", "api"}:
        assert f"http://127.0.0.1:{_settings_ports()[name]}/readyz" in check


def test_prometheus_and_grafana_run_provisioned() -> None:
    assert "./infra/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in (
        SERVICES["prometheus"]["volumes"]
    )
    grafana = SERVICES["grafana"]
    mounted = {volume.split(":")[0]: volume.split(":")[1] for volume in grafana["volumes"]}
    assert mounted["./infra/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboard_at = mounted["./infra/grafana/heterdaad.json"]
    provisioning = GRAFANA / "provisioning"
    providers = yaml.safe_load((provisioning / "dashboards" / "heterdaad.yml").read_text())
    paths = [provider["options"]["path"] for provider in providers["providers"]]
    assert paths == [str(Path(dashboard_at).parent)]
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    [source] = sources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    used = {panel["datasource"]["uid"] for panel in DASHBOARD["panels"]}
    assert used == {source["uid"]}


def _exposed_names() -> dict[str, set[str]]:
    """Each metric of heterdaad/metrics.py and the series names it exposes."""
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    exposed: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            [described] = value.describe()
            exposed[described.name] = {described.name + s for s in suffixes[described.type]}
    return exposed


def test_the_dashboard_shows_every_metric_and_only_those() -> None:
    expressions = [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]
    asked = set(re.findall(r"\bheterdaad_[a-z_]+", " ".join(expressions)))
    exposed = _exposed_names()
    assert asked <= set().union(*exposed.values()), "the dashboard asks for unknown series"
    assert all(names & asked for names in exposed.values()), "a metric without a panel"
