"""Camera in Beeld registry: stored and found nearby, filled by the CLI, a CSV file and the API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from heterdaad.camera_registry import (
    CameraExistsError,
    CameraSpec,
    add_camera,
    cameras_near,
    list_cameras,
    parse_csv,
    remove_camera,
)
from producers.api import admin
from schemas.common import Location
from tests.producers.intake_support import register, running_api

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.settings import Settings

DAM = Location(lat=52.3731, lon=4.8932)
HEADER = "camera_id,owner,contact_phone,contact_email,lat,lon,place,view,retention_days\n"


def _spec(camera_id: str, lat: float, lon: float, **changes: Any) -> CameraSpec:
    fields: dict[str, Any] = {
        "camera_id": camera_id, "owner": "Bakkerij Jansen", "contact_phone": "020 555 0101",
        "location": {"lat": lat, "lon": lon}, "place": "Damstraat 1, Amsterdam",
        "view": "straat en ingang", "retention_days": 7,
    }  # fmt: skip
    return CameraSpec.model_validate(fields | changes)


# --- CSV parsing (pure) ----------------------------------------------------------------------


def test_a_csv_row_is_rejected_by_column_and_reason_never_by_its_text() -> None:
    rows = [
        # good
        "cam-1,Bakkerij Jansen,020 555 0101,,52.3731,4.8932,Damstraat 1,straat,7",
        # a formula and a phone number in the wrong column: named, not echoed
        "cam-2,=HYPERLINK(\"x\"),,geheim-0612345678,52.37,4.89,Dam,straat,7",
        # no way to reach the owner
        "cam-3,Jansen,,,52.37,4.89,Dam,straat,7",
        # latitude outside the Netherlands' box, retention not a number
        "cam-4,Jansen,0612345678,,48.85,4.89,Dam,straat,week",
        # the same id twice
        "cam-1,Jansen,0612345678,,52.37,4.89,Dam,straat,7",
    ]
    specs, rejected = parse_csv([HEADER, *(row + "\n" for row in rows)])
    assert [spec.camera_id for spec in specs] == ["cam-1"]
    by_line = {(row.line, row.column) for row in rejected}
    assert by_line == {(3, "contact_email"), (4, "(row)"), (5, "lat"), (5, "retention_days"),
                       (6, "camera_id")}  # fmt: skip
    reasons = " ".join(row.reason for row in rejected)
    for secret in ("HYPERLINK", "0612345678", "geheim", "48.85", "week"):
        assert secret not in reasons


def test_a_csv_without_a_column_names_it() -> None:
    specs, rejected = parse_csv(["camera_id,owner,lat,lon\n", "cam-1,Jansen,52.3,4.8\n"])
    assert specs == []
    assert {row.column for row in rejected} == {
        "contact_phone", "contact_email", "place", "view", "retention_days"}  # fmt: skip


# --- the registry in PostgreSQL --------------------------------------------------------------


@pytest.mark.integration
async def test_cameras_near_a_point_nearest_first_within_the_radius(db: asyncpg.Connection) -> None:
    # About 60 m, 150 m and 240 m north of the Dam, 100 m south (first in the index, not in
    # distance), and one 400 m east.
    for camera_id, lat, lon in [("c-150", 52.37445, 4.8932), ("c-60", 52.37364, 4.8932),
                                ("c-240", 52.37526, 4.8932), ("c-east", 52.3731, 4.8991),
                                ("c-100s", 52.3722, 4.8932)]:
        await add_camera(db, _spec(camera_id, lat, lon), actor="test")  # fmt: skip
    near = await cameras_near(db, DAM, 250)
    assert [found.camera.camera_id for found in near] == ["c-60", "c-100s", "c-150", "c-240"]
    assert [round(found.metres, -1) for found in near] == [60, 100, 150, 240]
    assert [found.camera.camera_id for found in await cameras_near(db, DAM, 100)] == ["c-60"]
    with pytest.raises(CameraExistsError):
        await add_camera(db, _spec("c-60", 52.0, 5.0), actor="test")
    assert await remove_camera(db, "c-60", actor="test")
    assert not await remove_camera(db, "c-60", actor="test")
    listed = await list_cameras(db, actor="test")
    assert [c.camera_id for c in listed] == ["c-100s", "c-150", "c-240", "c-east"]


# --- the CLI -----------------------------------------------------------------------------------


def _camera_cli(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HETERDAAD_")}
    env |= {"HETERDAAD_DATABASE_URL": settings.database_url,
            "HETERDAAD_DATABASE_SCHEMA": settings.database_schema}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "assembly.cli", "camera", *arguments],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.integration
async def test_the_cli_adds_lists_imports_and_removes(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    added = _camera_cli(
        settings, "add", "cam-dam", "--owner", "Bakkerij Jansen", "--lat", "52.3731",
        "--lon", "4.8932", "--place", "Damstraat 1, Amsterdam", "--view", "straat en ingang",
        "--retention-days", "7", "--phone", "020 555 0101",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    # In the North Sea: inside the box, outside the country.
    at_sea = _camera_cli(
        settings, "add", "cam-sea", "--owner", "X", "--lat", "52.6", "--lon", "4.0",
        "--place", "Zee", "--view", "golven", "--retention-days", "7", "--phone", "0612345678",
    )  # fmt: skip
    assert at_sea.returncode == 2 and "location" in at_sea.stderr
    csv_file = tmp_path / "cameras.csv"
    csv_file.write_text(
        HEADER
        + "cam-a,Slager de Vries,,info@slager.example,52.3740,4.8940,Dam 5,ingang,14\n"
        + "cam-b,Jansen,=1+2,,52.37,4.89,Dam,straat,7\n"
        + "cam-dam,Jansen,0612345678,,52.37,4.89,Dam,straat,7\n",
        encoding="utf-8",
    )
    imported = _camera_cli(settings, "import", str(csv_file))
    assert imported.returncode == 1
    assert "1 camera(s) imported, 2 rejected" in imported.stdout
    assert "line 3: contact_phone" in imported.stderr
    assert "cam-dam: camera_id: already registered" in imported.stderr
    assert "=1+2" not in imported.stderr
    listed = _camera_cli(settings, "list")
    assert listed.returncode == 0
    assert "cam-a" in listed.stdout and "cam-dam" in listed.stdout
    assert "2 camera(s)" in listed.stdout
    assert _camera_cli(settings, "remove", "cam-a").returncode == 0
    assert _camera_cli(settings, "remove", "cam-a").returncode == 1
    assert [c.camera_id for c in await list_cameras(db, actor="test")] == ["cam-dam"]
    actions = await db.fetch("SELECT actor, action FROM audit_log WHERE actor = 'cli' ORDER BY at")
    assert [row["action"] for row in actions] == [
        "camera_registered", "camera_registered", "cameras_read", "camera_removed"]  # fmt: skip


@pytest.mark.integration
async def test_the_csv_listing_reads_back_and_quotes_formulas(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    registered = _spec(
        "cam-1", 52.3731, 4.8932, owner="=cmd|' /C calc'!A0", contact_phone="+31 20 555 0101"
    )
    await add_camera(db, registered, actor="test")
    listed = _camera_cli(settings, "list", "--csv")
    assert listed.returncode == 0
    assert "'=cmd" in listed.stdout and "'+31 20" in listed.stdout
    specs, rejected = parse_csv(listed.stdout.splitlines(keepends=True))
    # Read back as registered: the quote that kept a spreadsheet from running it is dropped.
    assert rejected == [] and specs == [registered]


# --- the API -----------------------------------------------------------------------------------


@pytest.mark.integration
async def test_the_api_registers_refuses_by_field_and_deletes(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await register(db)
    police = {"Authorization": f"Bearer {(await admin.issue_key(db, 'politie-ams')).key}"}
    body = _spec("cam-api", 52.3731, 4.8932).model_dump(mode="json")
    async with running_api(settings) as (_, client):
        created = await client.post("/v1/cameras", json=body, headers=police)
        assert created.status_code == 201, created.text
        assert created.headers["Location"] == "/v1/cameras/cam-api"
        again = await client.post("/v1/cameras", json=body, headers=police)
        assert again.status_code == 409
        assert again.json()["detail"][0]["field"] == "camera_id"
        at_sea = body | {"camera_id": "cam-sea", "location": {"lat": 52.6, "lon": 4.0}}
        refused = await client.post("/v1/cameras", json=at_sea, headers=police)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["field"].startswith("location")
        # PostgreSQL text cannot hold U+0000: a field refused, not a server error (the fuzz's).
        for field in ("view", "owner", "place"):
            nul = body | {"camera_id": "cam-nul", field: "straat\u0000"}
            refused = await client.post("/v1/cameras", json=nul, headers=police)
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"][0]["field"] == field
        nul_mail = body | {"camera_id": "cam-nul", "contact_email": "a\u0000b@x.nl"}
        refused = await client.post("/v1/cameras", json=nul_mail, headers=police)
        assert refused.json()["detail"][0]["field"] == "contact_email"
        no_contact = body | {"camera_id": "cam-x", "contact_phone": None}
        refused = await client.post("/v1/cameras", json=no_contact, headers=police)
        assert refused.status_code == 422
        assert "contact_phone or contact_email" in refused.text
        listed = await client.get("/v1/cameras", headers=police)
        assert [c["camera_id"] for c in listed.json()] == ["cam-api"]
        assert listed.json()[0]["contact_phone"] == "020 555 0101"
        assert (await client.delete("/v1/cameras/cam-api", headers=police)).status_code == 204
        assert (await client.get("/v1/cameras/cam-api", headers=police)).status_code == 404
    assert await list_cameras(db, actor="test") == []
    # Every change and read of owners' contacts is in the audit log, with the key that asked.
    trail = await db.fetch(
        "SELECT actor, action, subject FROM audit_log WHERE action LIKE 'camera%' ORDER BY at"
    )
    assert [(row["action"], row["subject"]) for row in trail] == [
        ("camera_registered", "cam-api"), ("cameras_read", "(all)"),
        ("camera_removed", "cam-api"), ("cameras_read", "cam-api"), ("cameras_read", "(all)"),
    ]  # fmt: skip
    assert all(row["actor"].startswith("api:politie-ams:") for row in trail[:-1])


def test_the_documented_example_file_imports_clean() -> None:
    # docs/cameras.md imports it against the demo (tests/infra/test_readme_examples.py).
    example = Path(__file__).parents[1] / "docs" / "examples" / "cameras.csv"
    with example.open(encoding="utf-8-sig", newline="") as lines:
        specs, rejected = parse_csv(lines)
    assert rejected == [] and len(specs) == 4
