"""The Dutch words for the contract's vocabularies: one wording for the form, staff and police.

The intake form (producers/api/pages.py) offers them, the desk (consumers/desk/texts.py) shows
them; both take them from here so neither side imports the other.
"""

from __future__ import annotations

from schemas.events import Build, FaceCovering, GetawayMode, HeightBand, ReconBehaviour

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
