"""The desk's words in Dutch (the default) and English, next to consumers/alert_text's labels."""

from __future__ import annotations

import functools
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import ValidationError

from consumers.alert_text import (
    BRANCH_TYPE,
    KIND,
    ONE_INCIDENT_KIND,
    SEVERITY,
    UNIT,
    basis_text,
    extent_text,
    grounds_said,
    happened,
    local_date,
    local_time,
)
from consumers.alert_text import OUTCOME as OUTCOME  # the desk shows them, tests read them
from consumers.desk import labels
from consumers.desk.silences import SILENCE_PREFIX, inhibitor_key_of, silence_id_of
from heterdaad.language import Language
from heterdaad.notation import DUTCH_TIME, number
from heterdaad.vocabulary import (
    BEHAVIOUR_LABELS,
    BUILD_LABELS,
    ENGLISH_LABELS,
    FACE_LABELS,
    HEIGHT_LABELS,
    VEHICLE_LABELS,
    WEAPON_LABELS,
    english_label,
)
from schemas.alerts import AlertKind, Severity
from schemas.common import BranchType, Location, PoliceUnit
from schemas.events import GetawayMode
from schemas.geography import nearest_place

if TYPE_CHECKING:
    from consumers.desk.alerts import AlertCard, CardState
    from consumers.desk.places import BranchFacts, Member
    from consumers.desk.silences import SilenceFacts, SilenceMatcher
    from schemas.alerts import Alert, EvidenceLink, LinkReason, Lookout, Outcome, SeriesExtent

LANGUAGES: tuple[Language, ...] = ("nl", "en")

