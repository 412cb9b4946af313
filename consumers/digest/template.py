"""The digest's HTML page: one self-contained file, styled for screen and for A4 print."""

# A Python string rather than a .j2 file: the package then needs no package-data entry.
PAGE = """<!doctype html>
<html lang="{{ language }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ p.title }} · {{ month_name }}</title>
<style>
  @page { size: A4; margin: 12mm; }
  :root { --blue: #154273; --orange: #e17000; --grey: #6b6b6b; --line: #e3e3e3;
          --bg: #f5f7fa; --good: #2e7d32; --bad: #b3261e; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 "DejaVu Sans", "Segoe UI", Roboto, Arial, sans-serif;
         color: #222; background: var(--bg); }
  main { max-width: 1120px; margin: 0 auto; padding: 0 24px 32px; }
  header.masthead { background: var(--blue); color: white; padding: 26px 0 20px; }
  header.masthead .inner { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
  .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; opacity: .8; }
  h1 { margin: 4px 0 6px; font-size: 30px; font-weight: 700; }
  .meta { margin: 0; font-size: 13px; opacity: .85; }
  .badge { display: inline-block; margin-top: 8px; padding: 2px 10px; border-radius: 10px;
           background: var(--orange); color: white; font-size: 12px; }
  section { background: white; border: 1px solid var(--line); border-radius: 6px;
            margin: 18px 0 0; padding: 16px 20px 18px; break-inside: avoid; }
  h2 { margin: 0 0 4px; font-size: 20px; color: var(--blue); }
  h3 { margin: 14px 0 6px; font-size: 15px; color: var(--blue); }
  .intro { margin: 0 0 10px; color: var(--grey); }
  .cards { display: grid; grid-template-columns: repeat(7, 1fr); gap: 10px; margin: 8px 0 12px; }
  .card { border: 1px solid var(--line); border-top: 4px solid var(--blue); border-radius: 4px;
          padding: 8px 10px; background: white; }
  .card .value { font-size: 26px; font-weight: 700; color: var(--blue); line-height: 1.2; }
  .card .label { font-size: 12px; font-weight: 600; }
  .card .sub { font-size: 11px; color: var(--grey); }
  .card.good { border-top-color: var(--good); } .card.good .value { color: var(--good); }
  .card.bad { border-top-color: var(--bad); } .card.bad .value { color: var(--bad); }
  .card.accent { border-top-color: var(--orange); }
  .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 14px 24px; align-items: start; }
  .grid > div { min-width: 0; }
  figure { margin: 0; }
  figure img { max-width: 100%; height: auto; display: block; }
  figure.wide img { width: 100%; }
  figure.narrow { max-width: 440px; margin-top: 12px; }
  .details { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
  .details img { border: 1px solid var(--line); border-radius: 4px; }
  table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
  th { text-align: left; color: var(--grey); font-weight: 600; border-bottom: 2px solid var(--line);
       padding: 4px 6px; }
  td { border-bottom: 1px solid var(--line); padding: 3px 6px; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.date { white-space: nowrap; }
  tr.total td { font-weight: 700; border-top: 2px solid var(--line); }
  .note { font-size: 12px; color: var(--grey); margin: 8px 0 0; }
  .method li { margin-bottom: 4px; }
  .files { columns: 2; font-size: 12.5px; }
  footer { color: var(--grey); font-size: 12px; margin-top: 14px; }
  @media print {
    body { background: white; }
    section { border: none; padding: 8px 0; }
    .cards { grid-template-columns: repeat(4, 1fr); }
    main, header.masthead .inner { padding: 0 4px; }
  }
</style>
</head>
<body>
<header class="masthead"><div class="inner">
  <div class="kicker">{{ p.audience }}</div>
  <h1>{{ p.title }} · {{ month_name }}</h1>
  <p class="meta">{{ p.made }} {{ made_on }} · {{ p.aggregate_only }}</p>
  {% if provisional %}<span class="badge">{{ p.provisional }}</span>{% endif %}
</div></header>
<main>

<section id="glance">
  <h2>{{ p.glance }}</h2>
  <div class="cards">
  {% for card in cards %}
    <div class="card {{ card.tone }}">
      <div class="value">{{ card.value }}</div>
      <div class="label">{{ card.label }}</div>
      <div class="sub">{{ card.sub }}</div>
    </div>
  {% endfor %}
  </div>
  <figure class="wide"><img alt="{{ p.trend }}" src="{{ charts.trend }}"></figure>
</section>

<section id="incidents">
  <h2>{{ p.incidents }}</h2>
  <p class="intro">{{ p.incidents_intro }}</p>
  <div class="grid">
    <div>
      <h3>{{ tables.incidents_by_kind.title }}</h3>
      {{ table(tables.incidents_by_kind) }}
      <h3>{{ p.by_branch_type }}</h3>
      <figure><img alt="{{ p.by_branch_type }}" src="{{ charts.branch_type }}"></figure>
    </div>
    <div>
      <h3>{{ p.map_incidents }}</h3>
      <figure><img alt="{{ p.map_incidents }}" src="{{ maps.incidents }}"></figure>
    </div>
    <div>
      <h3>{{ p.by_police_unit }}</h3>
      <figure><img alt="{{ p.by_police_unit }}" src="{{ charts.police_unit }}"></figure>
    </div>
    <div>
      <h3>{{ p.by_hour }}</h3>
      <figure><img alt="{{ p.by_hour }}" src="{{ charts.hour }}"></figure>
      <h3>{{ p.by_weekday }}</h3>
      <figure><img alt="{{ p.by_weekday }}" src="{{ charts.weekday }}"></figure>
    </div>
  </div>
</section>

<section id="patterns">
  <h2>{{ p.hotspots }} · {{ p.series }}</h2>
  <div class="grid">
    <div><figure><img alt="{{ p.hotspots }}" src="{{ maps.patterns }}"></figure></div>
    <div class="details">
      {% for label, uri in maps.details %}<figure><img alt="{{ label }}" src="{{ uri }}"></figure>
      {% endfor %}
    </div>
  </div>
  <h3>{{ p.hotspots }}</h3>
  <p class="intro">{{ p.hotspots_intro }}</p>
  {% if tables.hotspots.rows %}{{ table(tables.hotspots) }}
  {% else %}<p>{{ p.none_this_month }}</p>{% endif %}
  <h3>{{ p.series }}</h3>
  <p class="intro">{{ p.series_intro }}</p>
  {% if tables.series.rows %}{{ table(tables.series) }}
  {% else %}<p>{{ p.none_this_month }}</p>{% endif %}
  {% if tables.series_members.rows %}<h3>{{ p.series_members }}</h3>
  <p class="intro">{{ p.series_members_intro }}</p>
  {{ table(tables.series_members) }}{% endif %}
</section>

<section id="reconnaissance">
  <h2>{{ p.recon }}</h2>
  <p class="intro">{{ p.recon_intro }}</p>
  {{ table(tables.reconnaissance) }}
  <p class="note">{{ p.recon_warnings }}: {{ recon_warnings }}</p>
</section>

<section id="false-alarms">
  <h2>{{ p.alarms }}</h2>
  <p class="intro">{{ p.alarms_intro }}</p>
  <div class="grid">
    <div>{{ table(tables.false_alarms) }}</div>
    <div>{% if charts.false_share %}
      <figure><img alt="{{ p.alarms }}" src="{{ charts.false_share }}"></figure>{% endif %}
    </div>
  </div>
</section>

<section id="trend">
  <h2>{{ p.trend }} · {{ p.ambitions }}</h2>
  <div class="grid">
    <div>{{ table(tables.trend) }}</div>
    <div>{{ table(tables.ambitions) }}
      <p class="note">{{ p.clearance_note }}</p></div>
  </div>
</section>

<section id="reliability">
  <h2>{{ p.reliability }}</h2>
  <p class="intro">{{ p.reliability_intro }}</p>
  {% if tables.reliability.rows %}
  {{ table(tables.reliability) }}
  {% if charts.reliability %}<figure class="narrow"><img alt="{{ p.reliability }}"
    src="{{ charts.reliability }}"></figure>{% endif %}
  {% else %}<p>{{ p.reliability_none }}</p>{% endif %}
  <p class="note">{{ p.judgements_in_month }}: {{ judgements_in_month }}</p>
</section>

<section id="method">
  <h2>{{ p.method }}</h2>
  <ul class="method">{% for rule in method %}<li>{{ rule }}</li>{% endfor %}</ul>
  <h3>{{ p.exports }}</h3>
  <ul class="files">{% for name in files %}<li><a href="{{ name }}">{{ name }}</a></li>
  {% endfor %}</ul>
</section>

<footer>Heterdaad · {{ p.title }} · {{ month_name }} · {{ p.aggregate_only }}</footer>
</main>
</body>
</html>
"""

TABLE = """<table>
<thead><tr>{% for column in columns %}<th class="{{ column.css }}">
{{- column.header }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}
<tr{% if row.total %} class="total"{% endif %}>{% for cell in row.cells -%}
<td class="{{ cell.css }}">{{ cell.text }}</td>{% endfor %}</tr>
{%- endfor %}</tbody>
</table>"""
