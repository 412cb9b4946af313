"""Offenders, crews and vehicles: how robberies and sightings are described, per branch kind."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.common import BranchType
from schemas.events import (
    Build,
    FaceCovering,
    Getaway,
    GetawayMode,
    HeightBand,
    LootCategory,
    ModusOperandi,
    PersonDescription,
    ReconBehaviour,
    ValueBand,
    Vehicle,
    Weapon,
)
from schemas.pseudonym import pseudonymise_plate

if TYPE_CHECKING:
    import random

MO = ModusOperandi
# What offenders typically do and take at each kind of target; a crew picks from these.
TYPICAL_MO: dict[BranchType, tuple[ModusOperandi, ...]] = {
    BranchType.SUPERMARKET: (MO.AT_CLOSING, MO.THREATENED_STAFF, MO.CASH_REGISTER, MO.SAFE,
                             MO.VIA_BACK_DOOR, MO.WAITED_INSIDE, MO.CIGARETTES),
    BranchType.PETROL_STATION: (MO.AT_CLOSING, MO.THREATENED_STAFF, MO.CASH_REGISTER,
                                MO.CIGARETTES, MO.POSED_AS_CUSTOMER),
    BranchType.JEWELLER: (MO.DISPLAY_CASE, MO.POSED_AS_CUSTOMER, MO.VIOLENCE_USED,
                          MO.THREATENED_STAFF, MO.AT_OPENING),
    BranchType.TELECOM_SHOP: (MO.DISPLAY_CASE, MO.POSED_AS_CUSTOMER, MO.THREATENED_STAFF,
                              MO.AT_CLOSING),
    BranchType.OPTICIAN: (MO.DISPLAY_CASE, MO.POSED_AS_CUSTOMER, MO.THREATENED_STAFF),
    BranchType.BANK: (MO.AT_OPENING, MO.THREATENED_STAFF, MO.SAFE, MO.POSED_AS_DELIVERY),
}  # fmt: skip
DEFAULT_MO = (MO.AT_CLOSING, MO.THREATENED_STAFF, MO.CASH_REGISTER, MO.POSED_AS_CUSTOMER,
              MO.VIOLENCE_USED)  # fmt: skip
L = LootCategory
TYPICAL_LOOT: dict[BranchType, tuple[LootCategory, ...]] = {
    BranchType.SUPERMARKET: (L.CASH, L.CIGARETTES),
    BranchType.PETROL_STATION: (L.CASH, L.CIGARETTES),
    BranchType.JEWELLER: (L.WATCHES, L.JEWELLERY),
    BranchType.TELECOM_SHOP: (L.PHONES,),
    BranchType.OPTICIAN: (L.SUNGLASSES,),
    BranchType.DRUGSTORE: (L.CASH, L.OTHER_GOODS),
    BranchType.PHARMACY: (L.CASH, L.MEDICINES),
    BranchType.TOBACCONIST: (L.CASH, L.CIGARETTES),
}
DEFAULT_LOOT = (L.CASH,)
HIGH_VALUE = frozenset({BranchType.JEWELLER, BranchType.TELECOM_SHOP, BranchType.OPTICIAN})
# Staff of these branches are trained to recognise reconnaissance (§3.2), so they report most.
RECON_TARGETS = (BranchType.SUPERMARKET, BranchType.PETROL_STATION, BranchType.JEWELLER,
                 BranchType.TELECOM_SHOP)  # fmt: skip

# Free text as Dutch staff type it into the CBL tool or /meld: the desk, the webhooks and the
# digest show it as written, in Dutch pages. One word for each of the English words these
# lists held, in the same order, so every seed draws the same robberies as before.
CLOTHING = ("donkere hoodie", "zwarte jas", "grijs trainingspak", "spijkerbroek",
            "witte sneakers", "zwarte handschoenen", "donkere pet", "groen bomberjack",
            "blauwe jas", "rugzak", "zwarte broek", "rode sneakers", "camouflagebroek",
            "leren jas")  # fmt: skip
# "onbekend" is what a form's reporter types; the stages read it as not noted (UNKNOWN_WORDS).
LANGUAGES = ("Nederlands", "Nederlands met accent", "Engels", "onbekend")
CARS = ("Volkswagen Golf", "Audi A4", "Renault Clio", "BMW 3", "Peugeot 208", "Toyota Yaris",
        "Opel Astra", "Mercedes C", "Volkswagen Polo", "Kia Picanto")  # fmt: skip
COLOURS = ("zwart", "grijs", "zilver", "wit", "donkerblauw", "rood")
MASKS = (FaceCovering.BALACLAVA, FaceCovering.SCARF, FaceCovering.HOOD,
         FaceCovering.MOTORCYCLE_HELMET, FaceCovering.MEDICAL_MASK)  # fmt: skip
UNMASKED = (FaceCovering.NONE, FaceCovering.CAP, FaceCovering.SUNGLASSES)
# None: the witness did not know the make (the contract's way to say so, not a make's name).
SCOOTERS: tuple[str | None, ...] = ("Vespa", "Piaggio Zip", "Yamaha Neo's", None)


@dataclass(frozen=True)
class Crew:
    """One group of offenders with their habits: the thread that makes robberies a series."""

    branch_type: BranchType
    offenders: tuple[PersonDescription, ...]
    weapons: tuple[Weapon, ...]
    modus_operandi: tuple[ModusOperandi, ...]
    vehicle: Vehicle


def random_plate(rng: random.Random) -> str:
    """A plate in one of the Dutch side codes; used only to be pseudonymised at once."""
    letters = "BDFGHJKLNPRSTVXZ"  # the letters Dutch plates use
    layout = rng.choice(("99-LLL-9", "9-LLL-99", "LL-999-L", "L-999-LL", "LLL-99-L", "99-LL-LL"))
    return "-".join(
        "".join(rng.choice(letters if c == "L" else string.digits) for c in group)
        for group in layout.split("-")
    )


def random_person(rng: random.Random, *, masked: bool) -> PersonDescription:
    covering = rng.choice(MASKS if masked else UNMASKED)
    return PersonDescription(
        height_band=rng.choices(list(HeightBand), weights=(2, 6, 4, 1))[0],
        build=rng.choice(list(Build)),
        clothing=rng.sample(CLOTHING, rng.randint(1, 3)),
        face_covering=covering,
        language=rng.choice(LANGUAGES),
    )


def random_vehicle(rng: random.Random, plate_key: bytes, key_id: str) -> Vehicle:
    """A car with a plate pseudonym, as offenders' cars are usually noted."""
    return Vehicle(
        kind=GetawayMode.CAR,
        make=rng.choice(CARS),
        colour=rng.choice(COLOURS),
        plate_pseudonym=pseudonymise_plate(random_plate(rng), plate_key, key_id),
    )


