"""The column layout of a CBL export: Dutch headers, the Dutch words of each closed list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from schemas.common import BranchType
from schemas.events import (
    Build,
    FaceCovering,
    GetawayMode,
    HeightBand,
    IncidentType,
    LootCategory,
    ModusOperandi,
    ValueBand,
    Weapon,
)

E = TypeVar("E", bound=StrEnum)

# One column per field of the report; docs/cbl-import.md describes each.
MELDINGSNUMMER = "meldingsnummer"
FILIAALNUMMER = "filiaalnummer"
KETEN = "keten"
SOORT_VESTIGING = "soort_vestiging"
BREEDTEGRAAD = "breedtegraad"
LENGTEGRAAD = "lengtegraad"
STRAAT = "straat"
POSTCODE = "postcode"
PLAATS = "plaats"
DATUM_TIJD = "datum_tijd"
SOORT_INCIDENT = "soort_incident"
AANTAL_DADERS = "aantal_daders"
WAPENS = "wapens"
WERKWIJZE = "werkwijze"
BUIT = "buit"
BUITWAARDE = "buitwaarde"
VLUCHTMIDDEL = "vluchtmiddel"
VLUCHTRICHTING = "vluchtrichting"
VOERTUIG_MERK = "voertuig_merk"
VOERTUIG_KLEUR = "voertuig_kleur"
KENTEKEN = "kenteken"
TOELICHTING = "toelichting"

COLUMNS: tuple[str, ...] = (
    MELDINGSNUMMER,
    FILIAALNUMMER,
    KETEN,
    SOORT_VESTIGING,
    BREEDTEGRAAD,
    LENGTEGRAAD,
    STRAAT,
    POSTCODE,
    PLAATS,
    DATUM_TIJD,
    SOORT_INCIDENT,
    AANTAL_DADERS,
    WAPENS,
    WERKWIJZE,
    BUIT,
    BUITWAARDE,
    VLUCHTMIDDEL,
    VLUCHTRICHTING,
    VOERTUIG_MERK,
    VOERTUIG_KLEUR,
    KENTEKEN,
    TOELICHTING,
)
REQUIRED: frozenset[str] = frozenset(
    {MELDINGSNUMMER, FILIAALNUMMER, BREEDTEGRAAD, LENGTEGRAAD, DATUM_TIJD, SOORT_INCIDENT}
)

# Offender descriptions: signalement_<n>_<part>, n = 1..20 (the contract's limit).
SIGNALEMENT = re.compile(r"^signalement_(?P<number>[1-9][0-9]?)_(?P<part>[a-z]+)$")
SIGNALEMENT_PARTS: tuple[str, ...] = ("lengte", "postuur", "kleding", "gezichtsbedekking", "taal")
MAX_OFFENDERS = 20

# Fields that hold several values, separated by commas within the cell.
LIST_SEPARATOR = ","

# Where a field of the contract comes from, for naming the column in a rejection. Longest
# prefix first wins; a location outside the Netherlands is both coordinates' fault.
CONTRACT_TO_COLUMN: tuple[tuple[str, str], ...] = (
    ("event_id", MELDINGSNUMMER),
    ("branch.branch_id", FILIAALNUMMER),
    ("branch.chain", KETEN),
    ("branch.branch_type", SOORT_VESTIGING),
    ("branch.location.lat", BREEDTEGRAAD),
    ("branch.location.lon", LENGTEGRAAD),
    ("branch.location", f"{BREEDTEGRAAD}+{LENGTEGRAAD}"),
    ("branch.address.street", STRAAT),
    ("branch.address.postcode", POSTCODE),
    ("branch.address.city", PLAATS),
    ("branch.address", f"{STRAAT}+{POSTCODE}+{PLAATS}"),
    ("occurred_at", DATUM_TIJD),
    ("incident_type", SOORT_INCIDENT),
    ("offender_count", AANTAL_DADERS),
    ("weapons", WAPENS),
    ("modus_operandi", WERKWIJZE),
    ("loot_value", BUITWAARDE),
    ("loot", BUIT),
    ("getaway.mode", VLUCHTMIDDEL),
    ("getaway.direction", VLUCHTRICHTING),
    ("getaway.vehicle.kind", VLUCHTMIDDEL),
    ("getaway.vehicle.make", VOERTUIG_MERK),
    ("getaway.vehicle.colour", VOERTUIG_KLEUR),
    ("getaway.vehicle.plate", KENTEKEN),
    ("getaway", VLUCHTMIDDEL),
    ("free_text", TOELICHTING),
)
PERSON_TO_PART: dict[str, str] = {
    "height_band": "lengte",
    "build": "postuur",
    "clothing": "kleding",
    "face_covering": "gezichtsbedekking",
    "language": "taal",
}


def normalise_header(header: str) -> str:
    """'Datum tijd', 'DATUM-TIJD' and ' datum_tijd ' are one column."""
    return re.sub(r"[\s-]+", "_", header.strip().lower())


def normalise_word(word: str) -> str:
    """'Te voet', 'te-voet' and 'TE_VOET' are one word of a closed list."""
    return re.sub(r"[\s-]+", "_", word.strip().lower())


@dataclass(frozen=True)
class Vocabulary(Generic[E]):
    """The Dutch words of one closed list; the contract's own (English) values are accepted too."""

    enum: type[E]
    dutch: dict[str, E]

    def lookup(self, word: str) -> E | None:
        normalised = normalise_word(word)
        if normalised in self.dutch:
            return self.dutch[normalised]
        try:
            return self.enum(normalised)
        except ValueError:
            return None

    def choices(self) -> str:
        return ", ".join(self.dutch)


