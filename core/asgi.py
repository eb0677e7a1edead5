"""ASGI entry point: HTTP through Django, websockets through Channels.

Websockets pass SameOriginValidator (an Origin other than the server's own or CSRF_TRUSTED_ORIGINS is refused,
realtime.origin) and AuthMiddlewareStack (the Django session, so ``scope["user"]``); the consumers check roles
(realtime.consumers).
"""

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.consumers import bind_publisher_loop  # noqa: E402
from realtime.origin import SameOriginValidator  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402


class BindPublisherLoop:
    """The live-update publisher sends on the server's loop, where the in-memory layer's consumers are."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            bind_publisher_loop()
        await self.app(scope, receive, send)


application = BindPublisherLoop(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )
)