PHRASES: dict[str, dict[Language, str]] = {
    "title": {"nl": "Overvallendesk", "en": "Robbery desk"},
    "unit": {"nl": "Eenheid", "en": "Unit"},
    "log_in": {"nl": "Inloggen", "en": "Log in"},
    "log_out": {"nl": "Uitloggen", "en": "Log out"},
    "username": {"nl": "Gebruikersnaam", "en": "Username"},
    "password": {"nl": "Wachtwoord", "en": "Password"},
    "login_intro": {
        "nl": "Coördinatie overvallen van de politie-eenheid. Alleen voor bevoegde medewerkers; "
        "elke inzage wordt gelogd.",
        "en": "Robbery coordination of the police unit. For authorised staff only; every view "
        "is logged.",
    },
    "login_failed": {
        "nl": "Onbekende gebruikersnaam of onjuist wachtwoord.",
        "en": "Unknown username or wrong password.",
    },
    "login_throttled": {
        "nl": "Te veel mislukte pogingen. Probeer het over {minutes} minuten opnieuw.",
        "en": "Too many failed attempts. Please try again in {minutes} minutes.",
    },
    "login_throttled_one": {
        "nl": "Te veel mislukte pogingen. Probeer het over een minuut opnieuw.",
        "en": "Too many failed attempts. Please try again in a minute.",
    },
    "muted": {"nl": "Gedempt", "en": "Silenced"},
    "judgement": {"nl": "Beoordeling", "en": "Judgement"},
    "basis": {"nl": "Grond", "en": "Rests on"},
    "judgement_intro": {
        "nl": "Klopt dit patroon? Uw oordeel wordt vastgelegd: het toetst de kans die de "
        "melding noemt, en het reeksmodel leert ervan.",
        "en": "Is this pattern right? Your judgement is recorded: it checks the chance the "
        "alert states, and the series model learns from it.",
    },
    # A reconnaissance pattern or a hotspot: only series judgements train a model
    # (`heterdaad model fit`), and a hotspot states a recurrence interval, not a chance.
    "judgement_intro_pattern": {
        "nl": "Klopt dit patroon? Uw oordeel wordt vastgelegd: het toetst wat de melding als "
        "grond noemt.",
        "en": "Is this pattern right? Your judgement is recorded: it checks what the alert "
        "says it rests on.",
    },
    "confirm": {"nl": "Klopt", "en": "Confirm"},
    "reject": {"nl": "Klopt niet", "en": "Reject"},
    "confirmed_by": {"nl": "Bevestigd als patroon door", "en": "Confirmed as a pattern by"},
    "rejected_by": {"nl": "Afgewezen als patroon door", "en": "Rejected as a pattern by"},
    # A robbery linked back to reconnaissance: the verdict is on the link, not on a pattern.
    "judgement_intro_link": {
        "nl": "Ging deze voorverkenning aan deze overval vooraf? Uw oordeel wordt vastgelegd: "
        "het toetst hoe vaak een overval terecht aan voorverkenning wordt gekoppeld.",
        "en": "Was this robbery preceded by this reconnaissance? Your judgement is recorded: "
        "it checks how often a robbery is rightly linked back to reconnaissance.",
    },
    "confirm_link": {
        "nl": "Klopt: deze voorverkenning ging eraan vooraf",
        "en": "Confirm: this reconnaissance preceded it",
    },
    "reject_link": {"nl": "Klopt niet: geen verband", "en": "Reject: not connected"},
    "confirmed_by_link": {"nl": "Bevestigd als koppeling door", "en": "Confirmed as a link by"},
    "rejected_by_link": {"nl": "Afgewezen als koppeling door", "en": "Rejected as a link by"},
    "on_other_alert": {
        "nl": "bij een andere melding van dit patroon",
        "en": "on another alert of this pattern",
    },
    "on_other_alert_link": {
        "nl": "bij een andere melding van deze koppeling",
        "en": "on another alert of this link",
    },
    "choose_verdict": {
        "nl": "Kies of het patroon klopt of niet.",
        "en": "Choose whether the pattern is right or not.",
    },
    "not_judgeable": {
        "nl": "Alleen een reeks, een voorverkenningspatroon, een aan voorverkenning gekoppelde "
        "overval of een hotspot kan worden beoordeeld.",
        "en": "Only a series, a reconnaissance pattern, a robbery linked back to reconnaissance "
        "or a hotspot can be judged.",
    },
    # The silence in words: what it mutes (its matchers), why (its reason), who set it (their
    # organisation) and until when; its id only in the row's title and the references.
    "muted_silence": {
        "nl": "Gedempt: stilte op {what} ({reason}), ingesteld door {who}, tot {until}; "
        "getoond, niet verstuurd",
        "en": "Silenced: a silence on {what} ({reason}), set by {who}, until {until}; "
        "shown, not sent",
    },
    "muted_silence_unknown": {
        "nl": "Gedempt door een stilte: getoond, niet verstuurd",
        "en": "Silenced by a silence: shown, not sent",
    },
    "silence": {"nl": "Stilte", "en": "Silence"},
    "matcher_pattern": {"nl": "{label} volgens een patroon", "en": "{label} by a pattern"},
    "matcher_not_pattern": {
        "nl": "{label} niet volgens een patroon", "en": "{label} not by a pattern",
    },
    "matcher_not": {"nl": "niet {words}", "en": "not {words}"},
    "matcher_none": {"nl": "zonder {label}", "en": "without {label}"},
    "all_alerts": {"nl": "alle meldingen", "en": "all alerts"},
    "matcher_at": {"nl": "bij {place}", "en": "at {place}"},
    "matcher_for": {"nl": "voor {who}", "en": "for {who}"},
    "one_site": {"nl": "bij één alarmlocatie", "en": "at one alarm site"},
    "one_organisation": {"nl": "voor één organisatie", "en": "for one organisation"},
    "one_recipient": {"nl": "één ontvanger", "en": "one recipient"},
    "channel_desk": {"nl": "de desk", "en": "the desk"},
    "channel_webhook": {"nl": "webhooks", "en": "webhooks"},
    "this_series_id": {"nl": "deze reeks", "en": "this series"},
    "other_series_id": {"nl": "een andere reeks", "en": "another series"},
    "this_hotspot_id": {"nl": "deze hotspot", "en": "this hotspot"},
    "other_hotspot_id": {"nl": "een andere hotspot", "en": "another hotspot"},
    "this_dedup_key": {"nl": "deze melding", "en": "this alert"},
    "other_dedup_key": {"nl": "een andere melding", "en": "another alert"},
    "no_notice": {"nl": "meldingen zelf", "en": "alerts themselves"},
    "series_tag_of": {"nl": "Reeks · {count} overvallen", "en": "Series · {count} robberies"},
    "in_series_tag": {"nl": "Onderdeel van een reeks", "en": "Part of a series"},
    "hotspot_tag": {"nl": "Hotspot · {place}", "en": "Hotspot · {place}"},
    # The alert that covers it in words: its kind, branch (else place) and time; its dedup key
    # only in the line's title and the references.
    "muted_inhibited": {
        "nl": "Gedempt: valt onder de melding {what} {where}van {when}; getoond, niet verstuurd",
        "en": "Silenced: covered by the alert {what} {where}from {when}; shown, not sent",
    },
    "muted_inhibited_unknown": {
        "nl": "Gedempt: valt onder een andere melding; getoond, niet verstuurd",
        "en": "Silenced: covered by another alert; shown, not sent",
    },
    "inhibiting_alert": {"nl": "Dempende melding", "en": "Covering alert"},
    "muted_other": {"nl": "Gedempt ({reason})", "en": "Silenced ({reason})"},
    "database_busy": {
        "nl": "Het systeem is druk: binnen {seconds} s kwam geen databaseverbinding vrij. "
        "Probeer het over {retry} seconden opnieuw.",
        "en": "The system is busy: no database connection came free within {seconds} s. "
        "Try again in {retry} seconds.",
    },
    "form_expired": {
        "nl": "Het formulier was verlopen. Probeer het opnieuw.",
        "en": "The form had expired. Please try again.",
    },
    "alerts": {"nl": "Meldingen", "en": "Alerts"},
    "map": {"nl": "Kaart", "en": "Map"},
    "live": {"nl": "Live verbonden", "en": "Live"},
    "offline": {"nl": "Verbinding verbroken, opnieuw verbinden…", "en": "Disconnected, retrying…"},
    "no_alerts": {
        "nl": "Geen meldingen in de afgelopen {hours} uur.",
        "en": "No alerts in the past {hours} hours.",
    },
    "no_alerts_one": {
        "nl": "Geen meldingen in het afgelopen uur.",
        "en": "No alerts in the past hour.",
    },
    "acknowledge": {"nl": "Bevestigen", "en": "Acknowledge"},
    "resolve": {"nl": "Afhandelen", "en": "Resolve"},
    "by": {"nl": "door", "en": "by"},
    "branch": {"nl": "Filiaal", "en": "Branch"},
    "place": {"nl": "Plaats", "en": "Place"},
    "coordinates": {"nl": "Coördinaten", "en": "Coordinates"},
    "series_of": {"nl": "Reeks van {count}", "en": "Series of {count}"},
    "members": {"nl": "Overvallen in deze reeks", "en": "Robberies in this series"},
    "when": {"nl": "Wanneer", "en": "When"},
    "acknowledged_by": {"nl": "Bevestigd door", "en": "Acknowledged by"},
    "resolved_by": {"nl": "Afgehandeld door", "en": "Resolved by"},
    "at": {"nl": "om", "en": "at"},
    "on": {"nl": "op", "en": "on"},
    "escalation_banner_one": {
        "nl": "1 overval gaande niet binnen {seconds} seconden bevestigd: direct oppakken!",
        "en": "1 hold-up in progress not acknowledged within {seconds} seconds: act now!",
    },
    "escalation_banner": {
        "nl": "{count} overvallen gaande niet binnen {seconds} seconden bevestigd: direct "
        "oppakken!",
        "en": "{count} hold-ups in progress not acknowledged within {seconds} seconds: act now!",
    },
    "escalated_at": {"nl": "Geëscaleerd om", "en": "Escalated at"},
    "details": {"nl": "Details", "en": "Details"},
    "back": {"nl": "Terug naar het overzicht", "en": "Back to the list"},
    "reported": {"nl": "Gemeld", "en": "Reported"},
    "severity": {"nl": "Urgentie", "en": "Severity"},
    "kind": {"nl": "Soort", "en": "Kind"},
    "area": {"nl": "Gebied", "en": "Area"},
    "radius": {"nl": "straal", "en": "radius"},
    "near": {"nl": "bij", "en": "near"},
    "yesterday": {"nl": "gisteren", "en": "yesterday"},
    "watch": {"nl": "let op", "en": "at risk"},
    "cells": {"nl": "cellen", "en": "cells"},
    "series": {"nl": "Reeks", "en": "Series"},
    "hotspot": {"nl": "Hotspot", "en": "Hotspot"},
    "alarm_site": {"nl": "Alarmlocatie", "en": "Alarm site"},
    "series_robberies": {"nl": "{count} overvallen", "en": "{count} robberies"},
    "in_series": {"nl": "onderdeel van een reeks", "en": "part of a series"},
    # The ids behind an alert, for looking it up elsewhere: never the page's primary words.
    "references": {"nl": "Referenties", "en": "References"},
    "references_intro": {
        "nl": "Kenmerken om deze melding en haar onderbouwing in andere systemen op te zoeken.",
        "en": "Identifiers to look this alert and its evidence up in other systems.",
    },
    "the_alert": {"nl": "Melding", "en": "Alert"},
    "status": {"nl": "Status", "en": "Status"},
    "outcome": {"nl": "Afloop", "en": "Outcome"},
    "at_risk": {"nl": "Risico voor", "en": "At risk"},
    "lookout": {"nl": "Uitkijken naar", "en": "Look out for"},
    "armed": {"nl": "Wapens en daders", "en": "Weapons and offenders"},
    "offenders": {"nl": "{count} daders", "en": "{count} offenders"},
    "offender": {"nl": "1 dader", "en": "1 offender"},
    "vehicles": {"nl": "Voertuigen", "en": "Vehicles"},
    "persons": {"nl": "Personen", "en": "Persons"},
    "evidence": {"nl": "Onderbouwing", "en": "Evidence"},
    "cameras": {"nl": "Camera's in de buurt", "en": "Cameras nearby"},
    "cameras_intro": {
        "nl": "Bij de politie geregistreerde camera's (Camera in Beeld) binnen {radius} m, "
        "dichtstbijzijnde eerst. Contactgegevens alleen voor de politie.",
        "en": "Cameras registered with the police (Camera in Beeld) within {radius} m, nearest "
        "first. Contact details are for the police only.",
    },
    "no_cameras": {
        "nl": "Geen geregistreerde camera's binnen {radius} m.",
        "en": "No registered cameras within {radius} m.",
    },
    "camera_view": {"nl": "Zicht op", "en": "View"},
    "retention": {"nl": "Bewaartermijn", "en": "Kept for"},
    "days": {"nl": "dagen", "en": "days"},
    "day": {"nl": "dag", "en": "day"},
    "owner": {"nl": "Eigenaar", "en": "Owner"},
    "contact": {"nl": "Contact", "en": "Contact"},
    "liveview": {"nl": "Liveview", "en": "Liveview"},
    "watch_live": {"nl": "live meekijken", "en": "watch live"},
    "no_evidence": {"nl": "Geen gekoppelde gebeurtenissen.", "en": "No linked events."},
    "what": {"nl": "Wat", "en": "What"},
    "distance": {"nl": "Afstand", "en": "Distance"},
    "happened": {"nl": "Gebeurd", "en": "Happened"},
    "history": {"nl": "Historie", "en": "History"},
    "history_intro": {
        "nl": "Gebeurtenissen buiten hun live-termijn: ter informatie, zonder escalatie.",
        "en": "Events past their live horizon: for information, never escalated.",
    },
    "similarity": {"nl": "Overeenkomst", "en": "Similarity"},
    "reasons": {"nl": "Redenen", "en": "Reasons"},
    "feature": {"nl": "Kenmerk", "en": "Feature"},
    "value": {"nl": "Waarde", "en": "Value"},
    "contribution": {"nl": "Bijdrage", "en": "Contribution"},
    "personal_data": {"nl": "Persoonsgegevens", "en": "Personal data"},
    "personal_purged": {
        "nl": "Na de bewaartermijn verwijderd: voertuigen, kentekens en signalementen.",
        "en": "Deleted after the retention period: vehicles, plates and descriptions.",
    },
    "purged": {
        "nl": "De inhoud van deze melding is na de bewaartermijn verwijderd.",
        "en": "This alert's content was deleted after the retention period.",
    },
    # Modus operandi bulletins (consumers/desk/bulletins.py): the form, its fields, refusals.
    "bulletin_new": {"nl": "Nieuwe werkwijze delen", "en": "Share a modus operandi"},
    "bulletin_intro": {
        "nl": "Beschrijf een nieuwe werkwijze van overvallers. De melding gaat naar de "
        "aangesloten filialen van de gekozen soorten in eenheid {unit}.",
        "en": "Describe a new way of working of robbers. The bulletin goes to the subscribed "
        "branches of the chosen kinds in unit {unit}.",
    },
    "bulletin_field_text": {"nl": "Werkwijze", "en": "Modus operandi"},
    "bulletin_field_branch_types": {"nl": "Soorten filialen", "en": "Kinds of branch"},
    "bulletin_field_police_unit": {"nl": "Eenheid", "en": "Unit"},
    "bulletin_send": {"nl": "Versturen", "en": "Send"},
    "bulletin_sent": {
        "nl": "De werkwijze is verstuurd naar de filialen van uw eenheid.",
        "en": "The bulletin was sent to the branches of your unit.",
    },
    "bulletin_refused": {"nl": "{label} ({field}): {reason}", "en": "{label} ({field}): {reason}"},
    "bulletin_text_missing": {"nl": "vul de werkwijze in", "en": "describe the modus operandi"},
    "bulletin_text_too_long": {
        "nl": "ten hoogste {most} tekens", "en": "at most {most} characters",
    },
    "bulletin_text_has_plate": {
        "nl": "bevat een kenteken (of de code ervan); kentekens gaan niet naar filialen: "
        "beschrijf de werkwijze zonder kenteken",
        "en": "contains a licence plate (or its code); plates are not sent to branches: "
        "describe the way of working without it",
    },
    "bulletin_branch_types_missing": {
        "nl": "kies ten minste één soort filiaal", "en": "choose at least one kind of branch",
    },
    "bulletin_branch_type_unknown": {
        "nl": "onbekende soort filiaal", "en": "unknown kind of branch",
    },
    "bulletin_other_unit": {
        "nl": "u kunt alleen naar uw eigen eenheid versturen",
        "en": "you can send to your own unit only",
    },
    "bulletin_broker_unavailable": {
        "nl": "niet verstuurd: de berichtendienst is niet bereikbaar; probeer het zo opnieuw",
        "en": "not sent: the message broker cannot be reached; please try again shortly",
    },
    "not_found": {
        "nl": "Deze melding bestaat niet of hoort niet bij uw eenheid.",
        "en": "This alert does not exist or does not belong to your unit.",
    },
    "forbidden": {
        "nl": "Dit verzoek is geweigerd (verlopen formulier). Laad de pagina opnieuw.",
        "en": "This request was refused (expired form). Reload the page.",
    },
    "legend_alert": {"nl": "melding", "en": "alert"},
    "legend_series": {"nl": "reeks", "en": "series"},
    "legend_hotspot": {"nl": "hotspot", "en": "hotspot"},
    # Red on the map is a critical or escalated alert (desk.css, tilemap.js): every alert not
    # yet handled is open, most of them orange.
    "legend_urgent": {"nl": "zeer urgent of geëscaleerd", "en": "critical or escalated"},
    "legend_handled": {"nl": "afgehandeld", "en": "handled"},
    "choose_outcome": {"nl": "Kies de afloop", "en": "Choose the outcome"},
    "logged": {
        "nl": "Uw inzage van deze melding is vastgelegd.",
        "en": "Your view of this alert has been logged.",
    },
}

