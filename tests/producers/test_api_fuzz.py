"""Fuzzing the intake API: cases from its OpenAPI spec and random JSON; never a 5xx, 4xx name why.

The app runs in-process (ASGI) with its real pool and producer, against the session's Kafka and
a fresh schema, with valid keys of the test registry holding every scope their role may. Every
operation of the spec is fuzzed, so a new endpoint is covered the day it is added. The default
run stays at a few hundred cases from a fixed seed; the long variant draws about 10,000 random
ones and shrinks what fails:
`pytest -m long tests/producers/test_api_fuzz.py`.
"""

from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, event, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from assembly.api import create_app
from heterdaad.settings import Settings
from producers.api import ApiLimits, admin
from producers.api.kinds import (
    ALARM_ACTIVATION,
    INCIDENT_REPORT,
    KINDS,
    RECON_SIGHTING,
    allowed_scopes,
)
from tests.producers import bodies
from tests.producers.intake_support import Registry, register

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import asyncpg
    from schemathesis.schemas import BaseSchema

    from producers.api.kinds import EventKind

# Rate limits out of the way: a fuzzer posts faster than any organisation may, and a 429
# would hide what the body does to the intake. The same for a broker slowed by a busy CI
# machine: its 503 with Retry-After is the intake's documented answer, not a crash. A
# long-poll of alarm tasks waits its full `wait` when there is none: short, so cases run.
LIMITS = ApiLimits(
    events_per_second=1_000_000, event_burst=1_000_000, publish_timeout_seconds=300,
    task_wait_max_seconds=1,
)  # fmt: skip
# The spec as served, read once at collection: one parametrised test per operation.
SPEC: dict[str, Any] = create_app(
    Settings(plate_key=secrets.token_urlsafe(32), _env_file=None), LIMITS
).openapi()
OPERATIONS: list[tuple[str, str]] = [
    (path, method.upper()) for path, methods in SPEC["paths"].items() for method in methods
]
EVENT_OPERATIONS: dict[tuple[str, str], EventKind] = {
    (f"/v1/{kind.path}{suffix}", "POST"): kind for kind in KINDS for suffix in ("", "/batch")
}
# The organisation of the test registry that may post each kind (and owns what it names).
POSTER = {
    ALARM_ACTIVATION.name: "pac-1",
    INCIDENT_REPORT.name: "retail-a",
    RECON_SIGHTING.name: "retail-a",
}
VALID_EVENT: dict[str, Callable[..., dict[str, Any]]] = {
    ALARM_ACTIVATION.name: bodies.alarm_activation,
    INCIDENT_REPORT.name: bodies.incident_report,
    RECON_SIGHTING.name: bodies.recon_sighting,
}
REGISTERED = ("retail-a", "retail-b", "cbl", "pac-1", "pac-2", "politie-ams")

_BASE = fuzz_settings(
    deadline=None,  # a round trip through Kafka takes what it takes; no timed tests
    database=None,  # nothing written to the work tree; a failure prints its reproduction
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the running app is meant to outlive examples
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
# No shrinking in the default run: each step is a round trip through the app, and minutes of
# it would hold up CI; the failure shows the case as it was found.
_FOUND_AS_IS = (Phase.explicit, Phase.generate)
SPEC_CASES = fuzz_settings(_BASE, max_examples=25, derandomize=True, phases=_FOUND_AS_IS)
RANDOM_CASES = fuzz_settings(_BASE, max_examples=15, derandomize=True, phases=_FOUND_AS_IS)
# About 10,000 in all: 1,200 per operation of the spec, 200 random bodies per event endpoint.
LONG_SPEC_CASES = fuzz_settings(_BASE, max_examples=1_200)
LONG_RANDOM_CASES = fuzz_settings(_BASE, max_examples=200)


@dataclass(frozen=True)
class Target:
    client: httpx.AsyncClient
    registry: Registry
    schema: BaseSchema


async def _with_every_scope(db: asyncpg.Connection) -> Registry:
    """The test registry with keys holding every scope their role may (subscriptions:write is
    opt-in), so that the subscription endpoints are fuzzed past their 403."""
    await register(db)
    roles = {row["organisation_id"]: row["role"] for row in await db.fetch(
        "SELECT organisation_id, role FROM organisation"
    )}  # fmt: skip
    keys = {}
    for organisation_id in REGISTERED:
        scopes = sorted(allowed_scopes(roles[organisation_id]))
        keys[organisation_id] = (await admin.issue_key(db, organisation_id, scopes=scopes)).key
    return Registry(keys)


@pytest.fixture
async def target(settings: Settings, db: asyncpg.Connection) -> AsyncIterator[Target]:
    registry = await _with_every_scope(db)
    app = create_app(settings, LIMITS)
    # A crash is answered 500 as uvicorn would, so the failure shows the request that did it.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client,
    ):
        yield Target(client, registry, schemathesis.openapi.from_dict(app.openapi()))


