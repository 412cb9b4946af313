"""schemas.distance: geopy's great circle, its numpy twin, and their distance from the geodesic."""

from __future__ import annotations

import numpy as np
import pytest
from geopy.distance import geodesic, great_circle

from schemas.distance import METRES_PER_DEGREE_LAT, metres_between, metres_between_many

DAM = (52.37308, 4.89245)
PAIRS = [
    # The same point.
    (DAM, DAM),
    # 50 m north: the digest's 'same spot'.
    (DAM, (52.37308 + 50 / 111_195, 4.89245)),
    # Across the canal, a few hundred metres east.
    (DAM, (52.37308, 4.9)),
    # Amsterdam to Rotterdam, about 57 km.
    (DAM, (51.9225, 4.47917)),
    # Vaals to Eemshaven, the country's long diagonal.
    ((50.7707, 6.0189), (53.4386, 6.8349)),
    # Nearly antipodal: the atan2 form stays exact where haversine's asin loses digits.
    ((52.0, 5.0), (-51.9, -175.1)),
]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_metres_between_is_geopy_great_circle(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    assert metres_between(*a, *b) == great_circle(a, b).meters


def test_metres_between_gives_geopy_great_circle_to_the_last_bit() -> None:
    # The formula is geopy's, in its order of operations: a pair's score, and so every
    # threshold decided on it, is the same as when each call built geopy's points.
    rng = np.random.default_rng(11)
    near = rng.uniform(-0.02, 0.02, (2000, 2))
    starts = np.column_stack([rng.uniform(50.7, 53.6, 4000), rng.uniform(3.3, 7.3, 4000)])
    ends = np.vstack([starts[:2000] + near, starts[2000:][::-1]])
    for (lat1, lon1), (lat2, lon2) in zip(starts.tolist(), ends.tolist(), strict=True):
        assert metres_between(lat1, lon1, lat2, lon2) == great_circle(
            (lat1, lon1), (lat2, lon2)
        ).meters


@pytest.mark.parametrize(("a", "b"), PAIRS[:5])
def test_great_circle_within_half_a_percent_of_the_geodesic(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    # The stages compare with radii of 50 m to a few km: the sphere's error is a few metres.
    truth = geodesic(a, b).meters
    assert metres_between(*a, *b) == pytest.approx(truth, rel=5e-3, abs=1e-6)


def test_twin_over_arrays_equals_the_scalar_function() -> None:
    rng = np.random.default_rng(7)
    lat1, lat2 = rng.uniform(50.7, 53.6, 500), rng.uniform(50.7, 53.6, 500)
    lon1, lon2 = rng.uniform(3.3, 7.3, 500), rng.uniform(3.3, 7.3, 500)
    many = metres_between_many(lat1, lon1, lat2, lon2)
    one_by_one = [metres_between(*p) for p in zip(lat1, lon1, lat2, lon2, strict=True)]
    np.testing.assert_allclose(many, one_by_one, rtol=1e-9, atol=1e-6)


def test_twin_broadcasts_one_point_against_many() -> None:
    lats, lons = np.array([DAM[0], 51.9225]), np.array([DAM[1], 4.47917])
    distances = metres_between_many(DAM[0], DAM[1], lats, lons)
    assert distances[0] == pytest.approx(0.0, abs=1e-6)
    assert distances[1] == pytest.approx(metres_between(*DAM, 51.9225, 4.47917), rel=1e-9)


def test_a_degree_of_latitude_is_the_great_circle_of_a_degree() -> None:
    assert metres_between(52.0, 5.0, 53.0, 5.0) == pytest.approx(METRES_PER_DEGREE_LAT, rel=1e-9)
