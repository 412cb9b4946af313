"""The registry is the truth (producers/api/registry.py), without a database: rows as asyncpg
would give them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from producers.api.registry import as_registered
from schemas.common import Location
from schemas.events import ReconSighting
from tests.producers import bodies

if TYPE_CHECKING:
    import asyncpg

AMSTERDAM_SUPERMARKET = {
    "branch_id": "a-001",
    "chain": "Super A",
    "branch_type": "supermarket",
    "lat": 52.3731,
    "lon": 4.8922,
    "street": None,
    "postcode": None,
    "city": None,
}


class _Registry:
    """Answers the branch query with one registered branch."""

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        assert "FROM branch" in query, query
        return [AMSTERDAM_SUPERMARKET]


async def test_a_sighting_at_a_branch_keeps_no_location_of_its_own() -> None:
    # A Maastricht location beside the Amsterdam branch: before, it was published beside the
    # registered branch, two places in one record for any reader of the topic to choose from.
    body = bodies.recon_sighting(plate=None) | {"location": {"lat": 50.85, "lon": 5.69}}
    sighting = ReconSighting.model_validate(body)
    connection: asyncpg.Connection = _Registry()
    [registered] = await as_registered(connection, [sighting])
    assert isinstance(registered, ReconSighting)
    assert registered.location is None
    assert registered.branch is not None
    assert registered.where == Location(lat=52.3731, lon=4.8922)


async def test_a_sighting_by_location_alone_keeps_it() -> None:
    sighting = ReconSighting.model_validate(bodies.recon_sighting(branch_id=None, plate=None))
    connection: asyncpg.Connection = _Registry()
    [registered] = await as_registered(connection, [sighting])
    assert registered == sighting
