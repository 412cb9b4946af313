"""The street map in headless Chromium, against a small tile server the test runs itself: tiles
requested and shown, areas drawn as outlines, markers clustered when zoomed out; and the offline
sketch when no tile server answers."""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from consumers.desk import DeskThresholds
from consumers.desk.basemap import base_map, label_box
from consumers.sink import store
from producers.api import admin
from schemas.alerts import AlertKind, Area, Severity
from schemas.common import Address, Branch, BranchType, Location, PoliceUnit
from tests import factories
from tests.consumers.test_desk import served_desk, users
from tests.consumers.test_desk_browser import (
    a_shift_of_alerts,
    keep_screenshot,
    playwright_api,
    signed_in_page,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import asyncpg

    from heterdaad.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["playwright_api"]  # the fixture, imported to be used here

ACCOUNTED = """(wanted) => {
  const clusters = Array.from(document.querySelectorAll("#tiles .marker-cluster span"));
  const clustered = clusters.reduce((sum, span) => sum + parseInt(span.textContent, 10), 0);
  return clustered > 1 && clustered + document.querySelectorAll("#tiles .pin").length === wanted;
}"""
DESKTOP = {"width": 1280, "height": 900}
TILE_PATH = re.compile(r"^/(\d+)/(\d+)/(\d+)\.png$")


def png_tile(rgb: tuple[int, int, int] = (232, 236, 230)) -> bytes:
    """A 256 x 256 tile of one colour with its edges drawn (so each tile shows), a real PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    edge = bytes((150, 170, 190))
    inner = b"\x00" + edge + bytes(rgb) * 255
    rows = b"\x00" + edge * 256 + inner * 255
    header = struct.pack(">IIBBBBB", 256, 256, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


@contextlib.contextmanager
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """An XYZ tile server on a free loopback port; yields its template and the paths asked."""
    asked: list[str] = []
    tile = png_tile()

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if TILE_PATH.match(self.path) is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *_: Any) -> None:
            pass  # quiet: the test reads `asked`

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png", asked
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_street_map_from_a_local_tile_server(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path, playwright_api: Any
) -> None:
    await users(db)
    seeded = a_shift_of_alerts()
    for alert in seeded:
        await store(db, alert)
    with tile_server() as (template, asked):
        thresholds = DeskThresholds(tile_url=template, tile_attribution="Testtegels")
        async with (
            served_desk(settings, thresholds=thresholds) as base_url,
            playwright_api.async_playwright() as playwright,
            signed_in_page(playwright, base_url, viewport=DESKTOP) as page,
        ):
            await page.wait_for_selector("#tiles[data-state=tiles] img.leaflet-tile-loaded")
            assert await page.is_visible("#tiles") and not await page.is_visible("#map")
            assert "Testtegels" in await page.inner_text("#tiles .leaflet-control-attribution")
            # Every alert's area, as an outline: stroked, not filled.
            areas = page.locator("#tiles path.area")
            assert await areas.count() == len(seeded)
            fills = await areas.evaluate_all("paths => paths.map(p => p.getAttribute('fill'))")
            assert set(fills) == {"none"}, fills
            assert await page.locator("#tiles path.area.state-escalated, "
                                      "#tiles path.area.kind-hotspot").count() >= 1
            pins = page.locator("#tiles .pin, #tiles .marker-cluster")
            assert await pins.count() >= 1
            await page.screenshot(path=str(tmp_path / "desk-map.png"))
            # Zoomed out, the alerts of Amsterdam cluster into one marker with their count.
            for _ in range(4):
                await page.click("#tiles .leaflet-control-zoom-out")
            await page.wait_for_selector("#tiles .marker-cluster")
            # Once the zoom's animation settles, clusters and single pins count every alert.
            await page.wait_for_function(ACCOUNTED, arg=len(seeded), timeout=10_000)

            # The detail page draws its one alert on the same tiles.
            await page.goto(f"{base_url}/alerts/{seeded[0].alert_id}")
            await page.wait_for_selector("#tiles[data-state=tiles] img.leaflet-tile-loaded")
            assert await page.locator("#tiles path.area").count() == 1
    keep_screenshot(tmp_path / "desk-map.png", "desk-map.png")
    tiles = [path for path in asked if TILE_PATH.match(path)]
    assert tiles, asked  # the page asked our server for tiles
    zooms = {int(TILE_PATH.match(path)[1]) for path in tiles}  # type: ignore[index]
    assert max(zooms) >= 10, zooms  # street-level zoom around the alerts


async def test_the_sketch_when_no_tile_server_answers(
    settings: Settings, db: asyncpg.Connection, playwright_api: Any
) -> None:
    await users(db)
    for alert in a_shift_of_alerts():
        await store(db, alert)
    dead = f"http://127.0.0.1:{closed_port()}/{{z}}/{{x}}/{{y}}.png"
    thresholds = DeskThresholds(tile_url=dead, tile_wait_seconds=3)
    async with (
        served_desk(settings, thresholds=thresholds) as base_url,
        playwright_api.async_playwright() as playwright,
        signed_in_page(playwright, base_url, viewport=DESKTOP) as page,
    ):
        await page.wait_for_selector("#tiles[data-state=sketch]", state="attached")
        assert await page.is_visible("#map") and not await page.is_visible("#tiles")
        assert await page.locator("#areas circle").count() >= 2
        # Amsterdam's names as Chromium draws them: each within the box the sketch reserved
        # for it (so boxes apart are names apart), and over the areas, not hidden under them.
        drawn = await page.evaluate(DRAWN_NAMES)
        sketch = base_map(PoliceUnit.AMSTERDAM)
        assert len(drawn) == len(sketch.labels) >= 8
        for (name, *measured), label in zip(drawn, sketch.labels, strict=True):
            left, top, right, bottom = label_box(label, sketch.label_size)
            assert name == label.name
            x, y, width, height = measured
            assert left <= x and x + width <= right and top <= y and y + height <= bottom, name
        assert await page.evaluate(NAMES_OVER_AREAS)


# Each name's box in SVG units, as drawn (text only: the halo is in the reserved box's margin).
DRAWN_NAMES = """() => Array.from(document.querySelectorAll("#map .places text")).map(text => {
  const box = text.getBBox();
  return [text.textContent, box.x, box.y, box.width, box.height];
})"""
NAMES_OVER_AREAS = """() => Boolean(document.querySelector("#areas").compareDocumentPosition(
  document.querySelector("#map .places")) & Node.DOCUMENT_POSITION_FOLLOWING)"""


# A name as a retailer may register it: the desk shows it, and markup in it must stay text.
MARKUP_CITY = '<img id="injected" src="/static/desk.css"><b>Amsterdam</b>'


async def test_a_tooltip_shows_a_registered_address_as_text_not_markup(
    settings: Settings, db: asyncpg.Connection, playwright_api: Any
) -> None:
    await users(db)
    await admin.create_organisation(db, "winkels", "Winkels BV", "retailer")
    await admin.create_organisation(db, "pac", "Alarmcentrale", "alarm_centre")
    await admin.create_branch(db, "winkels", Branch(
        branch_id="filiaal-dam", chain="Buurtsuper", branch_type=BranchType.SUPERMARKET,
        location=Location(lat=52.3731, lon=4.8926),
        address=Address(street="Damstraat 1", postcode="1012 JL", city=MARKUP_CITY),
    ))  # fmt: skip
    await admin.create_alarm_site(db, "site-dam", "pac", "101", branch_id="filiaal-dam")
    alert = factories.alert(
        kind=AlertKind.HOLD_UP_IN_PROGRESS, severity=Severity.CRITICAL, site_id="site-dam",
        area=Area(center=Location(lat=52.3731, lon=4.8926), radius_m=1000),
    )  # fmt: skip
    await store(db, alert)
    with tile_server() as (template, _):
        thresholds = DeskThresholds(tile_url=template)
        async with (
            served_desk(settings, thresholds=thresholds) as base_url,
            playwright_api.async_playwright() as playwright,
            signed_in_page(playwright, base_url, viewport=DESKTOP) as page,
        ):
            for address in ("/", f"/alerts/{alert.alert_id}"):
                await page.goto(f"{base_url}{address}")
                await page.wait_for_selector("#tiles[data-state=tiles] img.leaflet-tile-loaded")
                tooltip = await _hover_outline(page, playwright_api)
                assert MARKUP_CITY in await tooltip.inner_text()
                assert await page.locator("#tiles .leaflet-tooltip img, #injected").count() == 0


# The point on the outline's left edge, at its middle, that the browser's hit test gives to
# the outline: its stroke is 2 px wide, and which pixels of it take the pointer depends on
# where the circle falls between pixels.
_ON_THE_OUTLINE = """() => {
  const area = document.querySelector("#tiles path.area");
  const box = area.getBoundingClientRect();
  const y = box.top + box.height / 2;
  for (let dx = 0; dx <= 4; dx += 0.5) {
    if (document.elementFromPoint(box.left + dx, y) === area) return [box.left + dx, y];
  }
  return null;
}"""


async def _hover_outline(page: Any, playwright_api: Any, attempts: int = 5) -> Any:
    """Point at the area's outline until its tooltip shows; the shown tooltip.

    The outline is unfilled, so only its stroke takes the pointer, and the pin in the centre
    would take it there. The map may still be zooming to frame the alerts, moving the outline
    after it was measured, so the point is found again for each attempt.
    """
    tooltip = page.locator("#tiles .leaflet-tooltip")
    for _ in range(attempts):
        await page.wait_for_selector("#tiles:not(.leaflet-zoom-anim)")
        point = await page.evaluate(_ON_THE_OUTLINE)
        if point is not None:
            await page.mouse.move(point[0] + 20, point[1])  # inside, off the line
            await page.mouse.move(*point)
            with contextlib.suppress(playwright_api.TimeoutError):
                await tooltip.wait_for(timeout=3_000)
                return tooltip
        await page.wait_for_timeout(500)
    raise AssertionError(f"no tooltip on the outline after {attempts} attempts")
