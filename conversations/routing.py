"""Websocket URLs (the websocket counterpart of urls.py)."""

from channels.security.websocket import WebsocketDenier
from django.urls import path, re_path

from conversations.consumers import ChatConsumer

# The chat socket's path under the site's prefix: the one place it is written
# (Django's reverse() does not see these routes; the chat page passes it on).
CHAT_SOCKET = "ws/chat/"

websocket_urlpatterns = [
    path(CHAT_SOCKET, ChatConsumer.as_asgi()),
    # Any other path is refused at the handshake (HTTP 403), as a page would
    # answer 404: without it the router raises, and each attempt logged a traceback.
    re_path(r"", WebsocketDenier.as_asgi()),
]
