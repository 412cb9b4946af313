"""`heterdaad camera ...`: the Camera in Beeld registry (docs/cameras.md)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from assembly.org_cli import run_on_database
from heterdaad.camera_registry import (
    CSV_COLUMNS,
    CameraExistsError,
    CameraSpec,
    add_camera,
    list_cameras,
    parse_csv,
    remove_camera,
)
from heterdaad.spreadsheet import csv_cell
from schemas.common import Location

if TYPE_CHECKING:
    import asyncpg

    from heterdaad.camera_registry import Camera

camera_app = typer.Typer(
    help="Cameras owners registered with the police (Camera in Beeld).", no_args_is_help=True
)


def _admitted(spec: CameraSpec) -> CameraSpec:
    from producers.edge_policy import admit

    return admit(spec)


# Who asks, for the audit log (owners' contacts are personal data), as `notify subscribe` does.
Actor = Annotated[str, typer.Option(help="Who asks, for the audit log.")]


def _refuse(error: ValidationError) -> typer.Exit:
    for problem in error.errors(include_input=False):
        field = ".".join(str(part) for part in problem["loc"]) or "(camera)"
        typer.echo(f"heterdaad: {field}: {problem['msg']}", err=True)
    return typer.Exit(2)


@camera_app.command("add")
def add(
    camera_id: str,
    owner: Annotated[str, typer.Option(help="The owning organisation, or the owner's name.")],
    lat: Annotated[float, typer.Option()],
    lon: Annotated[float, typer.Option()],
    place: Annotated[str, typer.Option(help="Address or place: 'Damstraat 1, Amsterdam'.")],
    view: Annotated[str, typer.Option(help="What it sees: 'straat en ingang'.")],
    retention_days: Annotated[int, typer.Option(help="How long the owner keeps footage.")],
    phone: Annotated[str | None, typer.Option(help="The owner's phone (police only).")] = None,
    email: Annotated[str | None, typer.Option(help="The owner's e-mail (police only).")] = None,
    actor: Actor = "cli",
) -> None:
    """Register a camera."""
    try:
        spec = _admitted(
            CameraSpec(
                camera_id=camera_id, owner=owner, contact_phone=phone, contact_email=email,
                location=Location(lat=lat, lon=lon), place=place, view=view,
                retention_days=retention_days,
            )
        )  # fmt: skip
    except ValidationError as error:
        raise _refuse(error) from None
    run_on_database(lambda db: add_camera(db, spec, actor=actor), CameraExistsError)
    typer.echo(f"camera {camera_id} registered")


@camera_app.command("list")
def list_(
    as_csv: Annotated[
        bool, typer.Option("--csv", help="As CSV, in the columns `camera import` reads.")
    ] = False,
    actor: Actor = "cli",
) -> None:
    """The registered cameras, by id. Shows owners' contacts: for the police and admins."""
    cameras: list[Camera] = run_on_database(lambda db: list_cameras(db, actor=actor))
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(CSV_COLUMNS)
        for camera in cameras:
            writer.writerow([csv_cell(value) for value in (
                camera.camera_id, camera.owner, camera.contact_phone or "",
                camera.contact_email or "", camera.location.lat, camera.location.lon,
                camera.place, camera.view, camera.retention_days,
            )])  # fmt: skip
        return
    for camera in cameras:
        contact = " / ".join(c for c in (camera.contact_phone, camera.contact_email) if c)
        typer.echo(
            f"{camera.camera_id}  {camera.location.lat:.5f},{camera.location.lon:.5f}  "
            f"{camera.place}  [{camera.view}]  {camera.retention_days} d  "
            f"{camera.owner} ({contact})"
        )
    typer.echo(f"{len(cameras)} camera(s)")


@camera_app.command("remove")
def remove(camera_id: str, actor: Actor = "cli") -> None:
    """Forget a camera its owner withdrew."""
    if not run_on_database(lambda db: remove_camera(db, camera_id, actor=actor)):
        typer.echo(f"heterdaad: no camera {camera_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"camera {camera_id} removed")


@camera_app.command("import")
def import_csv(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    actor: Actor = "cli",
) -> None:
    """Register the cameras of a CSV file (header: the columns of `camera list --csv`).

    Rows that are refused are reported by line, column and reason, never by their text; the
    others are registered. A camera id already registered is refused, not overwritten.
    """
    with path.open(encoding="utf-8-sig", newline="") as lines:
        specs, rejected = parse_csv(lines)
    admitted = []
    for line_spec in specs:
        try:
            admitted.append(_admitted(line_spec))
        except ValidationError as error:
            for problem in error.errors(include_input=False):
                column = str(problem["loc"][-1]) if problem["loc"] else "(row)"
                typer.echo(f"rejected {line_spec.camera_id}: {column}: {problem['msg']}", err=True)

    async def register(db: asyncpg.Connection) -> list[str]:
        taken = []
        for spec in admitted:
            try:
                await add_camera(db, spec, actor=actor)
            except CameraExistsError:
                taken.append(spec.camera_id)
        return taken

    taken: list[str] = run_on_database(register)
    for row in rejected:
        typer.echo(f"rejected line {row.line}: {row.column}: {row.reason}", err=True)
    for camera_id in taken:
        typer.echo(f"rejected {camera_id}: camera_id: already registered", err=True)
    imported = len(admitted) - len(taken)
    refused = len(specs) - imported + len(rejected)
    typer.echo(f"{imported} camera(s) imported, {refused} rejected")
    if refused:
        raise typer.Exit(1)
