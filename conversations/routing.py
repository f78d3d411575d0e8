"""Websocket URLs (the websocket counterpart of urls.py)."""

from channels.security.websocket import WebsocketDenier
from django.urls import path, re_path

from conversations.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    # Any other path is refused at the handshake (HTTP 403), as a page would
    # answer 404: without it the router raises, and each attempt logged a traceback.
    re_path(r"", WebsocketDenier.as_asgi()),
]
