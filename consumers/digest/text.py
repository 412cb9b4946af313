"""The digest's words in Dutch (default) and English, and numbers and dates as each writes them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from consumers.alert_text import (
    BRANCH_TYPE,
    ONE_BRANCH_TYPE,
    ONE_INCIDENT_KIND,
    SEVERITY,
    UNIT,
    local_time,
)
from consumers.digest.period import NL_TIME
from heterdaad import notation
from heterdaad.language import Language
from schemas.alerts import Severity
from schemas.common import BranchType, PoliceUnit

if TYPE_CHECKING:
    from consumers.digest.content import Rules
    from consumers.digest.period import Month

MONTHS: dict[Language, tuple[str, ...]] = {
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip
WEEKDAYS: dict[Language, tuple[str, ...]] = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
INCIDENT_KIND: dict[str, dict[Language, str]] = {
    "overval": {"nl": "overvallen", "en": "robberies"},
    "poging": {"nl": "pogingen", "en": "attempted robberies"},
    "woningoverval": {"nl": "woningovervallen", "en": "home robberies"},
    "straatroof": {"nl": "straatroven", "en": "street robberies"},
    "ramkraak": {"nl": "ramkraken", "en": "ram raids"},
    "plofkraak": {"nl": "plofkraken", "en": "ATM explosive attacks"},
}

# Every other phrase, by key: (Dutch, English).
PHRASES: dict[str, tuple[str, str]] = {
    "title": ("Maanddigest overvallen", "Monthly robbery digest"),
    "audience": ("Voor de werkgroep retail en politie", "For the retail and police working group"),
    "made": ("Gemaakt op", "Made on"),
    "aggregate_only": (
        "Alleen geaggregeerde aantallen: geen kentekens, geen signalementen.",
        "Aggregate counts only: no licence plates, no descriptions of persons.",
    ),
    "provisional": (
        "Voorlopig: de maand is nog niet voorbij.",
        "Provisional: the month is not over yet.",
    ),
    "glance": ("In het kort", "At a glance"),
    "robberies": ("Overvallen", "Robberies"),
    "street_robberies": ("Straatroven", "Street robberies"),
    "ram_raids": ("Ram- en plofkraken", "Ram raids and ATM attacks"),
    "recon": ("Voorverkenningen", "Reconnaissance reports"),
    "false_share": ("Loze alarmeringen", "False alarms"),
    "hotspots": ("Hotspots", "Hotspots"),
    "series": ("Overvalreeksen", "Robbery series"),
    "vs_previous": ("vorige maand", "previous month"),
    "ceiling": ("plafond", "ceiling"),
    "followed": ("gevolgd door overval", "followed by a robbery"),
    "episodes": ("episodes", "episodes"),
    "incidents": ("Incidenten", "Incidents"),
    "incidents_intro": (
        "Alle gemelde incidenten van de maand (overvallen, pogingen, straatroven, ram- en "
        "plofkraken), dubbele meldingen van één incident één keer geteld.",
        "Every incident reported in the month (robberies, attempts, street robberies, ram "
        "raids and ATM attacks), an incident reported twice counted once.",
    ),
    "by_kind": ("Naar soort incident", "By kind of incident"),
    "by_branch_type": ("Naar soort vestiging", "By branch type"),
    "by_police_unit": ("Naar politie-eenheid", "By police unit"),
    "by_hour": ("Naar uur van de dag", "By hour of day"),
    "by_weekday": ("Naar dag van de week", "By weekday"),
    "map_incidents": ("Waar de incidenten waren", "Where the incidents were"),
    "hotspots_intro": (
        "Gebieden waar de hotspotdetectie deze maand meer overvallen zag dan verwacht. "
        "'Achteraf gevonden': de scan van de detectie vond de hotspot pas bij het maken van "
        "dit digest, in alle opgeslagen overvallen van de maand, ook die later zijn geladen "
        "(zoals een CBL-export); er ging geen alert over uit.",
        "Areas where hotspot detection saw more robberies than expected this month. "
        "'Found afterwards': the detection's scan found the hotspot only when this digest was "
        "made, in every robbery stored for the month, also those loaded later (such as a CBL "
        "export); no alert was sent about it.",
    ),
    "series_intro": (
        "Overvallen die de reeksdetectie deze maand aan één dader of groep daders toeschreef.",
        "Robberies that series detection attributed to one crew this month.",
    ),
    "series_members": ("Overvallen per reeks", "Robberies per series"),
    "series_members_intro": (
        "Elke overval van elke reeks hierboven, met wanneer hij gebeurde (lokale tijd).",
        "Every robbery of every series above, with when it happened (local time).",
    ),
    "none_this_month": ("Geen deze maand.", "None this month."),
    "recon_intro": (
        "Gemelde voorverkenningen en hoeveel daarvan binnen {days} dagen gevolgd werden door "
        "een overval binnen {km} km.",
        "Reconnaissance reports and how many were followed within {days} days by a robbery "
        "within {km} km.",
    ),
    "recon_warnings": (
        "Waarschuwingen voorverkenning uitgegeven",
        "Reconnaissance warnings issued",
    ),
    "alarms": ("Loze alarmeringen per alarmcentrale", "False alarms per alarm centre"),
    "alarms_intro": (
        "Overval- en paniekalarmen, gebundeld tot episodes per locatie; een episode zonder "
        "escalatie-alert telt als loos.",
        "Hold-up and panic alarms, grouped into episodes per site; an episode without an "
        "escalation alert counts as false.",
    ),
    "trend": ("Trend: de afgelopen twaalf maanden", "Trend: the last twelve months"),
    "ambitions": ("Ambities van de Taskforce", "The taskforce's ambitions"),
    "clearance_note": (
        "Het ophelderingspercentage staat niet in de gegevens (de meldingen zeggen niet of er "
        "een verdachte is aangehouden); daarom staat er n.b.",
        "The clearance rate is not in the data (reports do not say whether a suspect was "
        "caught), hence n/a (not available).",
    ),
    "method": ("Werkwijze en regels", "Method and rules"),
    "exports": ("Bestanden bij dit digest", "Files with this digest"),
    "no_data": ("geen gegevens", "no data"),
    "n_a": ("n.b.", "n/a"),
    "all": ("totaal", "total"),
    "unknown": ("onbekend", "unknown"),
    "met": ("gehaald", "met"),
    "not_met": ("niet gehaald", "not met"),
    "unknown_status": ("niet te bepalen", "cannot tell"),
    # Column headers.
    "col_kind": ("soort", "kind"),
    "col_count": ("aantal", "count"),
    "col_share": ("aandeel", "share"),
    "col_branch_type": ("soort vestiging", "branch type"),
    "col_police_unit": ("politie-eenheid", "police unit"),
    "col_hour": ("uur", "hour"),
    "col_weekday": ("dag", "day"),
    "col_label": ("nr.", "no."),
    "col_alerts": ("alerts", "alerts"),
    "col_severity": ("urgentie", "severity"),
    "col_found": ("herkomst", "source"),
    "found_live": ("alert", "alert"),
    "found_afterwards": ("achteraf gevonden", "found afterwards"),
    "col_radius": ("straal (km)", "radius (km)"),
    "col_incidents": ("incidenten", "incidents"),
    "col_first": ("eerste", "first"),
    "col_occurred": ("gebeurd op", "happened at"),
    "col_last": ("laatste", "last"),
    "col_branch_types": ("doelwitten", "targets"),
    "col_sightings": ("meldingen", "reports"),
    "col_followed": ("gevolgd door overval", "followed by robbery"),
    "col_open": ("termijn loopt nog", "window still open"),
    "col_centre": ("alarmcentrale", "alarm centre"),
    "col_episodes": ("episodes", "episodes"),
    "col_escalated": ("geëscaleerd", "escalated"),
    "col_false": ("loos", "false"),
    "col_month": ("maand", "month"),
    "col_measure": ("ambitie", "ambition"),
    "col_actual": ("werkelijk", "actual"),
    "col_target": ("doel", "target"),
    "col_status": ("oordeel", "verdict"),
    # Ambitions.
    "robberies_month": ("Overvallen deze maand (plafond 900 per jaar)",
                        "Robberies this month (ceiling 900 a year)"),
    "robberies_12_months": ("Overvallen afgelopen 12 maanden, naar jaar omgerekend",
                            "Robberies over the last 12 months, scaled to a year"),
    "robbery_clearance": ("Ophelderingspercentage overvallen", "Robbery clearance rate"),
    "street_robberies_month": ("Straatroven deze maand (plafond 2.900 per jaar)",
                               "Street robberies this month (ceiling 2,900 a year)"),
    "street_robbery_clearance": ("Ophelderingspercentage straatroof",
                                 "Street robbery clearance rate"),
    "months_of_data": ("maanden met gegevens", "months of data"),
    "pdf_skipped": ("PDF overgeslagen: weasyprint is niet geïnstalleerd.",
                    "PDF skipped: weasyprint is not installed."),
    # Whether the stated chances hold (consumers/reliability.py).
    "reliability": ("Kloppen de vermelde kansen?", "Do the stated chances hold?"),
    "reliability_intro": (
        "Reeks-, voorverkennings- en hotspotalerts vermelden de kans (hotspots: de "
        "herhalingstijd) waarop ze rusten. Analisten bevestigen of verwerpen het patroon op de "
        "overvallendesk van de politie. Per soort, model en band van de vermelde kans: hoeveel "
        "alerts beoordeeld zijn, het aandeel bevestigd met zijn 95%-interval, en de gemiddeld "
        "vermelde kans. Ligt die boven het interval, dan overschat het model de kans: dat is "
        "reden om het opnieuw te kalibreren (reeksen: heterdaad model fit; voorverkenning: "
        "bench.evaluation.calibrate_recon). Alleen gemelde patronen worden beoordeeld: dit "
        "toetst wat de alerts beweren, niet hoeveel reeksen gemist worden.",
        "Series, reconnaissance and hotspot alerts state the chance (hotspots: the recurrence "
        "interval) they rest on. Analysts confirm or reject the pattern on the desk. Per kind, "
        "model and band of the stated chance: how many alerts were judged, the share "
        "confirmed with its 95% interval, and the mean chance stated. Where that lies above "
        "the interval, the model overstates the chance: a reason to calibrate it again "
        "(series: heterdaad model fit; reconnaissance: bench.evaluation.calibrate_recon). Only "
        "patterns that were alerted get judged: this checks what the alerts claim, not how "
        "many series are missed.",
    ),
    "reliability_none": ("Nog geen beoordeelde alerts.", "No judged alerts yet."),
    "judgements_in_month": ("Oordelen deze maand", "Judgements this month"),
    "overstates": ("overschat", "overstates"),
    "understates": ("onderschat", "understates"),
    "holds": ("binnen de marge", "within the margin"),
    "nothing_stated": ("niets vermeld", "nothing stated"),
    "stated_link": ("overval gekoppeld", "robbery linked back"),
    "stated_probability": ("kans {low}-{high}", "chance {low}-{high}"),
    "stated_recurrence": ("herhalingstijd {low}{high} dagen", "recurrence {low}{high} days"),
    "stated_chance": ("vermelde kans", "stated chance"),
    "as_stated": ("zoals vermeld", "as stated"),
    "col_pattern": ("soort patroon", "pattern"),
    "col_model": ("model", "model"),
    "col_stated": ("vermeld", "stated"),
    "col_judged": ("beoordeeld", "judged"),
    "col_confirmed": ("bevestigd", "confirmed"),
    "col_share_confirmed": ("aandeel bevestigd", "share confirmed"),
    "col_interval": ("95%-interval", "95% interval"),
    "col_mean_stated": ("gem. vermelde kans", "mean stated chance"),
}  # fmt: skip

PATTERN_KIND: dict[str, dict[Language, str]] = {
    "series": {"nl": "overvalreeks", "en": "robbery series"},
    "reconnaissance_warning": {"nl": "voorverkenning", "en": "reconnaissance"},
    "reconnaissance_link": {
        "nl": "overval na voorverkenning",
        "en": "robbery after reconnaissance",
    },
    "hotspot": {"nl": "hotspot", "en": "hotspot"},
}


def phrase(key: str, language: Language) -> str:
    dutch, english = PHRASES[key]
    return dutch if language == "nl" else english


def with_rules(text: str, language: Language, rules: Rules) -> str:
    """A phrase with the digest's rule numbers ({days}, {km}) filled in from the settings;
    other fields ({low}, {high}) are left for the table that fills them."""
    return text.format_map(_Fields(
        days=amount(rules.recon_follow_up.total_seconds() / 86400, language),
        km=amount(rules.recon_follow_up_radius_m / 1000, language),
    ))  # fmt: skip


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return f"{{{key}}}"


def amount(value: float, language: Language) -> str:
    """A rule's number as people write it: 14, 1, but 1,5 (a setting need not be whole)."""
    return number(value, language, 0 if float(value).is_integer() else 1)


