"""Signing out ends that session's open sockets too."""

import hashlib

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver


def session_group(session_key: str) -> str:
    # A hash, not the key itself: group names end up in Redis.
    return "chat.session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


@receiver(user_logged_out)
def close_sockets_of_the_session(sender, request, user, **kwargs) -> None:
    session_key = getattr(request.session, "session_key", None)
    if session_key:
        event = {"type": "session.ended"}
        async_to_sync(get_channel_layer().group_send)(session_group(session_key), event)
