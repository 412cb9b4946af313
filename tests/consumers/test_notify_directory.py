"""The cached routing directory: read again when it is old, or when a subscription changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from consumers.notify import directory as directory_module
from consumers.notify.directory import CachedDirectory
from consumers.notify.route import Directory

if TYPE_CHECKING:
    import pytest

# The read is replaced: no database is asked.
NO_DATABASE: Any = None


def _counting_reads(
    monkeypatch: pytest.MonkeyPatch, during: CachedDirectory | None = None
) -> list[int]:
    """Replace the database read by one that counts; `during`: expired while a read runs."""
    reads: list[int] = []

    async def load(db: Any, *, retail_max_radius_m: float | None = None) -> Directory:
        reads.append(len(reads))
        if during is not None and len(reads) == 1:
            during.expire()  # a change committed while the subscriptions were being read
        return Directory()

    monkeypatch.setattr(directory_module, "load_directory", load)
    return reads


async def test_an_expired_directory_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    cached = CachedDirectory(max_age_seconds=3600)
    reads = _counting_reads(monkeypatch)
    await cached.get(NO_DATABASE)
    await cached.get(NO_DATABASE)
    assert len(reads) == 1  # young enough
    cached.expire()
    await cached.get(NO_DATABASE)
    await cached.get(NO_DATABASE)
    assert len(reads) == 2


async def test_a_change_during_a_read_is_not_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The read may have seen the subscriptions before the change: it does not count as fresh.
    cached = CachedDirectory(max_age_seconds=3600)
    reads = _counting_reads(monkeypatch, during=cached)
    await cached.get(NO_DATABASE)
    await cached.get(NO_DATABASE)
    await cached.get(NO_DATABASE)
    assert len(reads) == 2
