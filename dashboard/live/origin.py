"""Origin checking for websockets that authenticate with the session cookie.

A browser sends the session cookie with any websocket handshake, whichever site opened it, so a
cookie-authenticated socket must come from one of our own pages (``ALLOWED_HOSTS`` origins). A
bearer token is different: a browser cannot put an ``Authorization`` header on a websocket
handshake, and scripts usually send no ``Origin`` at all. So a handshake that carries one is
passed on, and the consumer authenticates it by the token alone (the cookie is then ignored).
"""

from __future__ import annotations

from typing import Any

from channels.security.websocket import AllowedHostsOriginValidator


class BrowserOriginValidator:
    def __init__(self, application: Any) -> None:
        self.application = application
        self.checked = AllowedHostsOriginValidator(application)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if any(name == b"authorization" for name, _ in scope.get("headers", ())):
            return await self.application(scope, receive, send)
        return await self.checked(scope, receive, send)
