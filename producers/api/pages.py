"""The pages of the reconnaissance form, Dutch by default and English selectable: templates,
words and rendering."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from heterdaad.vocabulary import (
    BEHAVIOUR_LABELS,
    BUILD_LABELS,
    FACE_LABELS,
    HEIGHT_LABELS,
    VEHICLE_LABELS,
    in_language,
)

if TYPE_CHECKING:
    from heterdaad.language import Language

# The form's words: (Dutch, English). The pages, the answers and the errors take them from here.
PHRASES: dict[str, tuple[str, str]] = {
    "title": ("Voorverkenning melden", "Report reconnaissance"),
    "log_in": ("Inloggen", "Log in"),
    "log_out": ("Uitloggen", "Log out"),
    "login_intro": (
        "Vul de inlogcode in die u voor uw filiaal heeft gekregen. Elke code werkt één keer.",
        "Enter the login code you were given for your branch. Each code works once.",
    ),
    "code": ("Inlogcode", "Login code"),
    "intro": (
        "Zag u iemand die uw winkel lijkt te verkennen? Meld het meteen. Bij direct gevaar: "
        "bel 112.",
        "Did you see someone who seems to be scouting your shop? Report it at once. In "
        "immediate danger: call 112.",
    ),
    "check": ("Controleer het volgende:", "Please check the following:"),
    "not_seen": ("(niet gezien)", "(not seen)"),
    "branch": ("Filiaal", "Branch"),
    "observed_at": ("Tijdstip", "Time"),
    "behaviours": ("Wat zag u", "What did you see"),
    "person": ("Persoon", "Person"),
    "height": ("Lengte", "Height"),
    "build": ("Postuur", "Build"),
    "face": ("Gezicht", "Face"),
    "clothing": ("Kleding", "Clothing"),
    "clothing_hint": ("Kleding (met komma's gescheiden)", "Clothing (separated by commas)"),
    "vehicle": ("Voertuig", "Vehicle"),
    "vehicle_kind": ("Soort", "Type"),
    "make": ("Merk", "Make"),
    "colour": ("Kleur", "Colour"),
    "plate": ("Kenteken", "Licence plate"),
    "free_text": ("Toelichting", "Details"),
    "report": ("Melden", "Report"),
    "received": ("Melding ontvangen", "Report received"),
    "thanks": ("Bedankt voor uw melding", "Thank you for your report"),
    "done": (
        "Uw melding van een voorverkenning is ontvangen en doorgestuurd.",
        "Your report of reconnaissance has been received and passed on.",
    ),
    "reference": ("Kenmerk (als u er later naar gevraagd wordt)",
                  "Reference (in case you are asked about it later)"),
    "again": (
        "Ziet u de persoon of het voertuig opnieuw, meld het dan opnieuw. Bij direct gevaar: "
        "bel 112.",
        "If you see the person or the vehicle again, report it again. In immediate danger: "
        "call 112.",
    ),
    "another": ("Nog een melding doen", "Make another report"),
    "not_sent": ("Melding niet verstuurd", "Report not sent"),
    "danger": ("Bij direct gevaar: bel 112.", "In immediate danger: call 112."),
    "back": ("Terug naar het formulier", "Back to the form"),
    # what to correct, and why a report was not taken (producers/api/form.py)
    "pick_branch": ("kies een van uw filialen.", "choose one of your branches."),
    "pick_behaviour": ("vink ten minste één ding aan.", "tick at least one thing."),
    "give_time": ("vul een datum en tijd in.", "enter a date and time."),
    # a choice the form did not offer (a page of before, a changed post)
    "pick_option": ("kies een van de mogelijkheden in de lijst.",
                    "choose one of the options in the list."),
    # what an error names when it is about the report as a whole, not one field
    "the_report": ("Melding", "Report"),
    "other_language": ("English", "Nederlands"),
    "unknown_code": (
        "Deze code is onbekend, al gebruikt of verlopen.",
        "This code is unknown, already used or expired.",
    ),
    "form_expired": (
        "Het inlogformulier is verlopen. Klik nogmaals op Inloggen.",
        "The login form has expired. Click Log in again.",
    ),
    "report_expired": (
        "Het formulier is verlopen en niet verstuurd. Controleer de gegevens en klik nogmaals "
        "op Melden.",
        "The form has expired and was not sent. Check the details and click Report again.",
    ),
    "code_refused": (
        "Met deze code kunt u geen voorverkenningen melden. Vraag een nieuwe code aan bij wie u "
        "deze gaf.",
        "This code cannot be used to report reconnaissance. Ask whoever gave it to you for a "
        "new one.",
    ),
    "too_many": (
        "U heeft te veel meldingen achter elkaar gedaan. Probeer het over {seconds} seconden "
        "opnieuw.",
        "You made too many reports in a row. Try again in {seconds} seconds.",
    ),
    "not_allowed": (
        "Deze melding kan niet met uw inlogcode worden gedaan. Vraag een nieuwe code aan bij "
        "wie u deze gaf.",
        "This report cannot be made with your login code. Ask whoever gave it to you for a new "
        "one.",
    ),
    "unavailable": (
        "De melding kon nu niet worden doorgestuurd. Probeer het over een minuut opnieuw.",
        "The report could not be passed on just now. Try again in a minute.",
    ),
    "not_your_branch": (
        "Met uw inlogcode kunt u voor dit filiaal niet melden.",
        "Your login code cannot be used to report for this branch.",
    ),
    "conflict": (
        "Deze melding is al eerder met andere gegevens verstuurd. Begin een nieuwe melding.",
        "This report was sent before with other details. Start a new report.",
    ),
    "failed": (
        "De melding is niet verstuurd. Probeer het over een minuut opnieuw.",
        "The report was not sent. Try again in a minute.",
    ),
}  # fmt: skip

# Field paths of the sighting as the form's labels name them, for error messages.
FIELD_LABELS: dict[str, str] = {
    "branch": "branch",
    "observed_at": "observed_at",
    "behaviours": "behaviours",
    "persons.0.height_band": "height",
    "persons.0.build": "build",
    "persons.0.face_covering": "face",
    "persons.0.clothing": "clothing",
    "vehicle.kind": "vehicle",
    "vehicle.make": "make",
    "vehicle.colour": "colour",
    "vehicle.plate": "plate",
    "free_text": "free_text",
}
# A path the form has no field for is named by its part of the form, else as the report.
SECTION_LABELS: dict[str, str] = {"branch": "branch", "persons": "person", "vehicle": "vehicle"}


class Words:
    """The form's phrases in one language, as the templates and answers use them."""

    def __init__(self, language: Language) -> None:
        self.language: Language = language

    def __call__(self, key: str, **values: object) -> str:
        return PHRASES[key][0 if self.language == "nl" else 1].format(**values)

    def field(self, path: str) -> str:
        """The form's label for a field path of the sighting: its field's, else its part's
        ('Voertuig'), else 'Melding'; never the path ('persons.0.height_band')."""
        key = FIELD_LABELS.get(path) or SECTION_LABELS.get(path.split(".")[0], "the_report")
        return self(key)