def _id(operation: tuple[str, str]) -> str:
    return f"{operation[1]} {operation[0]}"


# --- what every answer must look like -------------------------------------------------------


def _names_of(operation: tuple[str, str], kind: EventKind | None) -> set[str]:
    """What a 422 may name: the event's fields, the operation's parameters, and the fields of
    its body's schema (a required one that was not sent is named too)."""
    path, method = operation
    spec = SPEC["paths"][path][method.lower()]
    names = {parameter["name"] for parameter in spec.get("parameters", [])}
    body = spec.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    if "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    names |= set(schema.get("properties", {}))
    return names | (set(kind.edge_model.model_fields) if kind else set())


def _assert_names_fields(problems: Any, sent: Any, names: set[str], where: str) -> None:
    """A 422 lists each offending field by a path that starts in what was sent or the spec."""
    assert isinstance(problems, list) and problems, f"{where}: 422 without field problems"
    for problem in problems:
        field, reason = problem.get("field"), problem.get("reason")
        assert isinstance(field, str) and field, f"{where}: a problem names no field: {problem}"
        assert isinstance(reason, str) and reason, f"{where}: {field} without a reason"
        if field == "(body)":
            continue  # the body as a whole: not JSON, not an object, or a batch of wrong size
        if isinstance(sent, list):
            assert field.split(".")[0].isdigit(), f"{where}: batch problem {field!r} names no item"
            continue
        # A key sent may itself hold dots, so match whole names rather than split the path.
        known = names | (set(sent) if isinstance(sent, dict) else set())
        assert any(field == name or field.startswith(f"{name}.") for name in known), (
            f"{where}: {field!r} is neither a field sent nor one of the spec"
        )


def _assert_well_answered(
    response: httpx.Response,
    sent: Any,
    names: set[str],
    request: str,
    declared: frozenset[int] = frozenset(),
) -> None:
    where = f"{request} -> {response.status_code} {response.text[:2000]}"
    # How deep the cases got: see `pytest --hypothesis-show-statistics`.
    event(f"status {response.status_code}")
    # A 5xx the operation declares (a readiness probe's 503 "not ready") is its answer.
    if response.status_code in declared:
        return
    assert response.status_code < 500, f"server error: {where}"
    if response.status_code < 400 and response.status_code != 207:
        return
    answer = response.json()
    if response.status_code == 207:
        assert isinstance(sent, list), where
        for result in answer["results"]:
            status, item = result["status"], sent[result["index"]]
            event(f"item status {status}")
            assert status < 500, f"server error for item {result['index']}: {where}"
            if status == 422:
                _assert_names_fields(result["detail"], item, names, where)
            elif status >= 400:
                assert isinstance(result["detail"], str) and result["detail"], where
    elif response.status_code == 422 or isinstance(answer.get("detail"), list):
        # A 409 may name the field too (a camera id taken), as its spec says (ValidationProblem).
        _assert_names_fields(answer["detail"], sent, names, where)
    else:
        assert isinstance(answer["detail"], str) and answer["detail"], where


# --- cases from the OpenAPI spec ------------------------------------------------------------


def _claim(body: Any, kind: EventKind) -> Any:
    """The body as the poster's own: otherwise nearly every valid case stops at 403."""
    if isinstance(body, list):
        return [_claim(item, kind) for item in body]
    if not isinstance(body, dict):
        return body
    own = dict(body)
    if kind is ALARM_ACTIVATION:
        own |= {"alarm_centre": "pac-1", "subscriber_account": "acct-1"}
        if isinstance(own.get("site"), dict):
            own["site"] = {**own["site"], "site_id": "site-1"}
    else:
        own["reporting_org" if kind is INCIDENT_REPORT else "reporter_org"] = "retail-a"
        if isinstance(own.get("branch"), dict):
            own["branch"] = {**own["branch"], "branch_id": "a-001"}
    return own


