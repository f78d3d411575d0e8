from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Chat")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations import (
            checks,  # noqa: F401  (registers system checks)
            runtime,
            signals,  # noqa: F401  (sessions that end close their sockets)
            titles,
        )

        runtime.STARTUP_HOOKS.append(titles.register)
