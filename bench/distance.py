"""Cost per pair of the distance choices: geopy's geodesic, its great circle, our scalar and numpy
twins of it.

Run: `python -m bench.distance`. Why schemas.distance is a great circle and not a geodesic.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

import numpy as np
from geopy.distance import geodesic, great_circle

from schemas.distance import EARTH_RADIUS_M, metres_between, metres_between_many

PAIRS = 20_000
REPEATS = 5


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    # The hand-written formula the stages used before, as the floor a call could reach.
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((phi2 - phi1) / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(
        math.radians(lon2 - lon1) / 2
    ) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _geodesic(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(geodesic((lat1, lon1), (lat2, lon2)).meters)


def _geopy_great_circle(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    # What metres_between called until 7 December 2026; it gives the same metres.
    return float(great_circle((lat1, lon1), (lat2, lon2)).meters)


def _dutch_point(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(50.8, 53.5), rng.uniform(3.4, 7.2)


def _best_us(run: Callable[[], object], pairs: int) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / pairs * 1e6


def measure(pairs: int = PAIRS) -> dict[str, float]:
    """Microseconds per pair of Dutch points, best of REPEATS."""
    rng = random.Random(7)
    points = [
        (*_dutch_point(rng), *_dutch_point(rng))
        for _ in range(pairs)
    ]
    columns = np.array(points).T

    def per_pair(distance: Callable[[float, float, float, float], float]) -> Callable[[], object]:
        return lambda: [distance(*p) for p in points]

    return {
        "geopy geodesic (Karney)": _best_us(per_pair(_geodesic), pairs),
        "geopy great_circle call": _best_us(per_pair(_geopy_great_circle), pairs),
        "metres_between (its formula)": _best_us(per_pair(metres_between), pairs),
        "hand-written haversine (before)": _best_us(per_pair(_haversine), pairs),
        "metres_between_many (numpy, per pair)": _best_us(
            lambda: metres_between_many(*columns), pairs
        ),
    }


def main() -> None:
    for name, micros in measure().items():
        print(f"{name:40s} {micros:8.3f} us/pair")


if __name__ == "__main__":
    main()
