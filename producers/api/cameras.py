"""`/v1/cameras`: the Camera in Beeld registry for the police and admins (docs/cameras.md).

Owners' contacts are personal data, so only police and admin organisations read or change the
registry, with a key holding the scope `cameras:write` (theirs by default); every other role
gets 403 whatever its key holds.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from heterdaad.auth import CAMERA_ROLES, CAMERAS_WRITE, Caller, require_scope
from heterdaad.camera_registry import (
    Camera,
    CameraExistsError,
    CameraId,
    CameraSpec,
    add_camera,
    list_cameras,
    remove_camera,
)
from producers.api.answers import FieldProblem, Problem, ValidationProblem, field_problems
from producers.edge_policy import admit

logger = logging.getLogger(__name__)


# A police or admin caller whose key may keep the registry.
Keeper = Annotated[Caller, Depends(require_scope(
    CAMERAS_WRITE, CAMERA_ROLES, "an organisation with role {role} has no camera registry"
))]  # fmt: skip
PathCameraId = Annotated[CameraId, Path()]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No camera with this id."}
}


def _actor(caller: Caller) -> str:
    return f"api:{caller.organisation_id}:{caller.key_id}"


def camera_router() -> APIRouter:
    router = APIRouter(
        prefix="/v1/cameras",
        tags=["cameras"],
        responses={
            401: {"model": Problem, "description": "No key, or one unknown, revoked or expired."},
            403: {"model": Problem, "description": "Not police or admin, or the key lacks "
                  f"the scope {CAMERAS_WRITE}."},
        },
    )  # fmt: skip

    @router.get("", summary="Every registered camera, by id")
    async def list_all(request: Request, caller: Keeper) -> list[Camera]:
        logger.info("camera registry read", extra={"organisation_id": caller.organisation_id})
        return await list_cameras(request.app.state.intake.pool, actor=_actor(caller))

    @router.post(
        "",
        status_code=201,
        response_model=Camera,
        summary="Register a camera",
        responses={
            409: {"model": ValidationProblem, "description": "The camera id is taken."},
            422: {"model": ValidationProblem, "description": "Each offending field and why."},
        },
    )
    async def register(
        request: Request, response: Response, caller: Keeper, spec: CameraSpec
    ) -> Camera | JSONResponse:
        try:
            admit(spec)
        except ValidationError as error:
            problems = field_problems(error.errors(include_input=False))
            return JSONResponse({"detail": [p.model_dump() for p in problems]}, status_code=422)
        try:
            camera = await add_camera(request.app.state.intake.pool, spec, actor=_actor(caller))
        except CameraExistsError as taken:
            problem = FieldProblem(field="camera_id", reason=str(taken))
            return JSONResponse({"detail": [problem.model_dump()]}, status_code=409)
        logger.info("camera registered by api", extra={
            "organisation_id": caller.organisation_id, "camera_id": spec.camera_id})  # fmt: skip
        response.headers["Location"] = f"{router.prefix}/{spec.camera_id}"
        return camera

    @router.get("/{camera_id}", summary="One registered camera", responses=_NOT_FOUND)
    async def read(request: Request, caller: Keeper, camera_id: PathCameraId) -> Camera:
        found = await list_cameras(
            request.app.state.intake.pool, camera_id, actor=_actor(caller)
        )
        if not found:
            raise HTTPException(404, f"no camera {camera_id}")
        return found[0]

    @router.delete("/{camera_id}", status_code=204, summary="Forget a camera", responses=_NOT_FOUND)
    async def delete(request: Request, caller: Keeper, camera_id: PathCameraId) -> None:
        if not await remove_camera(
            request.app.state.intake.pool, camera_id, actor=_actor(caller)
        ):
            raise HTTPException(404, f"no camera {camera_id}")
        logger.info("camera removed by api", extra={
            "organisation_id": caller.organisation_id, "camera_id": camera_id})  # fmt: skip

    return router