def random_crew(rng: random.Random, branch_type: BranchType, plate_key: bytes, key_id: str) -> Crew:
    typical = TYPICAL_MO.get(branch_type, DEFAULT_MO)
    weapons = rng.choice(((Weapon.FIREARM,), (Weapon.KNIFE,), (Weapon.FIREARM, Weapon.KNIFE),
                          (Weapon.BLUNT,), (Weapon.SUGGESTED,)))  # fmt: skip
    return Crew(
        branch_type=branch_type,
        offenders=tuple(
            random_person(rng, masked=True) for _ in range(rng.choices((1, 2, 3), (2, 5, 3))[0])
        ),
        weapons=weapons,
        modus_operandi=tuple(rng.sample(typical, min(len(typical), rng.randint(2, 4)))),
        vehicle=random_vehicle(rng, plate_key, key_id),
    )


def crew_variant(
    rng: random.Random, crew: Crew
) -> tuple[list[PersonDescription], list[ModusOperandi]]:
    """How one robbery by a crew is reported: witnesses note most, not all, of the same."""
    offenders = [
        person.model_copy(update={"clothing": vary_clothing(rng, person.clothing)})
        for person in crew.offenders
    ]
    modus = list(crew.modus_operandi)
    if len(modus) > 2 and rng.random() < 0.3:
        modus.remove(rng.choice(modus))
    return offenders, modus


def vary_clothing(rng: random.Random, clothing: list[str]) -> list[str]:
    kept = [item for item in clothing if rng.random() < 0.8] or clothing[:1]
    if rng.random() < 0.3:
        extra = rng.choice(CLOTHING)
        if extra not in kept:
            kept.append(extra)
    return kept


def random_robbery_traits(
    rng: random.Random, branch_type: BranchType, plate_key: bytes, key_id: str
) -> tuple[list[PersonDescription], list[Weapon], list[ModusOperandi], Getaway]:
    """Offenders, weapons, modus operandi and getaway of a robbery by nobody in particular."""
    count = rng.choices((1, 2, 3, 4), (5, 4, 2, 1))[0]
    offenders = [random_person(rng, masked=rng.random() < 0.7) for _ in range(count)]
    weapons = [rng.choices(list(Weapon), (5, 5, 2, 0.2, 4, 1))[0]]
    typical = TYPICAL_MO.get(branch_type, DEFAULT_MO)
    modus = rng.sample(typical, min(len(typical), rng.randint(1, 3)))
    mode = rng.choices(
        (GetawayMode.ON_FOOT, GetawayMode.BICYCLE, GetawayMode.SCOOTER, GetawayMode.CAR,
         GetawayMode.UNKNOWN), (5, 2, 3, 3, 2))[0]  # fmt: skip
    vehicle: Vehicle | None = None
    if mode == GetawayMode.CAR:
        vehicle = random_vehicle(rng, plate_key, key_id)
        if rng.random() < 0.5:  # witnesses often miss the plate
            vehicle = vehicle.model_copy(update={"plate_pseudonym": None})
    elif mode == GetawayMode.SCOOTER:
        vehicle = Vehicle(kind=mode, make=rng.choice(SCOOTERS), colour=rng.choice(COLOURS))
    return offenders, weapons, modus, Getaway(mode=mode, vehicle=vehicle, direction=_direction(rng))


def loot_of(
    rng: random.Random, branch_type: BranchType, attempt: bool
) -> tuple[list[LootCategory], ValueBand]:
    if attempt:
        return [LootCategory.NOTHING], ValueBand.NONE
    typical = TYPICAL_LOOT.get(branch_type, DEFAULT_LOOT)
    loot = rng.sample(typical, rng.randint(1, len(typical)))
    if branch_type in HIGH_VALUE:
        value = rng.choice(
            (ValueBand.FROM_1K_TO_10K, ValueBand.FROM_10K_TO_50K, ValueBand.OVER_50K)
        )
    else:
        value = rng.choice((ValueBand.UNKNOWN, ValueBand.UNDER_1K, ValueBand.FROM_1K_TO_10K))
    return loot, value


def random_behaviours(rng: random.Random, at_least: int = 1) -> list[ReconBehaviour]:
    return rng.sample(list(ReconBehaviour), rng.randint(at_least, at_least + 1))


def _direction(rng: random.Random) -> str | None:
    if rng.random() < 0.4:
        return None
    return rng.choice(("noord", "oost", "zuid", "west", "richting snelweg",
                       "richting centrum", "het park in"))  # fmt: skip