_BASE = """<!doctype html>
<html lang="{{ t.language }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{{ t('title') }}{% endblock %}</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:36rem;padding:1rem;line-height:1.4}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
.taal{float:right;margin:.3rem 0 0 1rem}
input[type=text],input[type=password],input[type=datetime-local],select,textarea{
 width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem}
fieldset{border:1px solid #bbb;margin:1rem 0;padding:.5rem 1rem}
.check{display:flex;gap:.5rem;align-items:center;font-weight:400;margin:.5rem 0}
.check input{width:1.4rem;height:1.4rem}
button{font-size:1.1rem;padding:.8rem 1.2rem;margin-top:1rem;width:100%}
.fout{background:#fde8e8;border-left:4px solid #c00;padding:.5rem 1rem}
.goed{background:#e6f4ea;border-left:4px solid #1a7f37;padding:.5rem 1rem}
</style></head><body>
<p class="taal"><a href="?lang={{ 'en' if t.language == 'nl' else 'nl' }}"
 lang="{{ 'en' if t.language == 'nl' else 'nl' }}">{{ t('other_language') }}</a></p>
{% block body %}{% endblock %}</body></html>
"""

_LOGIN = """{% extends "base" %}{% block body %}
<h1>{{ t('log_in') }}</h1>
<p>{{ t('login_intro') }}</p>
{% if error %}<p class="fout">{{ error }}</p>{% endif %}
<form method="post" action="/meld/login">
<input type="hidden" name="login_token" value="{{ login_token }}">
<label for="code">{{ t('code') }}</label>
<input type="text" id="code" name="code" value="{{ code }}" autocomplete="one-time-code"
 autocapitalize="characters" spellcheck="false" required>
<button type="submit">{{ t('log_in') }}</button>
</form>{% endblock %}
"""

