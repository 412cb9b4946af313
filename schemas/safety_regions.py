"""Which safety region (veiligheidsregio), and so which police unit, a point lies in."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from schemas.common import PoliceUnit

logger = logging.getLogger(__name__)

# CBS/Kadaster's generalised safety-region boundaries of 2025 (CC BY 4.0), copied unchanged from
# their republication in github.com/cartomap/nl; provenance in schemas/data/README.md.
REGIONS_FILE = "veiligheidsregio_2025.geojson"

# The regional units of the Politiewet 2012 (article 25) are unions of whole safety regions. The
# names are CBS's as written in the file; a file whose names differ is refused at load, so a
# renumbered release cannot put a region in the wrong unit.
REGION_UNIT: dict[str, tuple[str, PoliceUnit]] = {
    "VR01": ("Groningen", PoliceUnit.NOORD_NEDERLAND),
    "VR02": ("Fryslân", PoliceUnit.NOORD_NEDERLAND),
    "VR03": ("Drenthe", PoliceUnit.NOORD_NEDERLAND),
    "VR04": ("IJsselland", PoliceUnit.OOST_NEDERLAND),
    "VR05": ("Twente", PoliceUnit.OOST_NEDERLAND),
    "VR06": ("Noord- en Oost-Gelderland", PoliceUnit.OOST_NEDERLAND),
    "VR07": ("Gelderland-Midden", PoliceUnit.OOST_NEDERLAND),
    "VR08": ("Gelderland-Zuid", PoliceUnit.OOST_NEDERLAND),
    "VR09": ("Utrecht", PoliceUnit.MIDDEN_NEDERLAND),
    "VR10": ("Noord-Holland-Noord", PoliceUnit.NOORD_HOLLAND),
    "VR11": ("Zaanstreek-Waterland", PoliceUnit.NOORD_HOLLAND),
    "VR12": ("Kennemerland", PoliceUnit.NOORD_HOLLAND),
    "VR13": ("Amsterdam-Amstelland", PoliceUnit.AMSTERDAM),
    "VR14": ("Gooi en Vechtstreek", PoliceUnit.MIDDEN_NEDERLAND),
    "VR15": ("Haaglanden", PoliceUnit.DEN_HAAG),
    "VR16": ("Hollands-Midden", PoliceUnit.DEN_HAAG),
    "VR17": ("Rotterdam-Rijnmond", PoliceUnit.ROTTERDAM),
    "VR18": ("Zuid-Holland-Zuid", PoliceUnit.ROTTERDAM),
    "VR19": ("Zeeland", PoliceUnit.ZEELAND_WEST_BRABANT),
    "VR20": ("Midden- en West-Brabant", PoliceUnit.ZEELAND_WEST_BRABANT),
    "VR21": ("Brabant-Noord", PoliceUnit.OOST_BRABANT),
    "VR22": ("Brabant-Zuidoost", PoliceUnit.OOST_BRABANT),
    "VR23": ("Limburg-Noord", PoliceUnit.LIMBURG),
    "VR24": ("Limburg-Zuid", PoliceUnit.LIMBURG),
    "VR25": ("Flevoland", PoliceUnit.MIDDEN_NEDERLAND),
}

_EARTH_RADIUS_M = 6_371_009.0  # geopy's great_circle mean radius, as in schemas/distance.py

Edges = npt.NDArray[np.float64]
"""Edges of a region's rings, one row (lon0, lat0, lon1, lat1) each."""


@dataclass(frozen=True, slots=True)
class SafetyRegion:
    """One of the 25 safety regions, with the police unit it belongs to."""

    code: str
    name: str
    unit: PoliceUnit


@dataclass(frozen=True, slots=True)
class _Shape:
    region: SafetyRegion
    # (min lon, min lat, max lon, max lat): most regions are ruled out without touching an edge.
    box: tuple[float, float, float, float]
    edges: Edges


def load_regions() -> None:
    """Reads the region polygons now, so that the first alarm does not wait for it (~10 ms)."""
    _shapes()


def regions() -> tuple[SafetyRegion, ...]:
    """The 25 safety regions, in CBS's order."""
    return tuple(shape.region for shape in _shapes())


def region_at(lat: float, lon: float) -> SafetyRegion:
    """The region whose polygon holds the point; else the region whose border is nearest.

    The polygons are generalised to about 100 m and follow the coast, so a point in the sea, on
    a dike or in a sliver between two generalised borders lies in none; it goes to the region it
    is nearest to, measured to the region's edges.
    """
    inside = containing_region(lat, lon)
    return inside if inside is not None else nearest_region(lat, lon)


