"""The answers every operation really gives, written into the spec where FastAPI omits them."""

from __future__ import annotations

from typing import Any

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_VALIDATION = {"$ref": "#/components/schemas/ValidationProblem"}
_FASTAPI_422 = {"$ref": "#/components/schemas/HTTPValidationError"}

RETRY_AFTER: dict[str, Any] = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
}


def _answer(description: str, schema: dict[str, str]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def declare_real_answers(spec: dict[str, Any], own_parsers: set[str]) -> None:
    """Completes each operation's responses in place.

    - 422 is always `{detail: [{field, reason}]}` (the app's validation handler), never
      FastAPI's HTTPValidationError;
    - an operation that takes a key answers 401 without a valid one and 403 when its
      organisation, role, unit or scope may not do this, and 503 when no database connection
      came free within database_wait_seconds (its key is looked up there; heterdaad.db),
      with Retry-After, as every 503 of theirs has (the broker's too);
    - FastAPI answers 400 to a body it cannot read as text (not UTF-8); the paths in
      own_parsers read their body themselves and answer 422 naming `(body)` instead.
    """
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            given = responses.get("422", {}).get("content", {}).get("application/json", {})
            if given.get("schema") == _FASTAPI_422:
                responses["422"] = _answer("Each offending field and why.", _VALIDATION)
            if operation.get("security"):
                unknown = "No key, or a key that is unknown, revoked or expired."
                responses.setdefault("401", _answer(unknown, _PROBLEM))
                refused = "The key's organisation, role, unit or scope may not do this."
                responses.setdefault("403", _answer(refused, _PROBLEM))
                busy = "No database connection free in time, or the database away; see Retry-After."
                responses.setdefault("503", _answer(busy, _PROBLEM))
                responses["503"].setdefault("headers", {"Retry-After": RETRY_AFTER})
            if "requestBody" in operation and path not in own_parsers:
                responses.setdefault("400", _answer("The body is not readable text.", _PROBLEM))
    schemas = spec.get("components", {}).get("schemas", {})
    if _FASTAPI_422["$ref"] not in repr(spec.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
