"""Fixtures of the API tests: the organisations of the registry, and a running API's client."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.producers.intake_support import Registry, register, running_api

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    import httpx

    from heterdaad.settings import Settings


@pytest.fixture
async def registry(db: asyncpg.Connection) -> Registry:
    return await register(db)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(settings) as (_, client):
        yield client
