"""The digest's offline close-ups: every text readable, none over another or cut by the frame."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from consumers.digest.charts import style
from consumers.digest.maps import detail_figure, pattern_detail
from consumers.digest.patterns import Pattern
from consumers.digest.read import Incident

T0 = datetime(2026, 10, 28, 20, 41, tzinfo=UTC)


def _incident(day: int, lat: float, lon: float) -> Incident:
    return Incident(uuid.uuid4(), "overval", "snack_bar", "amsterdam", lat, lon,
                    T0 + timedelta(days=day), "frietpaleis", "api")  # fmt: skip


def _pattern(kind: str, label: str, lat: float, lon: float, *incidents: Incident,
             radius_m: float | None = None) -> Pattern:  # fmt: skip
    return Pattern(kind, label, f"{label}-1", 2, "medium", "amsterdam", lat, lon, radius_m, T0,
                   T0 + timedelta(days=11), ("snack_bar",), incidents)  # fmt: skip


# The demo's October: a series whose first and third robbery are at one snack bar by the Dam,
# the second in Amstelveen; its close-up drew '1' over '3' and cut 'Almere' to 'Alm'.
AMSTERDAM_SERIES = _pattern(
    "series", "S1", 52.3860, 4.8857,
    _incident(0, 52.3731, 4.8926), _incident(5, 52.3100, 4.8700), _incident(11, 52.3733, 4.8930),
)  # fmt: skip
# The demo's Rotterdam hotspot, whose close-up cut a name at the frame to "'s".
ROTTERDAM_HOTSPOT = _pattern("hotspot", "H1", 51.9309, 4.5066, radius_m=1300)


@pytest.mark.parametrize("pattern", [AMSTERDAM_SERIES, ROTTERDAM_HOTSPOT], ids=["S1", "H1"])
def test_a_close_ups_texts_do_not_run_into_each_other(pattern: Pattern) -> None:
    with style():
        figure = detail_figure(pattern)
    axes = figure.axes[0]
    frame = axes.get_window_extent()
    # Place names, the pattern's label and the series' numbers (annotations are texts too).
    boxes = {text.get_text(): text.get_window_extent() for text in axes.texts}
    for name, box in boxes.items():
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, name
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, name
        for other, other_box in boxes.items():
            assert other == name or not box.overlaps(other_box), (name, other)
    # Still a map with names around the pattern, the city's first.
    names = [name.strip() for name in boxes if name.strip()[0].isalpha() and name != pattern.label]
    assert len(names) >= 3 and names[0] in {"Amsterdam", "Rotterdam"}, names


def test_robberies_at_one_spot_share_a_number() -> None:
    with style():
        figure = detail_figure(AMSTERDAM_SERIES)
    numbers = sorted(text.get_text() for text in figure.axes[0].texts
                     if text.get_text()[0].isdigit())  # fmt: skip
    assert numbers == ["1, 3", "2"]
    assert pattern_detail(AMSTERDAM_SERIES).startswith("data:image/png;base64,")
