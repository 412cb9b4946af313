"""OPTIONS and 405 name every method a path takes (RFC 9110 Allow), not only one route's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import Match

if TYPE_CHECKING:
    from starlette.routing import Router
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


class AllowedMethods:
    """Answers OPTIONS with 204 and Allow; completes Allow on a 405.

    Starlette answers an OPTIONS without a route 405, and a 405's Allow lists only the first
    route matching the path, while GET and POST of one path are separate routes here.
    """

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and (methods := allowed_methods(self.router, scope)):
            allow = (b"allow", ", ".join(sorted(methods)).encode())
            await send({"type": "http.response.start", "status": 204, "headers": [allow]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = ", ".join(sorted(allowed_methods(self.router, scope))).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow)]}
            await send(message)

        await self.app(scope, receive, send_with_allow)


# What a route may take; HEAD comes with GET, OPTIONS is answered here.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(router: Router, scope: Scope) -> set[str]:
    """Each method some route fully matches for the path, with OPTIONS; empty if none does.

    Asked through BaseRoute.matches, so routers included into others are asked too.
    """
    methods = {
        method
        for method in _METHODS
        for route in router.routes
        if route.matches({**scope, "method": method})[0] is Match.FULL
    }
    return methods | {"OPTIONS"} if methods else methods