def month_name(month: Month, language: Language) -> str:
    return f"{MONTHS[language][month.month - 1]} {month.year}"


def short_month(month: Month, language: Language) -> str:
    """A chart's month label: "nov '26", never "nov 26", which reads as 26 November."""
    return f"{MONTHS[language][month.month - 1][:3]} '{month.year % 100:02d}"


def day(moment: datetime, language: Language) -> str:
    """A date as written in the language, in Dutch time."""
    local = moment.astimezone(NL_TIME)
    if language == "nl":
        return f"{local.day} {MONTHS['nl'][local.month - 1]} {local.year}"
    return f"{local.day} {MONTHS['en'][local.month - 1]} {local.year}"


def csv_stamp(moment: datetime) -> str:
    """A table's date and time in its CSV: Dutch local time as 'YYYY-MM-DD HH:MM', one notation
    for spreadsheets in both languages."""
    return f"{moment.astimezone(NL_TIME):%Y-%m-%d %H:%M}"


def page_stamp(moment: datetime, language: Language) -> str:
    """A table's date and time on the page as the reader writes it, as the desk and the alert
    line do: '02-11-2026 05:47' in Dutch, '2026-11-02 05:47' in English (Dutch time)."""
    return local_time(moment, language)


def short_day(moment: datetime) -> str:
    """dd-mm, the same in both languages; for tables of dates within one year."""
    local = moment.astimezone(NL_TIME)
    return f"{local.day:02d}-{local.month:02d}"


