"""ASGI entry point: HTTP goes to Django, websockets through origin and session checks."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from conversations.origins import SameOriginOnly  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402
from conversations.turn.runtime import StartRuntime, start_with_the_server  # noqa: E402

application = StartRuntime(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": SameOriginOnly(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )
)
start_with_the_server()