STATE: dict[CardState, dict[Language, str]] = {
    "open": {"nl": "Open", "en": "Open"},
    "escalated": {"nl": "GEËSCALEERD", "en": "ESCALATED"},
    "acknowledged": {"nl": "Bevestigd", "en": "Acknowledged"},
    "resolved": {"nl": "Afgehandeld", "en": "Resolved"},
}

EVENT_TYPE: dict[str, dict[Language, str]] = {
    "alarm_activation": {"nl": "Alarmering", "en": "Alarm activation"},
    "incident_report": {"nl": "Incidentmelding", "en": "Incident report"},
    "recon_sighting": {"nl": "Voorverkenning", "en": "Reconnaissance sighting"},
}


# A silence matcher's label (docs/notify.md, "Silences") in words, for what has no words of
# its own (a pattern, an unknown value).
_LABEL_WORDS: dict[str, dict[Language, str]] = {
    "kind": {"nl": "soort", "en": "kind"},
    "severity": {"nl": "urgentie", "en": "severity"},
    "police_unit": {"nl": "eenheid", "en": "unit"},
    "site_id": {"nl": "alarmlocatie", "en": "alarm site"},
    "series_id": {"nl": "reeks", "en": "series"},
    "hotspot_id": {"nl": "hotspot", "en": "hotspot"},
    "branch_types": {"nl": "soort filiaal", "en": "kind of branch"},
    "dedup_key": {"nl": "melding", "en": "alert"},
    "organisation_id": {"nl": "organisatie", "en": "organisation"},
    "channel": {"nl": "kanaal", "en": "channel"},
    "recipient": {"nl": "ontvanger", "en": "recipient"},
    "notice": {"nl": "bericht", "en": "notice"},
}