def number(value: float, language: Language, decimals: int = 0) -> str:
    """12.5 as '12,5' in Dutch; thousands as '2.900' in Dutch and '2,900' in English."""
    return notation.number(value, decimals, language)


def percent(value: float | None, language: Language) -> str:
    if value is None:
        return phrase("n_a", language)
    return f"{number(100 * value, language, 1)}%"


def branch_type(code: str, language: Language) -> str:
    try:
        return BRANCH_TYPE[BranchType(code)][language]
    except ValueError:
        return phrase("unknown", language)


def one_branch_type(code: str, language: Language) -> str:
    """One branch of the type, for a row that lists one robbery: 'supermarkt'."""
    try:
        return ONE_BRANCH_TYPE[BranchType(code)][language]
    except ValueError:
        return phrase("unknown", language)


def police_unit(code: str) -> str:
    try:
        return UNIT[PoliceUnit(code)]
    except ValueError:
        return code


def incident_kind(code: str, language: Language) -> str:
    labels = INCIDENT_KIND.get(code)
    return labels[language] if labels else code


def one_incident_kind(code: str, language: Language) -> str:
    labels = ONE_INCIDENT_KIND.get(code)
    return labels[language] if labels else code


def pattern_kind(code: str, language: Language) -> str:
    labels = PATTERN_KIND.get(code)
    return labels[language] if labels else code


