"""The one ownership helper: every view, API endpoint and socket frame fetches
objects through these functions.

Another user's object and a missing one look exactly the same (NotFound), so
ids guessed from outside reveal nothing.
"""

import uuid
from typing import Any

from django.http import Http404
from django.utils.translation import gettext

from conversations.models import Conversation, Message, ModelConfig, Persona, Team
from conversations.refusals import Refused


class NotFound(Refused, Http404):
    """Raised for missing objects and for other people's objects alike.

    What is missing stays in the exception (for the log); people read one text.
    """

    status = 404

    def __init__(self, detail: str = "") -> None:
        super().__init__("not_found", gettext("Not found."))
        self.detail = detail


def parse_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise NotFound("No such object.") from None


def conversation_for(
    user, conversation_id: Any, *, lock: bool = False, annotate: dict | None = None
) -> Conversation:
    """`annotate`: expressions read in the same query (a turn start asks for several)."""
    queryset = Conversation.objects.for_user(user)
    if lock:
        queryset = queryset.select_for_update()
    if annotate:
        queryset = queryset.annotate(**annotate)
    try:
        return queryset.get(pk=parse_uuid(conversation_id))
    except Conversation.DoesNotExist:
        raise NotFound("No such conversation.") from None


def message_for(user, message_id: Any) -> Message:
    queryset = Message.objects.for_user(user).select_related("conversation")
    try:
        return queryset.get(pk=parse_uuid(message_id))
    except Message.DoesNotExist:
        raise NotFound("No such message.") from None


def persona_usable_by(user, persona_id: Any) -> Persona:
    queryset = Persona.objects.visible_to(user).select_related("model__provider")
    try:
        return queryset.get(pk=parse_uuid(persona_id))
    except Persona.DoesNotExist:
        raise NotFound("No such persona.") from None


def persona_editable_by(user, persona_id: Any) -> Persona:
    """The owner's persona, or any persona for staff allowed to change personas."""
    queryset = Persona.objects.editable_by(user).select_related("model__provider", "owner")
    try:
        return queryset.get(pk=parse_uuid(persona_id))
    except Persona.DoesNotExist:
        raise NotFound("No such persona.") from None


def persona_avatar_for(user, persona_id: Any) -> Persona:
    """A persona whose avatar the user may load: one they can use, or any for
    staff who may view personas in the admin."""
    queryset = Persona.objects.visible_to(user)
    if user.has_perm("conversations.view_persona"):
        queryset = Persona.objects.all()
    try:
        return queryset.get(pk=parse_uuid(persona_id))
    except Persona.DoesNotExist:
        raise NotFound("No such persona.") from None


def model_usable_by(user, model_pk: Any, kinds: tuple[str, ...] = ("chat",)) -> ModelConfig:
    try:
        pk = int(model_pk)
        usable = ModelConfig.objects.usable_by(user, kinds)
        return usable.select_related("provider").get(pk=pk)
    except (TypeError, ValueError, ModelConfig.DoesNotExist):
        raise NotFound("No such model.") from None


def team_for(user, team_id: Any) -> Team:
    """A team the user belongs to; anyone else's team is NotFound (staff included:
    global staff govern teams in the admin)."""
    queryset = Team.objects.for_user(user).select_related("group")
    try:
        return queryset.get(pk=parse_uuid(team_id))
    except Team.DoesNotExist:
        raise NotFound("No such team.") from None
