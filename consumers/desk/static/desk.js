// The police desk page: live alerts over server-sent events, drawn on the street map (tilemap.js)
// and on the offline SVG sketch, which shows when no tile server answers.
// Rows arrive rendered by the server (same template as on page load); the map is drawn from
// the rows' data attributes, so list and map can never disagree.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const list = document.getElementById("alerts");
  const map = document.getElementById("map");
  const banner = document.getElementById("escalation");
  const empty = document.getElementById("empty");
  const live = document.getElementById("live");
  const baseTitle = document.body.dataset.title || document.title;

  function areas() {
    return Array.from(document.querySelectorAll("[data-r]"));
  }

  const tileMap = window.DeskTileMap
    ? window.DeskTileMap.start(document.getElementById("tiles"), map)
    : null;

  function drawMap() {
    if (tileMap) tileMap.draw(areas());
    if (!map) return;
    const layer = map.querySelector("#areas");
    const lines = map.querySelector("#series-lines");
    layer.replaceChildren();
    lines.replaceChildren();
    const view = map.viewBox.baseVal;
    const minimum = Math.max(view.width, view.height) / 120;
    const dot = Math.max(view.width, view.height) / 300;
    const series = new Map();
    // Oldest first, so the newest alert lies on top.
    const rows = areas().sort((a, b) => a.dataset.created.localeCompare(b.dataset.created));
    for (const row of rows) {
      const data = row.dataset;
      const classes = `kind-${data.kind} state-${data.state} ` +
        Array.from(row.classList).filter((name) => name.startsWith("sev-")).join(" ");
      const area = document.createElementNS(SVG, "circle");
      area.setAttribute("cx", data.x);
      area.setAttribute("cy", data.y);
      area.setAttribute("r", Math.max(parseFloat(data.r), minimum));
      area.setAttribute("class", classes);
      const title = document.createElementNS(SVG, "title");
      title.textContent = data.title;
      area.appendChild(title);
      if (data.href) area.addEventListener("click", () => location.assign(data.href));
      layer.appendChild(area);
      const centre = document.createElementNS(SVG, "circle");
      centre.setAttribute("cx", data.x);
      centre.setAttribute("cy", data.y);
      centre.setAttribute("r", dot);
      centre.setAttribute("class", classes + " centre");
      layer.appendChild(centre);
      if (data.series) {
        if (!series.has(data.series)) series.set(data.series, []);
        series.get(data.series).push(`${data.x},${data.y}`);
      }
    }
    for (const points of series.values()) {
      if (points.length < 2) continue;
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", points.join(" "));
      lines.appendChild(line);
    }
  }

  function showEscalations() {
    if (!banner) return;
    const count = document.querySelectorAll(".card.state-escalated").length;
    banner.hidden = count === 0;
    const text = count === 1 ? banner.dataset.textOne : banner.dataset.text;
    banner.textContent = text.replace("{count}", String(count));
    document.title = count ? `(${count}!) ${baseTitle}` : baseTitle;
  }

  // Where a reload would put it: the server's sort key (what needs action first) orders rows.
  function place(row) {
    const after = Array.from(list.children).find((other) => other.dataset.order > row.dataset.order);
    list.insertBefore(row, after || null);
  }

  function upsert(event) {
    const data = JSON.parse(event.data);
    const template = document.createElement("template");
    template.innerHTML = data.html.trim();
    const row = template.content.firstElementChild;
    const existing = document.getElementById(row.id);
    if (existing) existing.remove();
    else row.classList.add("fresh");
    // History informs, it never tops the live list (docs/time.md).
    const history = document.getElementById("history");
    if (row.classList.contains("historical") && history) {
      history.prepend(row);
    } else {
      place(row);
      if (empty) empty.hidden = true;
    }
    drawMap();
    showEscalations();
  }

  function setLive(on) {
    if (!live) return;
    live.classList.toggle("off", !on);
    live.textContent = on ? live.dataset.on : live.dataset.off;
  }

  function connect() {
    const position = document.body.dataset.position;
    const source = new EventSource(`/stream?after=${encodeURIComponent(position)}`);
    source.addEventListener("alert", upsert);
    source.addEventListener("change", upsert);
    // The stream could not continue where this page left off: the table has the truth.
    source.addEventListener("reload", () => { source.close(); location.reload(); });
    source.addEventListener("logout", () => { source.close(); location.assign("/login"); });
    source.addEventListener("open", () => setLive(true));
    source.addEventListener("error", () => setLive(false));
  }

  drawMap();
  showEscalations();
  if (list && document.body.dataset.position) connect();
})();
