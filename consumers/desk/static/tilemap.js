// The desk's street map: Leaflet (vendored) on the configured tile server, alerts drawn from the
// rows' data attributes as outlined areas and clustered markers. When no tile answers within the
// configured wait, the page shows the offline sketch instead (desk.js draws it all along).
"use strict";
window.DeskTileMap = (function () {
  const COLOURS = { alert: "#c55a00", series: "#6b3fa0", hotspot: "#0f7a7a" };

  function colour(data, row) {
    if (data.state === "acknowledged" || data.state === "resolved") return "#6b7785";
    if (data.state === "escalated" || row.classList.contains("sev-critical")) return "#b3141b";
    if (data.kind === "series") return COLOURS.series;
    if (data.kind === "hotspot") return COLOURS.hotspot;
    return COLOURS.alert;
  }

  // Leaflet puts a string tooltip in as HTML; the title holds names and addresses as retailers
  // registered them, so it goes in as a text node, never as markup.
  function asText(title) {
    const text = document.createElement("span");
    text.textContent = title;
    return text;
  }

  function start(container, sketch) {
    if (!container || !window.L) return null;
    const data = container.dataset;
    const [south, west, north, east] = data.bounds.split(",").map(parseFloat);
    container.hidden = false;
    // The sketch is SVG, which has no `hidden` property: the attribute (and the page's CSS) does.
    if (sketch) sketch.setAttribute("hidden", "");
    const map = L.map(container, { zoomControl: true, attributionControl: true });
    map.fitBounds([[south, west], [north, east]]);
    const tiles = L.tileLayer(data.url, {
      maxZoom: parseInt(data.maxZoom, 10),
      attribution: data.attribution.replace(/[<>&]/g, ""),
      crossOrigin: false,
    }).addTo(map);
    let answered = false;
    let failed = 0;
    function fallBack() {
      if (answered || container.hidden) return;
      // No tile server answers: the offline sketch, which is drawn already.
      container.hidden = true;
      container.dataset.state = "sketch";
      if (sketch) sketch.removeAttribute("hidden");
    }
    tiles.on("tileload", () => {
      answered = true;
      container.dataset.state = "tiles";
    });
    tiles.on("tileerror", () => {
      failed += 1;
      if (failed >= 4) fallBack();
    });
    setTimeout(fallBack, parseInt(data.wait, 10));

    const areas = L.layerGroup().addTo(map);
    const lines = L.layerGroup().addTo(map);
    const markers = L.markerClusterGroup
      ? L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40 })
      : L.layerGroup();
    markers.addTo(map);
    let framed = false;

    function draw(rows) {
      areas.clearLayers();
      lines.clearLayers();
      markers.clearLayers();
      const series = new Map();
      const points = [];
      for (const row of rows) {
        const d = row.dataset;
        const where = [parseFloat(d.lat), parseFloat(d.lon)];
        if (Number.isNaN(where[0]) || Number.isNaN(where[1])) continue;
        points.push(where);
        const stroke = colour(d, row);
        // An outline, not a filled block: places and streets stay readable under it.
        const area = L.circle(where, {
          radius: parseFloat(d.radius), color: stroke, weight: d.state === "escalated" ? 4 : 2,
          fill: false, dashArray: d.kind === "hotspot" ? "6 4" : null,
          className: `area kind-${d.kind} state-${d.state}`,
        });
        area.bindTooltip(asText(d.title));
        const icon = L.divIcon({
          className: `pin kind-${d.kind} state-${d.state}`, iconSize: [16, 16],
        });
        const marker = L.marker(where, { icon, title: d.title, keyboard: true });
        if (d.href) {
          area.on("click", () => location.assign(d.href));
          marker.on("click", () => location.assign(d.href));
        }
        areas.addLayer(area);
        markers.addLayer(marker);
        if (d.series) {
          if (!series.has(d.series)) series.set(d.series, []);
          series.get(d.series).push(where);
        }
      }
      for (const path of series.values()) {
        if (path.length > 1) {
          lines.addLayer(L.polyline(path, { color: COLOURS.series, weight: 2, dashArray: "4 3" }));
        }
      }
      if (!framed && points.length) {
        framed = true;
        map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 14 });
      }
    }

    return { draw, map };
  }

  return { start };
})();
