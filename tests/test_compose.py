"""docker-compose.yml: every service's command exists in the CLI, and waits are on healthchecks.

No Docker engine runs here, so the file is checked by reading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from heterdaad.cli import app

COMPOSE = yaml.safe_load((Path(__file__).parents[1] / "docker-compose.yml").read_text())
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


def test_kafka_creates_no_topic_by_itself() -> None:
    # A topic made by a stray metadata request gets one partition and breaks co-partitioning.
    assert str(SERVICES["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"


def test_worker_is_restarted_after_a_crash() -> None:
    assert OURS["worker"]["restart"] in {"unless-stopped", "always", "on-failure"}
