"""POST /api/tokens/count: prompt tokens of the next request, for the context gauge."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from conversations import access, tokens
from conversations.models import ModelConfig
from conversations.models.providers import default_model_for
from conversations.tokens import ContextError
from conversations.turn import resolve
from conversations.turn.prompt import BranchRow, build_prompt, stored_branch
from conversations.views.api.common import BadInput, json_body, json_endpoint

COUNT_BODY_MAX = 2 * 1024 * 1024
COUNT_MESSAGES_MAX = 1000
ROLES = {"system", "developer", "user", "assistant"}


@require_POST
@json_endpoint
def count_tokens(request: HttpRequest) -> JsonResponse:
    """Prompt tokens the next request would use, for the composer's context gauge.

    Body: {"model": pk, "messages": [{"role", "content"}, ...]}, or
    {"conversation_id": id, "draft": text, "model": pk?} to count the real next prompt
    (then also "omitted": earlier messages left out to fit, and "fits": false with
    "message" when the send would be refused).
    """
    data = json_body(request, COUNT_BODY_MAX)
    model = _model(request.user, data.get("model"))
    window = {"context_window": model.context_window, "max_output_tokens": model.max_output_tokens}
    if data.get("conversation_id") is not None:
        return JsonResponse(_count_conversation(request.user, data, model) | window)
    count = tokens.count_messages(_messages(data.get("messages")), model.model_id)
    return JsonResponse(
        {"prompt_tokens": count.tokens, "exact": count.exact, "encoding": count.encoding} | window
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
            raise BadInput(
                _("Each message needs a role (system, developer, user, assistant) and content.")
            )
        if message.get("name") is not None and not tokens.is_valid_name(message["name"]):
            raise BadInput(_("A message name is 1 to 64 letters, digits, underscores or hyphens."))
    # A name is part of the prompt the API counts.
    return [{k: m[k] for k in ("role", "content", "name") if m.get(k) is not None} for m in raw]


def _count_conversation(user, data: dict, model: ModelConfig) -> dict:
    """The prompt the next send would really make: older messages that do not fit
    beside the answer's reserve are left out, as the turn leaves them out."""
    conversation = access.conversation_for(user, data["conversation_id"])
    draft = data.get("draft") or ""
    if not isinstance(draft, str) or len(draft) > settings.CHATSITE_MAX_MESSAGE_CHARS:
        raise BadInput(_("draft must be text within the message size limit."))
    persona = conversation.persona
    branch = stored_branch(conversation, conversation.current_leaf_id)
    if draft:
        branch.append(BranchRow(None, "user", draft, None, ""))
    encoding = tokens.encoding_name(model.model_id)
    try:
        effective = resolve.effective_params(model, persona, conversation.param_overrides)
        prompt, _uncached = build_prompt(branch, model, persona, effective)
    except ContextError as refused:
        # The send would be refused: show what it needs against what is available.
        count = {"prompt_tokens": refused.needed, "exact": encoding != "estimate"}
        return count | {
            "encoding": encoding,
            "fits": False,
            "omitted": 0,
            "message": refused.message,
        }
    count = {"prompt_tokens": prompt.prompt_tokens, "exact": prompt.exact, "encoding": encoding}
    return count | {"fits": True, "omitted": prompt.omitted}