def containing_region(lat: float, lon: float) -> SafetyRegion | None:
    """The region whose polygon holds the point, or None."""
    for shape in _shapes():
        min_lon, min_lat, max_lon, max_lat = shape.box
        in_box = min_lon <= lon <= max_lon and min_lat <= lat <= max_lat
        if in_box and _holds(shape.edges, lat, lon):
            return shape.region
    return None


def nearest_region(lat: float, lon: float) -> SafetyRegion:
    """The region with an edge nearest to the point (0 m for a point inside it)."""
    shapes = _shapes()
    distances = [_distance_to_edges_m(shape.edges, lat, lon) for shape in shapes]
    return shapes[int(np.argmin(distances))].region


def _holds(edges: Edges, lat: float, lon: float) -> bool:
    # Even-odd ray casting over every ring at once (outer rings and holes alike): the parts of a
    # region never overlap, so an odd number of crossings east of the point means inside.
    lon0, lat0, lon1, lat1 = edges.T
    straddles = (lat0 > lat) != (lat1 > lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_lon = lon0 + (lat - lat0) * (lon1 - lon0) / (lat1 - lat0)
    return bool(np.count_nonzero(straddles & (lon < crossing_lon)) % 2)


def _distance_to_edges_m(edges: Edges, lat: float, lon: float) -> float:
    # Locally flat metres around the point: the nearest edge lies within a few tens of km, where
    # the projection's error is far below the 100 m generalisation of the data.
    metres_per_lat = math.radians(1.0) * _EARTH_RADIUS_M
    metres_per_lon = metres_per_lat * math.cos(math.radians(lat))
    x0 = (edges[:, 0] - lon) * metres_per_lon
    y0 = (edges[:, 1] - lat) * metres_per_lat
    dx = (edges[:, 2] - edges[:, 0]) * metres_per_lon
    dy = (edges[:, 3] - edges[:, 1]) * metres_per_lat
    length2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(length2 > 0, -(x0 * dx + y0 * dy) / length2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return float(np.hypot(x0 + t * dx, y0 + t * dy).min())


Ring = list[list[float]]
"""A closed ring of [lon, lat] pairs, its last vertex the first again."""


class _Geometry(TypedDict):
    type: str
    coordinates: list[Any]  # a Polygon's rings, or a MultiPolygon's polygons of rings


class _Properties(TypedDict):
    statcode: str
    statnaam: str


class _Feature(TypedDict):
    geometry: _Geometry
    properties: _Properties


def _rings(geometry: _Geometry) -> list[Ring]:
    if geometry["type"] == "Polygon":
        polygons: list[list[Ring]] = [geometry["coordinates"]]
    elif geometry["type"] == "MultiPolygon":
        polygons = geometry["coordinates"]
    else:
        raise ValueError(f"{REGIONS_FILE}: unexpected geometry {geometry['type']!r}")
    return [ring for polygon in polygons for ring in polygon]


def _shape(feature: _Feature) -> _Shape:
    code, name = feature["properties"]["statcode"], feature["properties"]["statnaam"]
    expected = REGION_UNIT.get(code)
    if expected is None or expected[0] != name:
        raise RuntimeError(f"{REGIONS_FILE}: region {code} {name!r} is not in REGION_UNIT")
    rings = [np.array(ring, dtype=np.float64) for ring in _rings(feature["geometry"])]
    edges = np.vstack([np.hstack([ring[:-1], ring[1:]]) for ring in rings])
    (min_lon, min_lat), (max_lon, max_lat) = edges[:, :2].min(axis=0), edges[:, :2].max(axis=0)
    box = (float(min_lon), float(min_lat), float(max_lon), float(max_lat))
    return _Shape(SafetyRegion(code, name, expected[1]), box, edges)


@cache
def _shapes() -> tuple[_Shape, ...]:
    text = files("schemas").joinpath("data", REGIONS_FILE).read_text(encoding="utf-8")
    features: list[_Feature] = json.loads(text)["features"]
    shapes = tuple(_shape(feature) for feature in features)
    missing = set(REGION_UNIT) - {shape.region.code for shape in shapes}
    if missing:
        raise RuntimeError(f"{REGIONS_FILE}: regions missing: {sorted(missing)}")
    logger.info("police_unit.regions_loaded regions=%d", len(shapes))
    return shapes
