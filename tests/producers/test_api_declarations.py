"""What the intake API declares and answers beyond its routes: Allow on OPTIONS and 405, and
the real 400/401/403/422 answers in the spec (schemathesis holds the API to both)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from assembly.api import create_app
from heterdaad.settings import Settings
from producers.api.allowed_methods import AllowedMethods

SPEC: dict[str, Any] = create_app(
    Settings(plate_key=secrets.token_urlsafe(32), _env_file=None)
).openapi()


def _app() -> FastAPI:
    # GET and POST of one path as two routes of an included router, as the intake has them.
    router = APIRouter(prefix="/v1")
    router.add_api_route("/things", lambda: [], methods=["GET"])
    router.add_api_route("/things", lambda: {}, methods=["POST"], status_code=201)
    router.add_api_route("/things/{thing_id}", lambda thing_id: {}, methods=["DELETE"])
    app = FastAPI()
    app.include_router(router)
    app.add_middleware(AllowedMethods, router=app.router)
    return app


async def _ask(method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        return await client.request(method, path)


async def test_options_names_every_method_of_the_path() -> None:
    answer = await _ask("OPTIONS", "/v1/things")
    assert answer.status_code == 204
    assert answer.headers["allow"] == "GET, OPTIONS, POST"
    assert (await _ask("OPTIONS", "/v1/things/7")).headers["allow"] == "DELETE, OPTIONS"


async def test_a_405_names_every_method_not_only_the_first_route_s() -> None:
    # Starlette's own Allow here was "GET": the first route matching the path.
    answer = await _ask("PUT", "/v1/things")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, OPTIONS, POST"


async def test_options_of_an_unknown_path_is_not_found() -> None:
    answer = await _ask("OPTIONS", "/v1/nothing")
    assert answer.status_code == 404
    assert "allow" not in answer.headers


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in SPEC["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_422_in_the_spec_is_the_field_and_reason_list() -> None:
    validation = {"$ref": "#/components/schemas/ValidationProblem"}
    for path, method, operation in _operations():
        if "422" in operation["responses"]:
            content = operation["responses"]["422"]["content"]["application/json"]
            assert content["schema"] == validation, f"{method} {path}"
    assert "HTTPValidationError" not in SPEC["components"]["schemas"]


def test_every_operation_that_takes_a_key_declares_401_and_403() -> None:
    secured = [(p, m, o) for p, m, o in _operations() if o.get("security")]
    assert secured
    for path, method, operation in secured:
        assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"


def test_a_body_fastapi_parses_may_be_answered_400_an_event_body_never() -> None:
    for path, method, operation in _operations():
        if "requestBody" not in operation:
            continue
        own = path.startswith(("/v1/alarm-activations", "/v1/incident", "/v1/recon"))
        assert ("400" in operation["responses"]) is not own, f"{method} {path}"