BRANCH_TYPES = Vocabulary(
    BranchType,
    {
        "supermarkt": BranchType.SUPERMARKET,
        "tankstation": BranchType.PETROL_STATION,
        "snackbar": BranchType.SNACK_BAR,
        "ijssalon": BranchType.ICE_CREAM_SHOP,
        "drogisterij": BranchType.DRUGSTORE,
        "juwelier": BranchType.JEWELLER,
        "telecomwinkel": BranchType.TELECOM_SHOP,
        "opticien": BranchType.OPTICIAN,
        "apotheek": BranchType.PHARMACY,
        "tabakszaak": BranchType.TOBACCONIST,
        "sigarenwinkel": BranchType.TOBACCONIST,
        "horeca": BranchType.HORECA,
        "bank": BranchType.BANK,
        "transport": BranchType.TRANSPORT,
        "maaltijdbezorging": BranchType.MEAL_DELIVERY,
        "woning": BranchType.HOME,
        "overige_detailhandel": BranchType.OTHER_RETAIL,
    },
)
INCIDENT_TYPES = Vocabulary(
    IncidentType,
    {
        "overval": IncidentType.OVERVAL,
        "poging": IncidentType.POGING,
        "poging_tot_overval": IncidentType.POGING,
        "straatroof": IncidentType.STRAATROOF,
        "ramkraak": IncidentType.RAMKRAAK,
        "plofkraak": IncidentType.PLOFKRAAK,
        "woningoverval": IncidentType.WONINGOVERVAL,
    },
)
WEAPONS = Vocabulary(
    Weapon,
    {
        "vuurwapen": Weapon.FIREARM,
        "mes": Weapon.KNIFE,
        "steekwapen": Weapon.KNIFE,
        "slagwapen": Weapon.BLUNT,
        "explosief": Weapon.EXPLOSIVE,
        "gesuggereerd": Weapon.SUGGESTED,
        "geen": Weapon.NONE,
    },
)
MODI_OPERANDI = Vocabulary(
    ModusOperandi,
    {
        "bij_opening": ModusOperandi.AT_OPENING,
        "bij_sluiting": ModusOperandi.AT_CLOSING,
        "via_achterdeur": ModusOperandi.VIA_BACK_DOOR,
        "binnen_gewacht": ModusOperandi.WAITED_INSIDE,
        "personeel_bedreigd": ModusOperandi.THREATENED_STAFF,
        "personeel_vastgebonden": ModusOperandi.TIED_UP_STAFF,
        "geweld_gebruikt": ModusOperandi.VIOLENCE_USED,
        "kassa": ModusOperandi.CASH_REGISTER,
        "kluis": ModusOperandi.SAFE,
        "vitrine": ModusOperandi.DISPLAY_CASE,
        "sigaretten": ModusOperandi.CIGARETTES,
        "als_klant": ModusOperandi.POSED_AS_CUSTOMER,
        "als_bezorger": ModusOperandi.POSED_AS_DELIVERY,
        "voertuig_ingereden": ModusOperandi.VEHICLE_RAM,
        "gas_of_explosief": ModusOperandi.GAS_OR_EXPLOSIVE,
    },
)
LOOT = Vocabulary(
    LootCategory,
    {
        "geld": LootCategory.CASH,
        "sigaretten": LootCategory.CIGARETTES,
        "telefoons": LootCategory.PHONES,
        "horloges": LootCategory.WATCHES,
        "sieraden": LootCategory.JEWELLERY,
        "zonnebrillen": LootCategory.SUNGLASSES,
        "medicijnen": LootCategory.MEDICINES,
        "overige_goederen": LootCategory.OTHER_GOODS,
        "niets": LootCategory.NOTHING,
    },
)
VALUE_BANDS = Vocabulary(
    ValueBand,
    {
        "onbekend": ValueBand.UNKNOWN,
        "geen": ValueBand.NONE,
        "tot_1000": ValueBand.UNDER_1K,
        "1000_10000": ValueBand.FROM_1K_TO_10K,
        "10000_50000": ValueBand.FROM_10K_TO_50K,
        "meer_dan_50000": ValueBand.OVER_50K,
    },
)
GETAWAY_MODES = Vocabulary(
    GetawayMode,
    {
        "te_voet": GetawayMode.ON_FOOT,
        "fiets": GetawayMode.BICYCLE,
        "scooter": GetawayMode.SCOOTER,
        "brommer": GetawayMode.SCOOTER,
        "motor": GetawayMode.MOTORCYCLE,
        "auto": GetawayMode.CAR,
        "onbekend": GetawayMode.UNKNOWN,
    },
)
HEIGHT_BANDS = Vocabulary(
    HeightBand,
    {
        "<165": HeightBand.UNDER_165,
        "kleiner_dan_165": HeightBand.UNDER_165,
        "165_180": HeightBand.FROM_165_TO_180,
        "180_195": HeightBand.FROM_180_TO_195,
        ">195": HeightBand.OVER_195,
        "groter_dan_195": HeightBand.OVER_195,
    },
)
BUILDS = Vocabulary(
    Build,
    {
        "tenger": Build.SLIM,
        "slank": Build.SLIM,
        "normaal": Build.MEDIUM,
        "gemiddeld": Build.MEDIUM,
        "fors": Build.HEAVY,
        "zwaar": Build.HEAVY,
    },
)
FACE_COVERINGS = Vocabulary(
    FaceCovering,
    {
        "geen": FaceCovering.NONE,
        "bivakmuts": FaceCovering.BALACLAVA,
        "sjaal": FaceCovering.SCARF,
        "capuchon": FaceCovering.HOOD,
        "motorhelm": FaceCovering.MOTORCYCLE_HELMET,
        "pet": FaceCovering.CAP,
        "zonnebril": FaceCovering.SUNGLASSES,
        "mondkapje": FaceCovering.MEDICAL_MASK,
    },
)
