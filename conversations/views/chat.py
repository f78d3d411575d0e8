"""The chat page: a new chat, or one conversation open. The page is one script;
everything it needs to start (and every URL it uses) comes in the boot data."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import get_script_prefix, reverse

from conversations import access, budgets, errors, params, readings
from conversations.models import Conversation, ModelConfig, Persona, Profile
from conversations.models.providers import default_model_for
from conversations.moderation import categories as moderation_categories
from conversations.routing import CHAT_SOCKET
from conversations.turn import resolve
from conversations.views.api.conversations import sidebar_page, thread

URL_ID = "00000000-0000-0000-0000-000000000000"


def home(request: HttpRequest) -> HttpResponse:
    """The chat page with no conversation open: a new chat."""
    return _chat_page(request, None)


def conversation_page(request: HttpRequest, conversation_id) -> HttpResponse:
    conversation = access.conversation_for(request.user, conversation_id)
    if conversation.mode == "completion":  # a completion document has its own page
        return redirect("document", conversation_id=conversation.pk)
    return _chat_page(request, conversation)


def _chat_page(request: HttpRequest, conversation: Conversation | None) -> HttpResponse:
    usable = ModelConfig.objects.usable_by(request.user, resolve.TURN_KINDS)  # chat and image
    models = list(usable.select_related("provider"))
    default = default_model_for(request.user)
    profile = Profile.for_user(request.user)
    boot = {
        "user": {"username": request.user.get_username(), "is_staff": request.user.is_staff},
        "models": [_model_data(m) for m in models],
        "default_model": _default_model_pk(profile, default, models),
        "personas": _personas(request.user),
        "default_persona": str(profile.default_persona_id) if profile.default_persona_id else None,
        "preselect_persona": request.GET.get("persona"),
        "sidebar": sidebar_page(Conversation.objects.for_user(request.user).for_sidebar()),
        "thread": thread(conversation) if conversation else None,
        "rules": params.describe(),
        "max_message_chars": settings.CHATSITE_MAX_MESSAGE_CHARS,
        "error_messages": errors.user_messages(),
        "moderation_categories": moderation_categories.names(),
        "urls": _urls(),
        "completion_models": _completion_models(request.user),
    }
    context = {"boot": boot, "conversation": conversation, "has_model": bool(models)}
    context["readings_notice"] = readings.notice_for(request.user)
    context["budget_warning"] = budgets.warning_for(request.user)  # 80 % of a budget used
    return render(request, "conversations/chat.html", context)


def _model_data(model: ModelConfig) -> dict:
    return {
        "id": model.pk,
        "name": str(model),
        "model_id": model.model_id,
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "defaults": model.default_params,
        "rules": params.describe(model.limits),
    } | _image_data(model)


def _image_data(model: ModelConfig) -> dict:
    """An image model's own rules (n, size, response_format) and kind, for the composer."""
    if model.kind != ModelConfig.Kind.IMAGE:
        return {"kind": model.kind}
    rules = params.describe_images(params.image_sizes(model.image_sizes))
    return {"kind": model.kind, "rules": rules, "defaults": {}}


def _default_model_pk(profile: Profile, default, models) -> int | None:
    usable = {m.pk for m in models}
    if profile.default_model_id in usable:
        return profile.default_model_id
    return default.pk if default else None


def _personas(user) -> list[dict]:
    personas = Persona.objects.visible_to(user).select_related("model").order_by("name")
    personas = personas.exclude(model__kind=ModelConfig.Kind.COMPLETION)  # a document's
    return [
        {
            "id": str(p.id),
            "name": p.name,
            "avatar": p.avatar,
            "description": p.description,
            "system_prompt": p.system_prompt,
            "model": p.model_id,
            "defaults": p.default_params,
            "overridable": p.changeable_params,
            "starters": p.starter_prompts,
        }
        for p in personas
    ]


def _urls() -> dict:
    """Every URL the page's script uses; it writes none itself. A URL for one
    conversation is a template holding ``URL_ID``, which the script replaces."""
    return {
        "socket": get_script_prefix() + CHAT_SOCKET,
        "conversations": reverse("conversation_list"),
        "conversation": reverse("conversation", args=[URL_ID]),
        "conversation_detail": reverse("conversation_detail", args=[URL_ID]),
        "id": URL_ID,
        "count": reverse("count_tokens"),
        "home": reverse("home"),
        "login": reverse("login"),
        "personas": reverse("personas"),
        "profile": reverse("profile_api"),
        "share": reverse("share", args=[URL_ID]),
        "export": reverse("export"),
    }


def _completion_models(user) -> list[dict]:
    """Completion models the user may open a document with (the picker lists them apart)."""
    models = ModelConfig.objects.completions_usable_by(user).select_related("provider")
    new = reverse("new_document")
    return [{"name": str(m), "url": f"{new}?model={m.pk}"} for m in models.order_by("pk")]
