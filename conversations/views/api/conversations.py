"""The sidebar and thread endpoints: list, search, open, rename, pin, archive, delete.

Every object comes through conversations.access, so another user's id answers
404 exactly like a missing one.
"""

import base64
import json
import uuid
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from conversations import access, flags, frames, json_input
from conversations.llm.text import clean_text
from conversations.models import Conversation, Message
from conversations.models.chats import TITLE_LENGTH_MAX
from conversations.turn import conversation_group
from conversations.views.api.common import BadInput, json_body, json_endpoint

PAGE_SIZE = 50
SEARCH_LENGTH_MAX = 200
PATCH_BODY_MAX = 16 * 1024


@require_GET
@json_endpoint
def conversation_list(request: HttpRequest) -> JsonResponse:
    """?q=words&archived=1&cursor=… → {"items": [...], "next": cursor or null}."""
    conversations = Conversation.objects.for_user(request.user).for_sidebar(
        archived=request.GET.get("archived") == "1"
    )
    query = clean_text(request.GET.get("q", "")).strip()[:SEARCH_LENGTH_MAX]
    if query:
        conversations = conversations.matching(query)
    conversations = _after_cursor(conversations, request.GET.get("cursor"))
    return JsonResponse(sidebar_page(conversations))


def sidebar_page(conversations) -> dict:
    rows = list(conversations.select_related("persona")[: PAGE_SIZE + 1])
    items = [c.to_dict() for c in rows[:PAGE_SIZE]]
    more = len(rows) > PAGE_SIZE
    return {"items": items, "next": _cursor(rows[PAGE_SIZE - 1]) if more else None}


def _cursor(conversation: Conversation) -> str:
    raw = json.dumps([conversation.pinned, conversation.updated.isoformat(), str(conversation.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after_cursor(conversations, cursor: str | None):
    if not cursor:
        return conversations
    try:
        return conversations.after(*_parse_cursor(cursor))
    except (ValueError, TypeError, OverflowError):
        raise BadInput(_("The cursor is not valid.")) from None


def _parse_cursor(cursor: str) -> tuple[bool, datetime, uuid.UUID]:
    """The (pinned, updated, id) that ``_cursor`` wrote; anything else is refused
    here, before it can reach a query."""
    raw = json_input.loads(base64.urlsafe_b64decode(cursor.encode()), depth_max=1)
    if not isinstance(raw, list) or len(raw) != 3:
        raise ValueError("a cursor is a list of three")
    pinned, updated, pk = raw
    if not isinstance(pinned, bool) or not isinstance(updated, str) or not isinstance(pk, str):
        raise TypeError("a cursor holds a flag, a time and an id")
    updated = datetime.fromisoformat(updated)
    if updated.tzinfo is None:
        raise ValueError("a cursor's time has its offset")
    return pinned, updated.astimezone(UTC), uuid.UUID(pk)


@require_http_methods(["GET", "PATCH", "DELETE"])
@json_endpoint
def conversation_detail(request: HttpRequest, conversation_id) -> HttpResponse:
    conversation = access.conversation_for(request.user, conversation_id)
    if request.method == "PATCH":
        conversation = _change(conversation, json_body(request, PATCH_BODY_MAX), user=request.user)
    elif request.method == "DELETE":
        flags.check_owner_delete(conversation=conversation, owner=request.user)
        _delete(conversation)
        return HttpResponse(status=204)
    return JsonResponse(thread(conversation))


def thread(conversation: Conversation) -> dict:
    """The conversation and all its messages (every branch), oldest first."""
    messages = conversation.messages.order_by("created", "id").as_dicts()
    return {"conversation": conversation.to_dict(), "messages": messages}


EDITABLE = {"title": str, "pinned": bool, "archived": bool, "flagged": bool, "current_leaf": str}


def _change(conversation: Conversation, changes: dict, *, user) -> Conversation:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise BadInput(_("These fields cannot be changed: %s") % ", ".join(sorted(unknown)))
    for name, value in changes.items():
        if not isinstance(value, EDITABLE[name]):
            raise BadInput(_("%s has the wrong type.") % name)
    if "flagged" in changes:  # a refused unflag is recorded, and nothing of the body applies
        flags.check_owner_change(conversation=conversation, owner=user, flagged=changes["flagged"])
    with transaction.atomic():
        # Read again under a lock: staff may be flagging it, or a turn moving its leaf.
        conversation = access.conversation_for(user, conversation.pk, lock=True)
        fields = set()
        if "flagged" in changes:
            flags.change_by_owner(conversation=conversation, owner=user, flagged=changes["flagged"])
            fields |= {"flagged", "flag_reason", "flagged_by", "flagged_at"}
        if "title" in changes:
            conversation.title = clean_text(changes["title"]).strip()[:TITLE_LENGTH_MAX]
            fields.add("title")
        for flag in ("pinned", "archived"):
            if flag in changes:
                setattr(conversation, flag, changes[flag])
                fields.add(flag)
        if "current_leaf" in changes:
            conversation.current_leaf = _message_in(conversation, changes["current_leaf"])
            fields.add("current_leaf")
        if fields:
            conversation.save(update_fields=sorted(fields))
    announce_conversation(conversation)
    return conversation


def _message_in(conversation: Conversation, message_id: str) -> Message:
    message = conversation.messages.filter(pk=access.parse_uuid(message_id)).first()
    if message is None:
        raise access.NotFound("No such message.")
    return message


def _delete(conversation: Conversation) -> None:
    """Stop a running answer first, so its worker does not keep the upstream busy."""
    layer = get_channel_layer()
    for message in conversation.messages.filter(status=Message.Status.STREAMING):
        if message.worker:
            stop = {"type": "turn.stop", "message_id": str(message.id)}
            async_to_sync(layer.send)(message.worker, stop)
    conversation.delete()


def announce_conversation(conversation: Conversation) -> None:
    """Tell the user's other tabs on this conversation that it changed."""
    frame = {"type": "conversation", "conversation": conversation.to_dict()}
    event = {"type": "chat.announce", "text": frames.encode(frame), "worker": ""}
    async_to_sync(get_channel_layer().group_send)(conversation_group(conversation.id), event)
