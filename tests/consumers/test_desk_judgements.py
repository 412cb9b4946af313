"""What a judgement on the desk is of (consumers/desk/judgements.py), without a database."""

from __future__ import annotations

import uuid

import pytest

from consumers.desk.alerts import AlertCard
from consumers.desk.judgements import Judged, pattern_of
from consumers.judged import JudgedKind
from schemas.alerts import AlertKind
from tests import factories

ROBBERY = uuid.UUID("5f0c9a52-8d1e-4c44-9d8e-1b7c2a3f4e5d")
RECON = AlertKind.RECONNAISSANCE_WARNING


@pytest.mark.parametrize(
    ("kind", "fields", "judged"),
    [
        # A first warning and its later counts: the pattern, whatever the count.
        (RECON, {"dedup_key": "recon:rp-0123456789abcdef:2"},
         Judged(JudgedKind.RECONNAISSANCE_WARNING, "rp-0123456789abcdef")),
        (RECON, {"dedup_key": "recon:rp-0123456789abcdef:3+2"},
         Judged(JudgedKind.RECONNAISSANCE_WARNING, "rp-0123456789abcdef")),
        # A robbery linked back: the link of that robbery, not a pattern named after it, and
        # the same link when a late sighting made it grow.
        (RECON, {"dedup_key": f"recon-link:{ROBBERY}:2"},
         Judged(JudgedKind.RECONNAISSANCE_LINK, f"recon-link:{ROBBERY}")),
        (RECON, {"dedup_key": f"recon-link:{ROBBERY}:3"},
         Judged(JudgedKind.RECONNAISSANCE_LINK, f"recon-link:{ROBBERY}")),
        (AlertKind.SERIES, {"series_id": "S-AMS-9"}, Judged(JudgedKind.SERIES, "S-AMS-9")),
        (AlertKind.HOTSPOT, {"hotspot_id": "H-AMS-2"}, Judged(JudgedKind.HOTSPOT, "H-AMS-2")),
        # Not a pattern: a single robbery; a series alert without its series.
        (AlertKind.ROBBERY_REPORTED, {}, None),
        (AlertKind.SERIES, {}, None),
    ],
)  # fmt: skip
def test_what_a_judgement_is_of(
    kind: AlertKind, fields: dict[str, str], judged: Judged | None
) -> None:
    assert pattern_of(AlertCard.of(factories.alert(kind=kind, **fields))) == judged


def test_a_purged_alert_cannot_be_judged() -> None:
    card = AlertCard.of(factories.alert(kind=RECON, dedup_key=f"recon-link:{ROBBERY}:2"))
    assert pattern_of(AlertCard(**{**card.__dict__, "alert": None})) is None
