"""Whether a socket's session still signs its user in, and the groups that end it.

A socket is signed in once, at its handshake. Sign-out, a deleted session row, a
changed password and a deactivated account end the session later: signals.py
tells the socket through these groups, and the socket asks `is_current` again
before it starts a turn, in case that word was lost (a channel layer restart).
"""

import hashlib
from importlib import import_module

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    load_backend,
)
from django.utils.crypto import constant_time_compare


def session_group(session_key: str) -> str:
    """The sockets of one session. A hash, not the key itself: group names end up in Redis."""
    return "chat.session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def user_group(user_id) -> str:
    """The sockets of every session of one user (told to check their session again)."""
    return f"chat.user.{user_id}"


def is_current(session_key: str, user) -> bool:
    """True while the session exists, has not expired, names `user`, the account is
    active and the password has not changed since the session signed in.

    Read-only, unlike django.contrib.auth.get_user, which flushes or cycles the
    session it checks: that is the HTTP request's business, not the socket's.
    """
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    backend_path = data.get(BACKEND_SESSION_KEY)
    if data.get(SESSION_KEY) != str(user.pk):
        return False  # gone, expired, or another user's
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    fresh = load_backend(backend_path).get_user(user.pk)  # None when inactive
    if fresh is None or not hasattr(fresh, "get_session_auth_hash"):
        return fresh is not None
    held = data.get(HASH_SESSION_KEY) or ""
    hashes = [fresh.get_session_auth_hash(), *fresh.get_session_auth_fallback_hash()]
    return any(constant_time_compare(held, expected) for expected in hashes)
