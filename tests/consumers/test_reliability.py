"""Stated chances against the analysts' judgements (consumers/reliability.py)."""

from __future__ import annotations

import math

import pytest

from consumers.reliability import Band, JudgedAlert, bands


def judged(kind: str, probability: float | None, confirmed: bool, *,
           version: str = "m1", recurrence: float | None = None) -> JudgedAlert:  # fmt: skip
    return JudgedAlert(kind, version, probability, recurrence, confirmed)


def test_alerts_are_grouped_by_kind_model_and_band_of_what_they_stated() -> None:
    found = bands([
        judged("series", 0.90, True), judged("series", 0.85, False),  # one band, 1 of 2
        judged("series", 1.0, True),  # certain: the last band holds its upper end
        judged("series", 0.30, False),  # a weak link's probability
        judged("series", 0.90, True, version="m2"),  # another model is another row
        judged("hotspot", None, True, version="h", recurrence=400.0),
        judged("hotspot", None, False, version="h", recurrence=12.0),
        judged("reconnaissance_warning", None, True, version="(none stated)"),
        # A robbery linked back states the link, no chance: a row of its own kind.
        judged("reconnaissance_link", None, True, version="recon-evidence/2"),
        judged("reconnaissance_link", None, False, version="recon-evidence/2"),
    ])  # fmt: skip
    assert [(b.kind, b.model_version, b.stated, b.judged, b.confirmed) for b in found] == [
        ("hotspot", "h", "recurrence 0-30 days", 1, 0),
        ("hotspot", "h", "recurrence 365+ days", 1, 1),
        ("reconnaissance_link", "recon-evidence/2", "robbery linked back", 2, 1),
        ("reconnaissance_warning", "(none stated)", "nothing stated", 1, 1),
        ("series", "m1", "probability 0.00-0.50", 1, 0),
        ("series", "m1", "probability 0.80-0.95", 2, 1),
        ("series", "m1", "probability 0.95-1.00", 1, 1),
        ("series", "m2", "probability 0.80-0.95", 1, 1),
    ]
    assert found[5].mean_stated == pytest.approx(0.875)
    assert found[2].mean_stated is None and found[2].verdict == ""
    assert found[0].mean_stated is None


def test_the_confirmed_share_comes_with_its_wilson_interval() -> None:
    band = Band("series", "m1", "probability", 0.8, 0.95, 0.9, judged=10, confirmed=7)
    low, high = band.interval
    # Wilson, z = 1.96: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n).
    z, n, p = 1.959964, 10, 0.7
    centre, spread = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (low, high) == pytest.approx(((centre - spread) / (1 + z * z / n),
                                         (centre + spread) / (1 + z * z / n)))  # fmt: skip
    assert band.share == 0.7


@pytest.mark.parametrize(
    ("stated", "confirmed", "verdict"),
    [
        (0.9, 2, "overstates"),  # 2 of 10 confirmed: at most 51 %, far below 0.9
        (0.1, 9, "understates"),  # 9 of 10: at least 60 %
        (0.7, 7, ""),  # as stated
        (None, 7, ""),  # a hotspot states a recurrence interval, no probability
    ],
)
def test_a_band_says_whether_the_judgements_contradict_what_it_stated(
    stated: float | None, confirmed: int, verdict: str
) -> None:
    band = Band("series", "m1", "probability", 0.0, 1.0, stated, judged=10, confirmed=confirmed)
    assert band.verdict == verdict
