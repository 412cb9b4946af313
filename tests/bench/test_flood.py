"""bench/flood.py: a variant changes the settings it names and nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from bench.flood import varied

if TYPE_CHECKING:
    from heterdaad.settings import Settings


def test_variant_sets_top_level_and_group_fields(bare_settings: Settings) -> None:
    changed = varied(bare_settings, "kafka_linger_ms=0,alarms.batch_max=1000")
    assert (changed.kafka_linger_ms, changed.alarms.batch_max) == (0, 1000)
    # Everything else as it was: the topics, the app id, the other alarm thresholds.
    assert changed.model_copy(update={
        "kafka_linger_ms": bare_settings.kafka_linger_ms, "alarms": bare_settings.alarms,
    }) == bare_settings  # fmt: skip
    assert changed.alarms.batch_wait_seconds == bare_settings.alarms.batch_wait_seconds


def test_empty_variant_is_the_defaults(bare_settings: Settings) -> None:
    assert varied(bare_settings, "") == bare_settings


def test_a_bad_value_is_refused_like_the_environment_would(bare_settings: Settings) -> None:
    with pytest.raises(ValidationError, match="kafka_linger_ms"):
        varied(bare_settings, "kafka_linger_ms=-1")