async def _send_spec_case(target: Target, operation: tuple[str, str], data: st.DataObject) -> None:
    path, method = operation
    kind = EVENT_OPERATIONS.get(operation)
    endpoint = target.schema[path][method]
    strategy = endpoint.as_strategy(GenerationMode.POSITIVE)
    spec = SPEC["paths"][path][method.lower()]
    # Negative cases break a parameter or the body; an operation with neither has none.
    if spec.get("parameters") or spec.get("requestBody"):
        strategy = strategy | endpoint.as_strategy(GenerationMode.NEGATIVE)
    case = data.draw(strategy, label="case")
    # The right organisation for an event kind; any registered one (police too) elsewhere.
    caller = POSTER[kind.name] if kind else data.draw(st.sampled_from(REGISTERED), label="key")
    request = case.as_transport_kwargs(
        base_url=str(target.client.base_url), headers=target.registry.auth(caller)
    )
    request.pop("cookies", None)
    sent = request.pop("json", None)
    if sent is not None:
        if kind is not None and data.draw(st.booleans(), label="claimed"):
            sent = _claim(sent, kind)
        request["content"] = json.dumps(sent).encode()
        request["headers"] = {**request["headers"], "Content-Type": "application/json"}
    elif "data" in request:
        request["content"] = request.pop("data")
    if method == "GET":
        sent = request.get("params") or {}
    response = await target.client.request(**request)
    shown = json.dumps(sent, default=str)[:2000]
    declared = frozenset(int(code) for code in spec.get("responses", {}) if code.startswith("5"))
    _assert_well_answered(
        response, sent, _names_of(operation, kind), f"{method} {path} {shown}", declared
    )


@pytest.mark.parametrize("operation", OPERATIONS, ids=_id)
@SPEC_CASES
@given(data=st.data())
async def test_spec_cases_get_no_server_error_and_name_the_field(
    target: Target, operation: tuple[str, str], data: st.DataObject
) -> None:
    await _send_spec_case(target, operation, data)


@pytest.mark.long
@pytest.mark.timeout(4 * 3600)
@pytest.mark.parametrize("operation", OPERATIONS, ids=_id)
@LONG_SPEC_CASES
@given(data=st.data())
async def test_spec_cases_long(
    target: Target, operation: tuple[str, str], data: st.DataObject
) -> None:
    await _send_spec_case(target, operation, data)


def test_every_event_endpoint_is_in_the_spec() -> None:
    # Otherwise the random-body tests below would fuzz endpoints the spec-driven ones miss.
    assert set(EVENT_OPERATIONS) <= set(OPERATIONS)


# --- random JSON bodies ---------------------------------------------------------------------

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _places(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every place inside a JSON value: where a mutation may strike."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _places(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _places(inner, (*prefix, index))
    return found


@st.composite
def mutated_events(draw: st.DrawFn, kind: EventKind) -> Any:
    """A valid event of the kind with one place replaced, removed, or given a stray field."""
    event = copy.deepcopy(VALID_EVENT[kind.name](event_id=str(draw(st.uuids()))))
    *parents, last = draw(st.sampled_from(_places(event)))
    holder: Any = event
    for step in parents:
        holder = holder[step]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "remove" and isinstance(holder, dict):
        del holder[last]
    elif action == "add" and isinstance(holder, dict):
        holder[draw(st.text(max_size=12))] = draw(JSON_VALUES)
    else:
        holder[last] = draw(JSON_VALUES)
    return event


def _random_bodies(kind: EventKind, batch: bool) -> st.SearchStrategy[Any]:
    one = JSON_VALUES | mutated_events(kind)
    return (st.lists(one, min_size=1, max_size=5) | JSON_VALUES) if batch else one


async def _send_random_body(
    target: Target, operation: tuple[str, str], data: st.DataObject
) -> None:
    path, _ = operation
    kind = EVENT_OPERATIONS[operation]
    sent = data.draw(_random_bodies(kind, path.endswith("/batch")), label="body")
    response = await target.client.post(
        path,
        content=json.dumps(sent).encode(),
        headers={**target.registry.auth(POSTER[kind.name]), "Content-Type": "application/json"},
    )
    names = _names_of(operation, kind)
    _assert_well_answered(response, sent, names, f"POST {path} {json.dumps(sent)[:2000]}")


@pytest.mark.parametrize("operation", list(EVENT_OPERATIONS), ids=_id)
@RANDOM_CASES
@given(data=st.data())
async def test_random_json_gets_no_server_error_and_names_the_field(
    target: Target, operation: tuple[str, str], data: st.DataObject
) -> None:
    await _send_random_body(target, operation, data)


@pytest.mark.long
@pytest.mark.timeout(4 * 3600)
@pytest.mark.parametrize("operation", list(EVENT_OPERATIONS), ids=_id)
@LONG_RANDOM_CASES
@given(data=st.data())
async def test_random_json_long(
    target: Target, operation: tuple[str, str], data: st.DataObject
) -> None:
    await _send_random_body(target, operation, data)
