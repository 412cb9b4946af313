"""Stage: prospective space-time hotspot detection (being built; registers nothing yet)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import faust

    from heterdaad.settings import Settings
    from streams.app import Topics


def register(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Declare this stage's agents and tables on the app."""
