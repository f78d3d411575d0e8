from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Chat")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations import (  # noqa: F401
            checks,  # registers system checks
            images,  # a deleted image row deletes its file
            signals,  # sessions that end close their sockets
            team_signals,  # every group is a team; leaving a group drops the role
        )
