"""Whether a turn is checked, and how: the persona's setting, else the site's."""

from dataclasses import dataclass, replace
from uuid import UUID

from django.conf import settings
from django.utils.translation import gettext as _

from conversations.llm import ProviderSettings
from conversations.models import Message, SiteSettings
from conversations.refusals import Refused
from conversations.upstream import provider_settings


class StillRefused(Refused):
    """Regenerating a question the check refused, with no check to ask again."""

    def __init__(self) -> None:
        super().__init__(
            "moderated",
            _("The moderation check refused this message; edit it to send something else."),
        )


@dataclass(frozen=True)
class Check:
    """What the turn's task needs to moderate its question (and maybe its answer)."""

    provider: ProviderSettings
    provider_id: int
    model_name: str
    fail_open: bool
    check_answer: bool
    question_id: UUID
    text: str
    owner_id: int
    conversation_id: UUID


def check_for(*, user, conversation, persona, question_id, text: str | None) -> Check | None:
    """The check a turn's question needs, or None (moderation off, or no provider set).

    ``text`` None: the question is stored already (regenerate), read it here.
    """
    site = SiteSettings.cached()
    wanted = site.moderation_enabled or (persona is not None and persona.moderation)
    wanted = wanted and site.moderation_provider_id is not None
    if text is None:  # a regenerate: the question is stored; one the check refused stays so
        text, status = Message.objects.values_list("content", "status").get(pk=question_id)
        if status == Message.Status.MODERATED and not wanted:
            raise StillRefused()
    if not wanted:
        return None
    failure = (persona.moderation_on_failure if persona else "") or site.moderation_on_failure
    return Check(
        provider=_bounded(provider_settings(site.moderation_provider)),
        provider_id=site.moderation_provider_id,
        model_name=site.moderation_model,
        fail_open=failure == "open",
        check_answer=site.moderate_answers,
        question_id=question_id,
        text=text,
        owner_id=user.pk,
        conversation_id=conversation.id,
    )


def _bounded(provider: ProviderSettings) -> ProviderSettings:
    """The provider's settings with the whole check bounded by CHATSITE_MODERATION_TIMEOUT:
    a slow check must not hold the question for the chat model's long timeout."""
    limit = settings.CHATSITE_MODERATION_TIMEOUT
    return replace(
        provider,
        total_timeout=min(provider.total_timeout, limit),
        first_byte_timeout=min(provider.first_byte_timeout, limit),
        connect_timeout=min(provider.connect_timeout, limit),
        max_retries=min(provider.max_retries, 1),
    )