_FORM = """{% extends "base" %}{% block body %}
{% macro select(name, label, options) -%}
<label for="{{ name }}">{{ label }}</label>
<select id="{{ name }}" name="{{ name }}"><option value="">{{ t('not_seen') }}</option>
{% for value, text in options %}<option value="{{ value }}"
{% if values.get(name) == value %} selected{% endif %}>{{ text }}</option>{% endfor %}
</select>{%- endmacro %}
<h1>{{ t('title') }}</h1>
<p>{{ t('intro') }}</p>
{% if errors %}<div class="fout"><p>{{ t('check') }}</p><ul>
{% for error in errors %}<li>{{ error }}</li>{% endfor %}</ul></div>{% endif %}
<form method="post" action="/meld">
<input type="hidden" name="form_token" value="{{ form_token }}">
<input type="hidden" name="event_id" value="{{ event_id }}">
<label for="branch_id">{{ t('branch') }}</label>
{# Staff report for the branch their code is for: named by chain and address, its id only
   the value posted. #}
<select id="branch_id" name="branch_id" required>{% for branch in branches %}
<option value="{{ branch.branch_id }}"{% if values.get('branch_id') == branch.branch_id
 or branches|length == 1 %} selected{% endif %}>{{ branch.label }}</option>{% endfor %}
</select>
<label for="observed_at">{{ t('observed_at') }}</label>
<input type="datetime-local" id="observed_at" name="observed_at"
 value="{{ values.get('observed_at', '') }}">
<fieldset><legend>{{ t('behaviours') }}?</legend>
{% for value, label in behaviours %}<label class="check">
<input type="checkbox" name="behaviours" value="{{ value }}"
{% if value in values.get('behaviours', []) %} checked{% endif %}> {{ label }}</label>
{% endfor %}</fieldset>
<fieldset><legend>{{ t('person') }}</legend>
{% for name, label, options in person_selects %}{{ select(name, label, options) }}{% endfor %}
<label for="clothing">{{ t('clothing_hint') }}</label>
<input type="text" id="clothing" name="clothing" value="{{ values.get('clothing', '') }}">
</fieldset>
<fieldset><legend>{{ t('vehicle') }}</legend>
{{ select('vehicle_kind', t('vehicle_kind'), vehicles) }}
<label for="vehicle_make">{{ t('make') }}</label>
<input type="text" id="vehicle_make" name="vehicle_make"
 value="{{ values.get('vehicle_make', '') }}">
<label for="vehicle_colour">{{ t('colour') }}</label>
<input type="text" id="vehicle_colour" name="vehicle_colour"
 value="{{ values.get('vehicle_colour', '') }}">
<label for="plate">{{ t('plate') }}</label>
<input type="text" id="plate" name="plate" autocomplete="off" autocapitalize="characters">
</fieldset>
<label for="free_text">{{ t('free_text') }}</label>
<textarea id="free_text" name="free_text" rows="4" maxlength="2000">
{{- values.get('free_text', '') -}}
</textarea>
<button type="submit">{{ t('report') }}</button>
</form>
<form method="post" action="/meld/logout">
<input type="hidden" name="form_token" value="{{ form_token }}">
<button type="submit">{{ t('log_out') }}</button></form>
{% endblock %}
"""

_DONE = """{% extends "base" %}{% block title %}{{ t('received') }}{% endblock %}
{% block body %}<h1>{{ t('thanks') }}</h1>
<p class="goed">{{ t('done') }}</p>
<p>{{ t('branch') }}: {{ branch }}</p>
<p>{{ t('reference') }}: <code>{{ event_id }}</code></p>
<p>{{ t('again') }}</p>
<p><a href="/meld">{{ t('another') }}</a></p>{% endblock %}
"""

_FAILED = """{% extends "base" %}{% block title %}{{ t('not_sent') }}{% endblock %}
{% block body %}<h1>{{ t('not_sent') }}</h1>
<p class="fout">{{ message }}</p>
<p>{{ t('danger') }}</p><p><a href="/meld">{{ t('back') }}</a></p>
{% endblock %}
"""

_environment = Environment(
    loader=DictLoader(
        {"base": _BASE, "login": _LOGIN, "form": _FORM, "done": _DONE, "failed": _FAILED}
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)


def _options(labels: dict[Any, str], language: Language) -> list[tuple[str, str]]:
    return [(member.value, label) for member, label in in_language(labels, language).items()]


def login_page(
    language: Language, error: str | None = None, *, code: str = "", login_token: str
) -> str:
    return _environment.get_template("login").render(
        t=Words(language), error=error, code=code, login_token=login_token
    )


def form_page(
    language: Language,
    *,
    event_id: str,
    form_token: str,
    branches: list[dict[str, str]],
    values: dict[str, Any] | None = None,
    errors: list[str] | None = None,
) -> str:
    t = Words(language)
    return _environment.get_template("form").render(
        t=t,
        event_id=event_id,
        form_token=form_token,
        branches=branches,
        values=values or {},
        errors=errors or [],
        behaviours=_options(BEHAVIOUR_LABELS, language),
        person_selects=[
            ("height_band", t("height"), _options(HEIGHT_LABELS, language)),
            ("build", t("build"), _options(BUILD_LABELS, language)),
            ("face_covering", t("face"), _options(FACE_LABELS, language)),
        ],
        vehicles=_options(VEHICLE_LABELS, language),
    )


def done_page(language: Language, *, branch: str, event_id: str) -> str:
    """The confirmation, naming the branch as the form's choice did (not by its id)."""
    return _environment.get_template("done").render(
        t=Words(language), branch=branch, event_id=event_id
    )


def failed_page(language: Language, message: str) -> str:
    return _environment.get_template("failed").render(t=Words(language), message=message)
