"""The one distance between two WGS84 points, on geopy, with its twin for arrays of points."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from geopy.distance import EARTH_RADIUS as GEOPY_EARTH_RADIUS_KM

FloatArray = npt.NDArray[np.float64]

# geopy's mean Earth radius (6371.009 km): the twin below must give geopy's answer.
EARTH_RADIUS_M: float = float(GEOPY_EARTH_RADIUS_KM) * 1000.0
METRES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_M / 180.0
"""The length of a degree of latitude on that sphere (about 111.2 km), for bounding boxes."""

# Great circle, not geopy's geodesic (Karney, on the ellipsoid): every rule here compares a
# distance with a radius of 50 m to a few km, where the sphere's error (under 0.5 %) is a few
# metres, and geodesic costs about 80 us a pair against about 5 us (bench/micro.py, distance).


def metres_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points in degrees, in metres: geopy's `great_circle`,
    its formula and radius in the same order of operations, without the two `Point`s it builds.

    The points (about 80 % of geopy's call) cost the series stage most of its time on a
    history load: each arriving robbery is scored against every kept one (bench/distance.py).
    Coordinates here are validated WGS84 degrees, so geopy's normalisation changes nothing.
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_lambda = math.radians(lon2) - math.radians(lon1)
    sin1, cos1, sin2, cos2 = math.sin(phi1), math.cos(phi1), math.sin(phi2), math.cos(phi2)
    cos_dl, sin_dl = math.cos(d_lambda), math.sin(d_lambda)
    d = math.atan2(
        math.sqrt((cos2 * sin_dl) ** 2 + (cos1 * sin2 - sin1 * cos2 * cos_dl) ** 2),
        sin1 * sin2 + cos1 * cos2 * cos_dl,
    )
    return float(GEOPY_EARTH_RADIUS_KM) * d * 1000.0


def metres_between_many(
    lat1: FloatArray | float, lon1: FloatArray | float, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """metres_between over arrays (broadcast): geopy's formula and radius, without a Python loop.

    For the scans over thousands of points, where a call per pair would dominate.
    """
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    d_lambda = np.radians(np.subtract(lon2, lon1))
    sin1, cos1, sin2, cos2 = np.sin(phi1), np.cos(phi1), np.sin(phi2), np.cos(phi2)
    cos_dl = np.cos(d_lambda)
    # The atan2 form geopy uses: well-conditioned both for tiny and for antipodal distances.
    y = np.hypot(cos2 * np.sin(d_lambda), cos1 * sin2 - sin1 * cos2 * cos_dl)
    x = sin1 * sin2 + cos1 * cos2 * cos_dl
    metres: FloatArray = EARTH_RADIUS_M * np.arctan2(y, x)
    return metres