def severity(code: str, language: Language) -> str:
    return SEVERITY[Severity(code)][language]


def method_rules(language: Language, rules: Rules) -> list[str]:
    """How every number was made, in the language: the rules the working group can check."""
    # Imported here: the rule module's constant is the single source of this number.
    from consumers.digest.incidents import SAME_SPOT_M

    episode = number(rules.episode_window.total_seconds() / 60, language)
    late = number(rules.escalation_window.total_seconds() / 3600, language)
    lead = amount(rules.escalation_lead.total_seconds() / 60, language)
    radius = amount(rules.escalation_radius_m, language)
    days = amount(rules.recon_follow_up.total_seconds() / 86400, language)
    km = amount(rules.recon_follow_up_radius_m / 1000, language)
    duplicate = number(rules.duplicate_window.total_seconds() / 60, language)
    same = int(SAME_SPOT_M)
    if language == "nl":
        return [
            "Maanden, uren en weekdagen volgen de Nederlandse tijd (Europe/Amsterdam).",
            "Overvallen zijn overvallen, pogingen en woningovervallen; straatroof en ram- en "
            "plofkraken worden apart geteld.",
            f"Twee meldingen op dezelfde plek (binnen {same} m) binnen {duplicate} minuten "
            "zijn één incident als ze van twee organisaties komen (bijvoorbeeld de winkel en "
            "het CBL-meldpunt) of van één organisatie langs twee wegen (de API en een import "
            "uit het CBL-meldpunt); de eerste telt. Twee meldingen van één organisatie langs "
            "dezelfde weg zijn twee overvallen: elke weg geeft een overval één eigen nummer "
            "(het meldingsnummer van het CBL, het event-id in de API).",
            f"Voorverkenning gevolgd door een overval: een overval binnen {km} km van de "
            f"gemelde plek, na de melding en binnen {days} dagen. Dit is een eenvoudige regel "
            "op plaats en tijd (geen koppeling op voertuig of signalement) en telt dus ook "
            "toeval mee; 'termijn loopt nog': de termijn was niet om toen dit digest werd "
            "gemaakt.",
            "Alarmen: overval-, paniek- en dwangalarmen (geen test-, herstel- of "
            "annuleringssignalen). Alarmen van dezelfde locatie bij dezelfde alarmcentrale "
            f"binnen {episode} minuten na het eerste vormen één episode, zoals in de "
            "alarmverificatie; een episode telt in de maand van het eerste alarm.",
            "Een episode is geëscaleerd als er een alert 'overval gaande' of 'geverifieerd "
            f"overvalalarm' voor is gemaakt: binnen {radius} m, na het begin van de episode "
            f"(met {lead} minuten speling voor klokken) en hooguit {late} uur na het laatste "
            "alarm, zo lang als de verificatie late bewijzen (zoals een overvalmelding) "
            "afwacht. Een alert hoort bij de laatst begonnen episode op die plek. Een episode "
            "zonder escalatie telt als loos.",
            "Hotspots en reeksen komen uit de alerts van de detectie, gegroepeerd per hotspot "
            "of reeks; de data zijn die van de alerts (hotspot) of van de overvallen (reeks).",
            "Daarnaast draait het digest de scan van de hotspotdetectie, met dezelfde "
            "drempels, op elk moment in de maand waarop een overval of voorverkenning "
            "gebeurde, over alle opgeslagen meldingen van de maand en de studieperiode "
            "ervoor, ook wat later is geladen. Een hotspot die daarbij gevonden wordt en geen "
            "melding deelt met een hotspotalert, staat erbij als 'achteraf gevonden'.",
            "Een maand vóór het eerste opgeslagen bericht heet 'geen gegevens', niet nul. "
            "Het omgerekende jaartotaal is het gemiddelde per maand met gegevens maal 12.",
            "De ambities (ten hoogste 900 overvallen en 2.900 straatroven per jaar, ten minste "
            "53% en 30% opgehelderd) komen uit het Actieprogramma aanpak overvallen 2022-2026.",
            "Kloppen de vermelde kansen: per alert telt het nieuwste oordeel van een analist "
            "dat vóór het einde van de maand is gegeven (alle maanden tot dan samen); het "
            "interval is het 95%-interval van Wilson. Wat het alert vermeldde, wordt bij het "
            "oordeel bewaard en blijft dus na de bewaartermijn staan.",
            "Alle cijfers komen uit de anonieme kolommen van de database; ze blijven kloppen "
            "nadat persoonsgegevens na de bewaartermijn zijn verwijderd. Het maken van dit "
            "digest is vastgelegd in het auditlog.",
        ]
    return [
        "Months, hours and weekdays are Dutch time (Europe/Amsterdam).",
        "Robberies are robberies, attempts and home robberies; street robbery and ram raids "
        "or ATM attacks are counted on their own.",
        f"Two reports at the same spot (within {same} m) within {duplicate} minutes are one "
        "incident when two organisations sent them (the shop and the CBL tool, say) or one "
        "organisation sent them through both channels (the API and an import from the CBL "
        "tool); the first one counts. Two reports by one organisation through the same channel "
        "are two robberies: each channel gives a robbery one number of its own (the CBL's "
        "melding number, the event id in the API).",
        f"Reconnaissance followed by a robbery: a robbery within {km} km of the reported spot, "
        f"after the report and within {days} days. This is a simple rule of place and time "
        "(no matching of vehicles or descriptions), so it counts coincidences too; 'window "
        "still open': the period had not ended when this digest was made.",
        "Alarms: hold-up, panic and duress activations (not tests, restores or cancels). "
        f"Activations from one site of one alarm centre within {episode} minutes of the first "
        "are one episode, as in alarm verification; an episode counts in the month of its "
        "first activation.",
        "An episode is escalated when a 'hold-up in progress' or 'verified hold-up alarm' "
        f"alert was made for it: within {radius} m, after the episode began (with {lead} "
        f"minutes to spare for clocks) and at most {late} hours after its last activation, as "
        "long as verification waits for late evidence such as a robbery report. An alert "
        "belongs to the latest episode begun at that spot. An episode without one is false.",
        "Hotspots and series come from the detectors' alerts, grouped per hotspot or series; "
        "the dates are those of the alerts (hotspot) or of the robberies (series).",
        "The digest also runs the hotspot detection's scan, with the same thresholds, at "
        "every moment of the month a robbery or reconnaissance happened, over every report "
        "stored for the month and the study period before it, also what was loaded later. A "
        "hotspot it finds that shares no report with a hotspot alert is listed as 'found "
        "afterwards'.",
        "A month before the first stored message says 'no data', not zero. The yearly figure "
        "is the mean per month with data times 12.",
        "The ambitions (at most 900 robberies and 2,900 street robberies a year, at least 53% "
        "and 30% cleared) are those of the Actieprogramma aanpak overvallen 2022-2026.",
        "Do the stated chances hold: per alert, the newest verdict an analyst gave before "
        "the month's end counts (all months until then together); the interval is Wilson's "
        "95% interval. What the alert stated is kept with the verdict, so it stays after the "
        "retention period.",
        "Every number comes from the anonymous columns of the database, so it still holds "
        "once personal data has been deleted after the retention period. Making this digest "
        "was recorded in the audit log.",
    ]