def _placed(matcher: SilenceMatcher) -> bool:
    """A matcher said as 'bij …' / 'voor …', after what the silence mutes."""
    return matcher.op == "=" and matcher.name in ("site_id", "organisation_id")


_KINDS = frozenset(kind.value for kind in AlertKind)
_SEVERITIES = frozenset(severity.value for severity in Severity)
_UNITS = frozenset(unit.value for unit in PoliceUnit)
_BRANCH_TYPES = frozenset(kind.value for kind in BranchType)

# The reasons whose value is a branch id (streams/recon_scoring.py, streams/recon_linkage.py).
BRANCH_REASONS = frozenset({"same_branch", "nearby_branch", "nearby_sighting"})


class Words:
    """The phrases of one language, as the templates use them."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def __call__(self, key: str, **values: object) -> str:
        return PHRASES[key][self.language].format(**values)

    def kind(self, card: AlertCard) -> str:
        return KIND[card.kind][self.language]

    def offenders(self, count: int) -> str:
        """'1 dader', '2 daders', as the alert line says it; '1 dader(s)' read as a form."""
        return self("offender") if count == 1 else self("offenders", count=count)

    def severity(self, card: AlertCard) -> str:
        return SEVERITY[card.severity][self.language]

    def unit(self, card: AlertCard) -> str:
        return UNIT[card.police_unit]

    def state(self, card: AlertCard) -> str:
        return STATE[card.state][self.language]

    def muted(self, card: AlertCard) -> str:
        """Why notify silenced it for this desk, in words: a silence (what it mutes, who set it,
        until when), or the alert muting it."""
        reason = card.muted_by or ""
        if reason.startswith(SILENCE_PREFIX):
            silence = card.silence
            if silence is None:  # its row gone: said without the id (the title has it)
                return self("muted_silence_unknown")
            return self(
                "muted_silence", what=self.silenced(card, silence), reason=silence.reason,
                who=self.silence_author(silence), until=local_time(silence.ends_at, self.language),
            )  # fmt: skip
        if inhibitor_key_of(reason) is not None:
            return self.inhibited(card.inhibitor)
        return self("muted_other", reason=reason)

    def inhibited(self, source: AlertCard | None) -> str:
        """The alert that covers this one, in words: 'Gedempt: valt onder de melding overval
        gaande bij Super A (supermarkt), Damrak 1, 1012 JL Amsterdam van 07-12-2026 20:15'."""
        if source is None:  # not stored (yet), or another unit's: said without its key
            return self("muted_inhibited_unknown")
        if source.branch is not None:
            where = self("matcher_at", place=self.branch(source.branch))
        else:
            place = self.place(source)
            where = f"{self('near')} {place}" if place else ""
        kind = self.kind(source)
        return self(
            "muted_inhibited", what=kind if kind.isupper() else kind[:1].lower() + kind[1:],
            where=f"{where} " if where else "",
            when=local_time(source.occurred_at or source.created_at, self.language),
        )  # fmt: skip

    def inhibitor_key(self, card: AlertCard) -> str | None:
        """The dedup key of the alert covering this one (the references name it)."""
        return inhibitor_key_of(card.muted_by)

    def muted_reference(self, card: AlertCard) -> str:
        """The id behind the muted line, for its title: 'Stilte <id>', 'Dempende melding <key>'
        or notify's own words."""
        found = silence_id_of(card.muted_by)
        if found:
            return f"{self('silence')} {found}"
        key = inhibitor_key_of(card.muted_by)
        return f"{self('inhibiting_alert')} {key}" if key else (card.muted_by or "")

    def silence_author(self, silence: SilenceFacts) -> str:
        """Who set a silence: an organisation by its name; a desk user with their unit's police
        ('coordinator.ams (Politie Amsterdam)'); anyone else as written."""
        if silence.organisation is not None:
            return silence.organisation
        if silence.employer is not None:
            return f"{silence.author} ({silence.employer})"
        return silence.author

    def silenced(self, card: AlertCard, silence: SilenceFacts) -> str:
        """What a silence mutes, its matchers in words: 'geverifieerd overvalalarm bij Super A
        (supermarkt), Damrak 1, 1012 JL Amsterdam'."""
        # What it is first ('geverifieerd overvalalarm'), then where or whose ('bij …'): a
        # silence of a site alone mutes every alert there.
        said = [(matcher, self._matcher(card, silence, matcher)) for matcher in silence.matchers]
        where = [words for matcher, words in said if _placed(matcher)]
        what = [words for matcher, words in said if not _placed(matcher)]
        return " ".join([", ".join(what) or self("all_alerts"), *where])

    def _matcher(self, card: AlertCard, silence: SilenceFacts, matcher: SilenceMatcher) -> str:
        name, op, value = matcher.name, matcher.op, matcher.value
        label = _LABEL_WORDS.get(name, {}).get(self.language, name.replace("_", " "))
        if op in ("=~", "!~"):
            # A pattern is the author's notation, not words: said to be one
            # (its text is in the silence's row, list_silences).
            return self("matcher_pattern" if op == "=~" else "matcher_not_pattern", label=label)
        words = self._label_value(card, silence, name, value)
        return words if op == "=" else self("matcher_not", words=words)

    def _label_value(self, card: AlertCard, silence: SilenceFacts, name: str, value: str) -> str:
        alert = card.alert
        label = _LABEL_WORDS.get(name, {}).get(self.language, name.replace("_", " "))
        if name == "kind" and value in _KINDS:
            words = KIND[AlertKind(value)][self.language]
            return words if words.isupper() else words[:1].lower() + words[1:]
        if name == "severity" and value in _SEVERITIES:
            return f"{self('severity').lower()} {SEVERITY[Severity(value)][self.language]}"
        if name == "police_unit" and value in _UNITS:
            return f"{self('unit').lower()} {UNIT[PoliceUnit(value)]}"
        if name == "branch_types":
            kinds = [self.branch_type(BranchType(kind)) if kind in _BRANCH_TYPES else kind
                     for kind in value.split(",") if kind]  # fmt: skip
            return ", ".join(kinds) if kinds else self("matcher_none", label=label)
        if name == "site_id":
            branch = silence.site(value)
            return self("matcher_at", place=self.branch(branch)) if branch else self("one_site")
        if name == "organisation_id":
            named = silence.organisation_named(value)
            return self("matcher_for", who=named) if named else self("one_organisation")
        if name == "channel" and value in ("desk", "webhook"):
            return self(f"channel_{value}")
        own = {"series_id": alert.series_id if alert else None,
               "hotspot_id": alert.hotspot_id if alert else None,
               "dedup_key": alert.dedup_key if alert else None}  # fmt: skip
        if name in own:
            return self(f"this_{name}" if own[name] == value else f"other_{name}")
        if name == "recipient":
            return self("one_recipient")
        if name == "notice" and not value:
            return self("no_notice")
        return f"{label} {value}" if value else self("matcher_none", label=label)

    def series_tag(self, card: AlertCard) -> str:
        """The list's tag of a series: 'Reeks · 3 overvallen'; a robbery of one says so."""
        alert = card.alert
        if alert is not None and alert.kind is AlertKind.SERIES:
            count = alert.series_extent.members if alert.series_extent else len(card.members)
            if count:
                return self("series_tag_of", count=count)
            return self("series")
        return self("in_series_tag")

    def hotspot_tag(self, card: AlertCard) -> str:
        """The list's tag of a hotspot: where and how wide ('Hotspot · bij Amsterdam, straal
        800 m'), its id only in the title."""
        place = self.place(card)
        named = card.branch is not None and card.branch.city == place
        parts = [] if place is None else [place if named else f"{self('near')} {place}"]
        if card.radius_m is not None:
            parts.append(f"{self('radius')} {self.distance(card.radius_m)}")
        return self("hotspot_tag", place=", ".join(parts)) if parts else self("hotspot")

    def basis(self, alert: Alert) -> str:
        """What the alert rests on, as the alert line says it: a reconnaissance warning's
        behaviours and score, then the rule and the chance of a robbery (its 'kans 34%' alone
        did not say of what); another pattern's model and chance."""
        if alert.grounds is not None:
            return grounds_said(alert.grounds, self.language, alert.basis)
        return basis_text(alert.basis, self.language) if alert.basis is not None else ""

    def outcome(self, outcome: Outcome) -> str:
        return OUTCOME[outcome][self.language]

    def event_type(self, event_type: str) -> str:
        return EVENT_TYPE.get(event_type, {}).get(self.language, event_type)

    def linked(self, card: AlertCard, link: EvidenceLink) -> Member | None:
        """The stored event an evidence link names: its branch, time and kind."""
        return next((event for event in card.linked_events if event.event_id == link.event_id),
                    None)  # fmt: skip

    def evidence_when(self, card: AlertCard, link: EvidenceLink) -> str:
        """When the linked event happened (how long ago); else how far apart it was."""
        event = self.linked(card, link)
        moment = link.occurred_at or (event.occurred_at if event is not None else None)
        return self.happened(moment) if moment is not None else self.duration(link.time_gap_s)

    def evidence_branch(self, card: AlertCard, link: EvidenceLink) -> str:
        """The linked event's branch as the branch row names it; '-' when not stored."""
        event = self.linked(card, link)
        return self.branch(event.branch) if event is not None else "-"

    def evidence_what(self, card: AlertCard, link: EvidenceLink) -> str:
        """What the linked event is: 'Incidentmelding: overval', 'Alarmering: overvalknop'."""
        what = self.event_type(link.event_type)
        event = self.linked(card, link)
        kind = event.kind if event is not None else None
        if not kind or kind == "voorverkenning":  # a sighting's kind is its type again
            return what
        words = ONE_INCIDENT_KIND.get(kind, {}).get(self.language) or self.value(kind)
        return f"{what}: {words}"

    def evidence_reference(self, card: AlertCard, link: EvidenceLink) -> str:
        """The line the references list names an event id by: when and what."""
        event = self.linked(card, link)
        moment = link.occurred_at or (event.occurred_at if event is not None else None)
        when = local_time(moment, self.language) if moment is not None else None
        return " · ".join(part for part in (when, self.evidence_what(card, link)) if part)

    def series(self, card: AlertCard) -> str:
        """A series in words, its id left to the references: how many robberies, or that the
        alert's robbery belongs to one."""
        alert = card.alert
        if alert is None or alert.kind is not AlertKind.SERIES:
            return self("in_series")
        count = alert.series_extent.members if alert.series_extent else len(card.members)
        return self("series_robberies", count=count) if count else ""

    def branch_type(self, branch_type: BranchType) -> str:
        return BRANCH_TYPE[branch_type][self.language]

    def term(self, member: StrEnum) -> str:
        return term(member, self.language)

    def distance(self, distance_m: float | None) -> str:
        return labels.distance(distance_m, self.language)

    def lookout_vehicle(self, lookout: Lookout) -> str:
        """The vehicle to look out for as the vehicles list says one: kind, make and colour
        ('Auto Audi A4 grijs'); '' when none was seen. 'wit' alone named no vehicle."""
        kind = lookout.getaway_mode
        if kind is GetawayMode.UNKNOWN and (lookout.vehicle_make or lookout.vehicle_colour):
            kind = None  # "Onbekend wit": the make and colour say enough
        words = [self.term(kind) if kind is not None else None,
                 lookout.vehicle_make, lookout.vehicle_colour]  # fmt: skip
        return " ".join(word for word in words if word)

    def feature(self, name: str) -> str:
        return labels.feature(name, self.language)

    def value(self, raw: float | str | None) -> str:
        return labels.value(raw, self.language)

    def signed(self, amount: float) -> str:
        return labels.signed(amount, self.language)

    def percent(self, share: float) -> str:
        return labels.percent(share, self.language)

    def coordinates(self, card: AlertCard) -> str:
        return (
            f"{number(card.lat, 4, self.language)} / "
            f"{number(card.lon, 4, self.language)}"
        )

    def branch(self, branch: BranchFacts) -> str:
        """'Buurtsuper (supermarkt), Damstraat 1, 1012 JL Amsterdam': who, what, where. A branch
        of no chain is named by its kind ('Juwelier, Wilhelminastraat 46, 1981 KA Aalsmeer'),
        never by its id: that is the registering organisation's or an alarm centre's own
        number ('zelfstandig-00749', 'deltaveilig-000749'), which says nothing to an officer."""
        name = branch.chain or ""
        if branch.branch_type is not None:
            kind = labels.branch_kind(branch.branch_type, self.language)
            name = f"{name} ({kind})" if name else kind[:1].upper() + kind[1:]
        return ", ".join(part for part in (name, self.address(branch)) if part)

    def reason_value(self, card: AlertCard, reason: LinkReason) -> str:
        """A reason's value in words; one naming a branch by its id ('melding in de buurt:
        zelfstandig-01313', the id of another organisation's branch) names it as the branch row
        does, when the linked events say which branch it is."""
        if reason.feature in BRANCH_REASONS and isinstance(reason.value, str):
            for branch in card.linked_branches:
                if branch.branch_id == reason.value:
                    return self.branch(branch)
        return self.value(reason.value)

    def address(self, branch: BranchFacts) -> str:
        """Street, postcode and place; the nearest place when no address is registered."""
        if self._has_address(branch):
            town = " ".join(part for part in (branch.postcode, branch.city) if part)
            return ", ".join(part for part in (branch.street, town) if part)
        place = _place_near(round(branch.lat, 4), round(branch.lon, 4))
        return f"{self('near')} {place}" if place else ""

    @staticmethod
    def _has_address(branch: BranchFacts) -> bool:
        return bool(branch.street or branch.postcode or branch.city)

    def place(self, card: AlertCard) -> str | None:
        """The place of the alert: its branch's town, else the nearest place of the gazetteer."""
        if card.branch is not None and card.branch.city:
            return card.branch.city
        return _place_near(round(card.lat, 4), round(card.lon, 4))

    def members(self, card: AlertCard) -> str:
        """A series' robberies on one line: 'Reeks van 3: 01-12-2026 Amsterdam; …'."""
        listed = "; ".join(
            f"{local_date(member.occurred_at, self.language)} {self.place_of(member.branch)}"
            for member in card.members
        )
        return f"{self('series_of', count=len(card.members))}: {listed}"

    def place_of(self, branch: BranchFacts) -> str:
        if branch.city:
            return branch.city
        return _place_near(round(branch.lat, 4), round(branch.lon, 4)) or ""

    def where(self, card: AlertCard) -> str:
        """Which place and unit, how wide, who should look out: the list's second line."""
        parts = []
        # A branch without an address is already named 'near <place>' on the line above.
        named_above = card.branch is not None and not self._has_address(card.branch)
        place = None if named_above else self.place(card)
        if place is not None:
            parts.append(place if card.branch and card.branch.city else f"{self('near')} {place}")
        parts.append(f"{self('unit')} {UNIT[card.police_unit]}")
        if card.radius_m is not None:
            parts.append(f"{self('radius')} {self.distance(card.radius_m)}")
        if card.alert is not None and card.alert.branch_types_at_risk:
            kinds = ", ".join(self.branch_type(kind) for kind in card.alert.branch_types_at_risk)
            parts.append(f"{self('watch')}: {kinds}")
        return " · ".join(parts)

    def headline(self, card: AlertCard) -> str:
        """Urgency, kind and where, in the page's words (the map's tooltip, the detail's lead)."""
        where = self.where(card)
        return f"[{self.severity(card)}] {self.kind(card)}" + (f" · {where}" if where else "")

    def clock(self, moment: datetime | None) -> str:
        """Dutch local time; 'yesterday' or the date when it is not today."""
        if moment is None:
            return ""
        local = moment.astimezone(DUTCH_TIME)
        days = (datetime.now(DUTCH_TIME).date() - local.date()).days
        if days == 0:
            return local.strftime("%H:%M:%S")
        if days == 1:
            return f"{self('yesterday')} {local:%H:%M}"
        return local_time(moment, self.language)

    def moment(self, moment: datetime) -> str:
        """Local date and time, whatever the day: a record kept for later (a judgement)."""
        return local_time(moment, self.language)

    def extent(self, extent: SeriesExtent | None) -> str | None:
        """A series too large to list whole: how many robberies, since when, how many shown."""
        return extent_text(extent, self.language)

    def happened(self, moment: datetime | None) -> str:
        """Local date and time of the event and how long ago it was."""
        return happened(moment, datetime.now(DUTCH_TIME), self.language)

    def when(self, card: AlertCard) -> str:
        """The card's line of time: when it happened (how long ago) and when it was reported."""
        return (
            f"{self('happened')} {self.happened(card.occurred_at)} · "
            f"{self('reported')} {self.clock(card.created_at)}"
        )

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return "-"
        sign = "-" if seconds < 0 else ""
        seconds = abs(seconds)
        if seconds < 120:
            return f"{sign}{seconds:.0f} s"
        if seconds < 7200:
            return f"{sign}{seconds / 60:.0f} min"
        hours = "uur" if self.language == "nl" else "h"
        return f"{sign}{number(seconds / 3600, 1, self.language)} {hours}"


