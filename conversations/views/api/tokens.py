"""POST /api/tokens/count: prompt tokens of the next request, for the context gauge."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from conversations import access, tokens
from conversations.models import ModelConfig
from conversations.models.providers import default_model_for
from conversations.turn.prompt import system_messages
from conversations.views.api.common import BadInput, json_body, json_endpoint

COUNT_BODY_MAX = 2 * 1024 * 1024
COUNT_MESSAGES_MAX = 1000
ROLES = {"system", "user", "assistant"}


@require_POST
@json_endpoint
def count_tokens(request: HttpRequest) -> JsonResponse:
    """Prompt tokens the next request would use, for the composer's context gauge.

    Body: {"model": pk, "messages": [{"role", "content"}, ...]}, or
    {"conversation_id": id, "draft": text, "model": pk?} to count the real next prompt.
    """
    data = json_body(request, COUNT_BODY_MAX)
    model = _model(request.user, data.get("model"))
    if data.get("conversation_id") is not None:
        count = _count_conversation(request.user, data, model)
    else:
        count = tokens.count_messages(_messages(data.get("messages")), model.model_id)
    return JsonResponse(
        {
            "prompt_tokens": count.tokens,
            "exact": count.exact,
            "encoding": count.encoding,
            "context_window": model.context_window,
            "max_output_tokens": model.max_output_tokens,
        }
    )


def _model(user, model_pk) -> ModelConfig:
    if model_pk is not None:
        return access.model_usable_by(user, model_pk)
    model = default_model_for(user)
    if model is None:
        raise BadInput(_("No model is configured yet."), 409, "no_model")
    return model


def _messages(raw) -> list[dict]:
    if not isinstance(raw, list) or len(raw) > COUNT_MESSAGES_MAX:
        raise BadInput(_("messages must be a list of at most %s messages.") % COUNT_MESSAGES_MAX)
    for message in raw:
        if not (
            isinstance(message, dict)
            and message.get("role") in ROLES
            and isinstance(message.get("content"), str)
        ):
            raise BadInput(_("Each message needs a role (system, user, assistant) and content."))
    return [{"role": m["role"], "content": m["content"]} for m in raw]


def _count_conversation(user, data: dict, model: ModelConfig) -> tokens.TokenCount:
    conversation = access.conversation_for(user, data["conversation_id"])
    draft = data.get("draft") or ""
    if not isinstance(draft, str) or len(draft) > settings.CHATSITE_MAX_MESSAGE_CHARS:
        raise BadInput(_("draft must be text within the message size limit."))
    persona = conversation.persona
    system = tokens.count_messages(system_messages(persona), model.model_id)
    encoding = system.encoding
    total = system.tokens
    for message in conversation.active_branch():
        cached = message.content_tokens if message.content_tokens_encoding == encoding else None
        if cached is None:
            cached = tokens.count_text(message.content, model.model_id).tokens
        total += tokens.message_overhead(model.model_id, message.role) + cached
    if draft:
        total += tokens.message_overhead(model.model_id, "user")
        total += tokens.count_text(draft, model.model_id).tokens
    return tokens.TokenCount(total, system.exact, encoding)
