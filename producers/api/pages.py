"""The Dutch pages of the reconnaissance form: templates, labels and rendering."""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from heterdaad.vocabulary import (
    BEHAVIOUR_LABELS,
    BUILD_LABELS,
    FACE_LABELS,
    HEIGHT_LABELS,
    VEHICLE_LABELS,
)

# Field paths of the sighting as the form's labels name them, for error messages.
FIELD_LABELS: dict[str, str] = {
    "branch": "Filiaal",
    "observed_at": "Tijdstip",
    "behaviours": "Wat zag u",
    "persons.0.clothing": "Kleding",
    "vehicle.make": "Merk",
    "vehicle.colour": "Kleur",
    "vehicle.plate": "Kenteken",
    "free_text": "Toelichting",
}

_BASE = """<!doctype html>
<html lang="nl"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}Voorverkenning melden{% endblock %}</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:36rem;padding:1rem;line-height:1.4}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input[type=text],input[type=password],input[type=datetime-local],select,textarea{
 width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem}
fieldset{border:1px solid #bbb;margin:1rem 0;padding:.5rem 1rem}
.check{display:flex;gap:.5rem;align-items:center;font-weight:400;margin:.5rem 0}
.check input{width:1.4rem;height:1.4rem}
button{font-size:1.1rem;padding:.8rem 1.2rem;margin-top:1rem;width:100%}
.fout{background:#fde8e8;border-left:4px solid #c00;padding:.5rem 1rem}
.goed{background:#e6f4ea;border-left:4px solid #1a7f37;padding:.5rem 1rem}
</style></head><body>{% block body %}{% endblock %}</body></html>
"""

_LOGIN = """{% extends "base" %}{% block body %}
<h1>Inloggen</h1>
<p>Vul de inlogcode in die u voor uw filiaal heeft gekregen. Elke code werkt één keer.</p>
{% if error %}<p class="fout">{{ error }}</p>{% endif %}
<form method="post" action="/meld/login">
<label for="code">Inlogcode</label>
<input type="text" id="code" name="code" value="{{ code }}" autocomplete="one-time-code"
 autocapitalize="characters" spellcheck="false" required>
<button type="submit">Inloggen</button>
</form>{% endblock %}
"""

_FORM = """{% extends "base" %}{% block body %}
{% macro select(name, label, options) -%}
<label for="{{ name }}">{{ label }}</label>
<select id="{{ name }}" name="{{ name }}"><option value="">(niet gezien)</option>
{% for value, text in options %}<option value="{{ value }}"
{% if values.get(name) == value %} selected{% endif %}>{{ text }}</option>{% endfor %}
</select>{%- endmacro %}
<h1>Voorverkenning melden</h1>
<p>Zag u iemand die uw winkel lijkt te verkennen? Meld het meteen. Bij direct gevaar: bel 112.</p>
{% if errors %}<div class="fout"><p>Controleer het volgende:</p><ul>
{% for error in errors %}<li>{{ error }}</li>{% endfor %}</ul></div>{% endif %}
<form method="post" action="/meld">
<input type="hidden" name="event_id" value="{{ event_id }}">
<label for="branch_id">Filiaal</label>
<input type="text" id="branch_id" name="branch_id" list="filialen" required
 value="{{ values.get('branch_id', '') }}">
<datalist id="filialen">{% for branch in branches %}
<option value="{{ branch.branch_id }}">{{ branch.label }}</option>{% endfor %}</datalist>
<label for="observed_at">Tijdstip</label>
<input type="datetime-local" id="observed_at" name="observed_at"
 value="{{ values.get('observed_at', '') }}">
<fieldset><legend>Wat zag u?</legend>
{% for value, label in behaviours %}<label class="check">
<input type="checkbox" name="behaviours" value="{{ value }}"
{% if value in values.get('behaviours', []) %} checked{% endif %}> {{ label }}</label>
{% endfor %}</fieldset>
<fieldset><legend>Persoon</legend>
{% for name, label, options in person_selects %}{{ select(name, label, options) }}{% endfor %}
<label for="clothing">Kleding (met komma's gescheiden)</label>
<input type="text" id="clothing" name="clothing" value="{{ values.get('clothing', '') }}">
</fieldset>
<fieldset><legend>Voertuig</legend>
{{ select('vehicle_kind', 'Soort', vehicles) }}
<label for="vehicle_make">Merk</label>
<input type="text" id="vehicle_make" name="vehicle_make"
 value="{{ values.get('vehicle_make', '') }}">
<label for="vehicle_colour">Kleur</label>
<input type="text" id="vehicle_colour" name="vehicle_colour"
 value="{{ values.get('vehicle_colour', '') }}">
<label for="plate">Kenteken</label>
<input type="text" id="plate" name="plate" autocomplete="off" autocapitalize="characters">
</fieldset>
<label for="free_text">Toelichting</label>
<textarea id="free_text" name="free_text" rows="4" maxlength="2000">
{{- values.get('free_text', '') -}}
</textarea>
<button type="submit">Melden</button>
</form>
<form method="post" action="/meld/logout"><button type="submit">Uitloggen</button></form>
{% endblock %}
"""

_DONE = """{% extends "base" %}{% block title %}Melding ontvangen{% endblock %}{% block body %}
<h1>Bedankt voor uw melding</h1>
<p class="goed">Uw melding van een voorverkenning bij filiaal {{ branch_id }} is ontvangen en
doorgestuurd. Kenmerk: <code>{{ event_id }}</code>.</p>
<p>Ziet u de persoon of het voertuig opnieuw, meld het dan opnieuw. Bij direct gevaar: bel 112.</p>
<p><a href="/meld">Nog een melding doen</a></p>{% endblock %}
"""

_FAILED = """{% extends "base" %}{% block title %}Melding niet verstuurd{% endblock %}
{% block body %}<h1>Melding niet verstuurd</h1>
<p class="fout">{{ message }}</p>
<p>Bij direct gevaar: bel 112.</p><p><a href="/meld">Terug naar het formulier</a></p>
{% endblock %}
"""

_environment = Environment(
    loader=DictLoader(
        {"base": _BASE, "login": _LOGIN, "form": _FORM, "done": _DONE, "failed": _FAILED}
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)


def _options(labels: dict[Any, str]) -> list[tuple[str, str]]:
    return [(member.value, label) for member, label in labels.items()]


def login_page(error: str | None = None, *, code: str = "") -> str:
    return _environment.get_template("login").render(error=error, code=code)


def form_page(
    *,
    event_id: str,
    branches: list[dict[str, str]],
    values: dict[str, Any] | None = None,
    errors: list[str] | None = None,
) -> str:
    return _environment.get_template("form").render(
        event_id=event_id,
        branches=branches,
        values=values or {},
        errors=errors or [],
        behaviours=_options(BEHAVIOUR_LABELS),
        person_selects=[
            ("height_band", "Lengte", _options(HEIGHT_LABELS)),
            ("build", "Postuur", _options(BUILD_LABELS)),
            ("face_covering", "Gezicht", _options(FACE_LABELS)),
        ],
        vehicles=_options(VEHICLE_LABELS),
    )


def done_page(*, branch_id: str, event_id: str) -> str:
    return _environment.get_template("done").render(branch_id=branch_id, event_id=event_id)


def failed_page(message: str) -> str:
    return _environment.get_template("failed").render(message=message)