# The intake form asks no modus operandi, so these have no Dutch words elsewhere yet.
_MODUS_OPERANDI_DUTCH = {
    "at_opening": "bij opening",
    "at_closing": "bij sluiting",
    "via_back_door": "via de achterdeur",
    "waited_inside": "wachtte binnen",
    "threatened_staff": "personeel bedreigd",
    "tied_up_staff": "personeel vastgebonden",
    "violence_used": "geweld gebruikt",
    "cash_register": "kassa",
    "safe": "kluis",
    "display_case": "vitrine",
    "cigarettes": "sigaretten",
    "posed_as_customer": "deed zich voor als klant",
    "posed_as_delivery": "deed zich voor als bezorger",
    "vehicle_ram": "ramkraak met voertuig",
    "gas_or_explosive": "gas of explosieven",
}


def _dutch_terms() -> dict[str, str]:
    # The intake form's Dutch words for the same vocabularies: one wording for staff and police.
    terms: dict[str, str] = {
        f"ModusOperandi.{value}": text for value, text in _MODUS_OPERANDI_DUTCH.items()
    }
    forms = (BEHAVIOUR_LABELS, BUILD_LABELS, FACE_LABELS, HEIGHT_LABELS, VEHICLE_LABELS,
             WEAPON_LABELS)  # fmt: skip
    for form in forms:
        for member, text in form.items():
            terms[f"{type(member).__name__}.{member.value}"] = text
    return terms


_DUTCH_TERMS = _dutch_terms()


def term(member: StrEnum, language: Language) -> str:
    """A vocabulary value in words: the form's label, else the value itself, readable."""
    if language == "nl":
        label = _DUTCH_TERMS.get(f"{type(member).__name__}.{member.value}")
    else:
        label = english_label(member)
    return label if label is not None else member.value.replace("_", " ")


@functools.lru_cache(maxsize=4096)
def _place_near(lat: float, lon: float) -> str | None:
    try:
        place = nearest_place(Location(lat=lat, lon=lon))
    except ValidationError:
        return None
    if place.name == place.municipality:
        return place.name
    return f"{place.name}, {place.municipality}"


def distance(distance_m: float | None, language: Language = "nl") -> str:
    return labels.distance(distance_m, language)


_BY_VALUE: dict[Language, dict[str, str]] = {
    "nl": {key.split(".", 1)[1]: text for key, text in _DUTCH_TERMS.items()},
    "en": {value: text for (_, value), text in ENGLISH_LABELS.items()},
}


def vocabulary_word(raw: str, language: Language) -> str:
    """A bare vocabulary value (as a link reason carries it) in the form's words."""
    return _BY_VALUE[language].get(raw, raw.replace("_", " "))
