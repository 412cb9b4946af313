"""JSON Schema of every model and an AsyncAPI 3 document of the topics, for other languages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml

from schemas.alerts import BranchAlertView, PoliceAlertView, WatchAlertView
from schemas.topics import CATALOGUE, DEAD_LETTER_PARTITIONS

if TYPE_CHECKING:
    from pathlib import Path

    from schemas.common import Contract

_CLOUDEVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents Kafka protocol binding, binary content mode.",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "The event id (idempotency key)."},
        "ce_source": {"type": "string", "description": "URI of the producing organisation."},
        "ce_type": {"type": "string"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The record key."},
        "ce_partitionkey": {
            "type": "string",
            "description": "CloudEvents partitioning extension: the record key, which decides "
            "the partition.",
        },
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def _cloudevent_headers(ce_type: str) -> dict[str, Any]:
    properties = _CLOUDEVENT_HEADERS["properties"] | {
        "ce_type": {"type": "string", "const": ce_type}
    }
    return _CLOUDEVENT_HEADERS | {"properties": properties}


JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONTRACT_VERSION = "1"


def model_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema (draft 2020-12) of every value model and alert view, by model name.

    Each names its dialect ($schema) and a stable $id, so validators in other languages neither
    guess the draft nor confuse two versions of one model.
    """
    models: list[type[Contract]] = [spec.value_model for spec in CATALOGUE]
    models += [PoliceAlertView, BranchAlertView, WatchAlertView]
    return {
        model.__name__: {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": f"urn:heterdaad:contract:v{CONTRACT_VERSION}:{model.__name__}",
        }
        | model.model_json_schema(mode="validation")
        for model in models
    }


def asyncapi_document(prefix: str) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in CATALOGUE:
        model = spec.value_model.__name__
        channel_id = spec.suffix.replace(".", "_")
        messages[model] = {
            "name": model,
            "title": model,
            "contentType": "application/json",
            "summary": (spec.value_model.__doc__ or "").strip().splitlines()[0],
            "headers": _cloudevent_headers(spec.ce_type),
            "payload": {"$ref": f"schemas/{model}.schema.json"},
            "bindings": {"kafka": {"key": {"type": "string", "description": spec.key_field}}},
        }
        topic_config: dict[str, Any] = {
            "cleanup.policy": ["compact" if spec.compacted else "delete"]
        }
        if spec.retention_ms is not None:
            topic_config["retention.ms"] = spec.retention_ms
        channels[channel_id] = {
            "address": spec.name(prefix),
            "description": spec.description,
            "messages": {model: {"$ref": f"#/components/messages/{model}"}},
            "bindings": {
                "kafka": {
                    "topic": spec.name(prefix),
                    "partitions": spec.partitions,
                    "replicas": 1,
                    "topicConfiguration": topic_config,
                }
            },
        }
        channels[f"{channel_id}_dlq"] = {
            "address": spec.dead_letter_name(prefix),
            "description": f"Records of {spec.name(prefix)} that could not be used: the "
            "original value and headers plus x-heterdaad-dlq-reason, -topic, -partition, "
            "-offset, -stage and -at.",
            "bindings": {"kafka": {"partitions": DEAD_LETTER_PARTITIONS}},
        }
        operations[f"send_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{model}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Heterdaad",
            "version": "1.0.0",
            "description": "Topics of Heterdaad, the robbery alerting system. Every record is a "
            "CloudEvent in Kafka binary mode; licence plates appear only as keyed-hash "
            "pseudonyms.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def write_all(directory: Path, prefix: str) -> list[Path]:
    """Write schemas/<Model>.schema.json and asyncapi.yaml under `directory`."""
    schema_dir = directory / "schemas"
    schema_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in model_schemas().items():
        path = schema_dir / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    asyncapi = directory / "asyncapi.yaml"
    asyncapi.write_text(
        yaml.safe_dump(asyncapi_document(prefix), sort_keys=False, allow_unicode=True)
    )
    written.append(asyncapi)
    return written
