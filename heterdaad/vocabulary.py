"""The words for the contract's vocabularies, Dutch and English: one wording for staff and police.

The intake form (producers/api/pages.py) offers them, the desk (consumers/desk/texts.py) shows
them; both take them from here so neither side imports the other.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from heterdaad.language import Language
from schemas.events import Build, FaceCovering, GetawayMode, HeightBand, ReconBehaviour, Weapon

Member = TypeVar("Member", bound=StrEnum)

BEHAVIOUR_LABELS: dict[ReconBehaviour, str] = {
    ReconBehaviour.ASKS_CLOSING_TIME: "Vraagt naar de sluitingstijd",
    ReconBehaviour.ASKS_ABOUT_CASH: "Vraagt naar geld in kassa of kluis",
    ReconBehaviour.FILMS_ENTRANCE: "Filmt of fotografeert de ingang",
    ReconBehaviour.FILMS_CAMERAS: "Filmt of bekijkt de camera's",
    ReconBehaviour.LOITERS_AT_OPENING: "Hangt rond bij openingstijd",
    ReconBehaviour.LOITERS_AT_CLOSING: "Hangt rond bij sluitingstijd",
    ReconBehaviour.REPEATED_VISITS_NO_PURCHASE: "Komt vaker terug zonder iets te kopen",
    ReconBehaviour.WATCHES_STAFF_ENTRANCE: "Houdt de personeelsingang in de gaten",
    ReconBehaviour.WAITS_IN_VEHICLE: "Wacht in een voertuig",
}
VEHICLE_LABELS: dict[GetawayMode, str] = {
    GetawayMode.CAR: "Auto",
    GetawayMode.SCOOTER: "Scooter",
    GetawayMode.MOTORCYCLE: "Motor",
    GetawayMode.BICYCLE: "Fiets",
    GetawayMode.ON_FOOT: "Te voet",
    GetawayMode.UNKNOWN: "Onbekend",
}
HEIGHT_LABELS: dict[HeightBand, str] = {
    HeightBand.UNDER_165: "kleiner dan 1,65 m",
    HeightBand.FROM_165_TO_180: "1,65 - 1,80 m",
    HeightBand.FROM_180_TO_195: "1,80 - 1,95 m",
    HeightBand.OVER_195: "groter dan 1,95 m",
}
BUILD_LABELS: dict[Build, str] = {
    Build.SLIM: "slank",
    Build.MEDIUM: "gemiddeld",
    Build.HEAVY: "fors",
}
FACE_LABELS: dict[FaceCovering, str] = {
    FaceCovering.NONE: "niet bedekt",
    FaceCovering.BALACLAVA: "bivakmuts",
    FaceCovering.SCARF: "sjaal",
    FaceCovering.HOOD: "capuchon",
    FaceCovering.MOTORCYCLE_HELMET: "motorhelm",
    FaceCovering.CAP: "pet",
    FaceCovering.SUNGLASSES: "zonnebril",
    FaceCovering.MEDICAL_MASK: "mondkapje",
}
WEAPON_LABELS: dict[Weapon, str] = {
    Weapon.FIREARM: "vuurwapen",
    Weapon.KNIFE: "mes of steekwapen",
    Weapon.BLUNT: "slagwapen",
    Weapon.EXPLOSIVE: "explosief",
    Weapon.SUGGESTED: "wapen gesuggereerd",
    Weapon.NONE: "geen wapen gezien",
}

# The same words in English, for a form or desk page in English. A height band is a length in
# metres as in Dutch ("1.80 - 1.95 m"), never its identifier ("180_195"). Look one up with
# english_label: two vocabularies share a value ('none' of FaceCovering and of Weapon), and
# members of a StrEnum equal to the same string are one key of a dict, the later's words winning
# (an English form offered 'no weapon seen' for a face that was not covered).
_ENGLISH: tuple[tuple[StrEnum, str], ...] = (
    (ReconBehaviour.ASKS_CLOSING_TIME, "Asks about closing time"),
    (ReconBehaviour.ASKS_ABOUT_CASH, "Asks about cash in the till or safe"),
    (ReconBehaviour.FILMS_ENTRANCE, "Films or photographs the entrance"),
    (ReconBehaviour.FILMS_CAMERAS, "Films or studies the cameras"),
    (ReconBehaviour.LOITERS_AT_OPENING, "Hangs around at opening time"),
    (ReconBehaviour.LOITERS_AT_CLOSING, "Hangs around at closing time"),
    (ReconBehaviour.REPEATED_VISITS_NO_PURCHASE, "Keeps coming back without buying"),
    (ReconBehaviour.WATCHES_STAFF_ENTRANCE, "Watches the staff entrance"),
    (ReconBehaviour.WAITS_IN_VEHICLE, "Waits in a vehicle"),
    (GetawayMode.CAR, "Car"),
    (GetawayMode.SCOOTER, "Scooter"),
    (GetawayMode.MOTORCYCLE, "Motorcycle"),
    (GetawayMode.BICYCLE, "Bicycle"),
    (GetawayMode.ON_FOOT, "On foot"),
    (GetawayMode.UNKNOWN, "Unknown"),
    (HeightBand.UNDER_165, "shorter than 1.65 m"),
    (HeightBand.FROM_165_TO_180, "1.65 - 1.80 m"),
    (HeightBand.FROM_180_TO_195, "1.80 - 1.95 m"),
    (HeightBand.OVER_195, "taller than 1.95 m"),
    (Build.SLIM, "slim"),
    (Build.MEDIUM, "medium"),
    (Build.HEAVY, "heavy"),
    (FaceCovering.NONE, "not covered"),
    (FaceCovering.BALACLAVA, "balaclava"),
    (FaceCovering.SCARF, "scarf"),
    (FaceCovering.HOOD, "hood"),
    (FaceCovering.MOTORCYCLE_HELMET, "motorcycle helmet"),
    (FaceCovering.CAP, "cap"),
    (FaceCovering.SUNGLASSES, "sunglasses"),
    (FaceCovering.MEDICAL_MASK, "face mask"),
    (Weapon.FIREARM, "firearm"),
    (Weapon.KNIFE, "knife or stabbing weapon"),
    (Weapon.BLUNT, "blunt weapon"),
    (Weapon.EXPLOSIVE, "explosive"),
    (Weapon.SUGGESTED, "weapon suggested"),
    (Weapon.NONE, "no weapon seen"),
)
ENGLISH_LABELS: dict[tuple[type[StrEnum], str], str] = {
    (type(member), member.value): text for member, text in _ENGLISH
}


def english_label(member: StrEnum) -> str | None:
    """A vocabulary value's English words, told apart from another vocabulary's equal value."""
    return ENGLISH_LABELS.get((type(member), member.value))


def in_language(labels: dict[Member, str], language: Language) -> dict[Member, str]:
    """One vocabulary's labels (one of the Dutch tables above) in the reader's language."""
    if language == "nl":
        return labels
    return {member: ENGLISH_LABELS[type(member), member.value] for member in labels}
