"""A session that ends closes its sockets (registered in apps.py, so that
`manage.py clearsessions` and the admin tell the sockets too).

- Any deleted session row closes that session's sockets: signing out (it
  flushes the session), the admin, `clearsessions`, Django rotating the key on
  a password change.
- A changed password or a deactivated account asks every socket of the user to
  check its session again (sessions.is_current): those no longer signed in close.

Sockets are told after the commit, so that the check sees the change. With the
in-memory channel layer only the process that made the change can tell its
sockets; the check before every turn covers the rest (and a lost message).
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from conversations import lockout
from conversations.sessions import session_group, user_group

logger = logging.getLogger(__name__)
User = get_user_model()
SIGN_IN_FIELDS = ("password", "is_active")


def tell_sockets(group: str, kind: str) -> None:
    def send() -> None:
        try:
            async_to_sync(get_channel_layer().group_send)(group, {"type": kind})
        except Exception as error:  # the layer is down: sign-out must not fail for it
            logger.warning("Sockets were not told of %s: %r", kind, error)

    transaction.on_commit(send)


@receiver(post_delete, sender=Session)
def close_sockets_of_a_deleted_session(sender, instance: Session, **kwargs) -> None:
    tell_sockets(session_group(instance.session_key), "session.ended")


@receiver(user_logged_in)
def forget_the_accounts_failed_sign_ins(sender, request, user, **kwargs) -> None:
    """A successful sign-in clears that account's failures, and nobody else's."""
    lockout.unlock(username=user.get_username())


@receiver(pre_save, sender=User)
def note_a_sign_in_change(sender, instance, update_fields=None, **kwargs) -> None:
    instance._sign_in_changes = set()
    if instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(SIGN_IN_FIELDS):
        return  # e.g. last_login on every sign-in: no query
    before = User.objects.filter(pk=instance.pk).values(*SIGN_IN_FIELDS).first() or {}
    changed = {field for field in before if before[field] != getattr(instance, field)}
    instance._sign_in_changes = changed


@receiver(post_save, sender=User)
def recheck_sockets_of_the_user(sender, instance, created: bool, **kwargs) -> None:
    changes, instance._sign_in_changes = getattr(instance, "_sign_in_changes", set()), set()
    if changes:
        tell_sockets(user_group(instance.pk), "session.check")
    if "password" in changes:  # a new password (e.g. reset by mail) ends the account's lockout
        lockout.unlock(username=instance.get_username())
