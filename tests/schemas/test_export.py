"""`heterdaad schemas export`: JSON Schema per model and an AsyncAPI document naming every topic."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from assembly.cli import app
from schemas.export import asyncapi_document, model_schemas
from schemas.topics import CATALOGUE, INCIDENT_REPORTS
from schemas.wire import encode
from tests.factories import incident_report

COMMITTED = Path(__file__).parents[2] / "docs" / "contract"


def test_every_topic_and_dead_letter_topic_is_a_channel() -> None:
    document = asyncapi_document("heterdaad.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    for spec in CATALOGUE:
        assert spec.name("heterdaad.") in addresses
        assert spec.dead_letter_name("heterdaad.") in addresses
    assert document["asyncapi"].startswith("3.")


def test_schemas_refuse_unknown_fields() -> None:
    # Producers in other languages must learn from the schema that extra fields are refused.
    for name, schema in model_schemas().items():
        assert schema.get("additionalProperties") is False, name


def test_schemas_name_their_dialect_and_a_unique_id() -> None:
    # Validators in other languages must not guess the draft, nor mix two models up.
    schemas = model_schemas()
    ids = {schema["$id"] for schema in schemas.values()}
    assert len(ids) == len(schemas)
    for schema in schemas.values():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_cloudevents_header_we_write_is_declared() -> None:
    # What schemas/wire.py really writes, not a list of our own: AsyncAPI must declare each.
    record = encode(INCIDENT_REPORTS, incident_report(), "urn:test")
    written = {name for name, _ in record.headers}
    assert "ce_partitionkey" in written
    for message in asyncapi_document("heterdaad.")["components"]["messages"].values():
        assert written <= set(message["headers"]["properties"])


def test_cli_writes_the_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schemas", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    asyncapi = yaml.safe_load((tmp_path / "asyncapi.yaml").read_text())
    for spec in CATALOGUE:
        model = spec.value_model.__name__
        schema = json.loads((tmp_path / "schemas" / f"{model}.schema.json").read_text())
        assert schema["title"] == model
        assert model in asyncapi["components"]["messages"]


def test_committed_contract_is_current(tmp_path: Path) -> None:
    # docs/contract is what alarm centres and chains read: it must match the code.
    CliRunner().invoke(app, ["schemas", "export", str(tmp_path)])
    for written in tmp_path.rglob("*.*"):
        committed = COMMITTED / written.relative_to(tmp_path)
        assert committed.read_text() == written.read_text(), (
            f"{committed} is stale: run `heterdaad schemas export`"
        )
