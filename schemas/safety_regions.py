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


# A ray cast needs only the edges that reach the point's latitude: the edges are filed by bands
# of latitude (about 2.2 km), 26 to a band on average instead of all 1,959.
_BAND_DEGREES = 0.02


@dataclass(frozen=True, slots=True)
class _Band:
    lon0: npt.NDArray[np.float64]
    lat0: npt.NDArray[np.float64]
    lat1: npt.NDArray[np.float64]
    # Degrees of longitude per degree of latitude along the edge (0 for an east-west edge,
    # which no ray crosses): the crossing of a ray needs no division per query.
    slope: npt.NDArray[np.float64]
    owner: npt.NDArray[np.intp]  # the index of the edge's region in _Map.regions


@dataclass(frozen=True, slots=True)
class _Map:
    regions: tuple[SafetyRegion, ...]
    edges: Edges  # every ring's edges, all regions together
    owner: npt.NDArray[np.intp]  # per edge, the index of its region in `regions`
    south: float  # the southern edge of bands[0]
    bands: tuple[_Band, ...]


def load_regions() -> None:
    """Reads the region polygons now, so that the first alarm does not wait for it (~20 ms)."""
    _map()


def regions() -> tuple[SafetyRegion, ...]:
    """The 25 safety regions, in CBS's order."""
    return _map().regions


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
    # Even-odd ray casting eastwards, over every ring of every region in one pass: only the
    # edges that straddle the point's latitude can be crossed, and a region holds the point when
    # the ray crosses its edges (outer rings and holes alike) an odd number of times.
    regions_map = _map()
    index = math.floor((lat - regions_map.south) / _BAND_DEGREES)
    if not 0 <= index < len(regions_map.bands):
        return None
    band = regions_map.bands[index]
    straddles = (band.lat0 > lat) != (band.lat1 > lat)
    crossed = straddles & (lon < band.lon0 + (lat - band.lat0) * band.slope)
    crossings = np.bincount(band.owner[crossed], minlength=len(regions_map.regions))
    odd = np.flatnonzero(crossings % 2)
    return regions_map.regions[int(odd[0])] if odd.size else None


def nearest_region(lat: float, lon: float) -> SafetyRegion:
    """The region with an edge nearest to the point (0 m for a point on its border)."""
    regions_map = _map()
    nearest_edge = int(np.argmin(_distances_to_edges_m(regions_map.edges, lat, lon)))
    return regions_map.regions[int(regions_map.owner[nearest_edge])]


def _distances_to_edges_m(edges: Edges, lat: float, lon: float) -> npt.NDArray[np.float64]:
    # Locally flat metres around the point: the nearest edge lies within a few tens of km, where
    # the projection's error is far below the 100 m generalisation of the data.
    metres_per_lat = math.radians(1.0) * _EARTH_RADIUS_M
    metres_per_lon = metres_per_lat * math.cos(math.radians(lat))
    x0 = (edges[:, 0] - lon) * metres_per_lon
    y0 = (edges[:, 1] - lat) * metres_per_lat
    dx = (edges[:, 2] - edges[:, 0]) * metres_per_lon
    dy = (edges[:, 3] - edges[:, 1]) * metres_per_lat
    length2 = np.maximum(dx * dx + dy * dy, 1e-9)  # closed rings repeat no vertex, but be safe
    t = np.clip(-(x0 * dx + y0 * dy) / length2, 0.0, 1.0)
    distances: npt.NDArray[np.float64] = np.hypot(x0 + t * dx, y0 + t * dy)
    return distances


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


def _region_edges(feature: _Feature) -> tuple[SafetyRegion, Edges]:
    code, name = feature["properties"]["statcode"], feature["properties"]["statnaam"]
    expected = REGION_UNIT.get(code)
    if expected is None or expected[0] != name:
        raise RuntimeError(f"{REGIONS_FILE}: region {code} {name!r} is not in REGION_UNIT")
    rings = [np.array(ring, dtype=np.float64) for ring in _rings(feature["geometry"])]
    edges = np.vstack([np.hstack([ring[:-1], ring[1:]]) for ring in rings])
    return SafetyRegion(code, name, expected[1]), edges


@cache
def _map() -> _Map:
    text = files("schemas").joinpath("data", REGIONS_FILE).read_text(encoding="utf-8")
    features: list[_Feature] = json.loads(text)["features"]
    parts = [_region_edges(feature) for feature in features]
    missing = set(REGION_UNIT) - {region.code for region, _ in parts}
    if missing:
        raise RuntimeError(f"{REGIONS_FILE}: regions missing: {sorted(missing)}")
    edges = np.vstack([region_edges for _, region_edges in parts])
    owner = np.concatenate([np.full(len(e), i, dtype=np.intp) for i, (_, e) in enumerate(parts)])
    regions = tuple(region for region, _ in parts)
    south, bands = _bands(edges, owner)
    logger.info("police_unit.regions_loaded regions=%d edges=%d", len(regions), len(edges))
    return _Map(regions, edges, owner, south, bands)


def _bands(edges: Edges, owner: npt.NDArray[np.intp]) -> tuple[float, tuple[_Band, ...]]:
    rise, run = edges[:, 3] - edges[:, 1], edges[:, 2] - edges[:, 0]
    slope = np.divide(run, rise, out=np.zeros_like(run), where=rise != 0)
    low = np.minimum(edges[:, 1], edges[:, 3])
    high = np.maximum(edges[:, 1], edges[:, 3])
    south = math.floor(float(low.min()) / _BAND_DEGREES) * _BAND_DEGREES
    count = math.ceil((float(high.max()) - south) / _BAND_DEGREES)
    bands = []
    for index in range(count):
        bottom = south + index * _BAND_DEGREES
        reach = np.flatnonzero((low <= bottom + _BAND_DEGREES) & (high >= bottom))
        bands.append(
            _Band(
                lon0=edges[reach, 0],
                lat0=edges[reach, 1],
                lat1=edges[reach, 3],
                slope=slope[reach],
                owner=owner[reach],
            )
        )
    return south, tuple(bands)
