"""Completion documents' pages: a prompt editor, the parameters and the continuations.

The page speaks the chat socket (a ``complete`` frame starts a turn, see
docs/protocol.md); everything it needs to start comes in the boot data.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import get_script_prefix, reverse

from conversations import access, params
from conversations.models import ModelConfig, Persona
from conversations.routing import CHAT_SOCKET
from conversations.views.api.conversations import thread

URL_ID = "00000000-0000-0000-0000-000000000000"


def new_document(request: HttpRequest) -> HttpResponse:
    return _document_page(request, None)


def document_page(request: HttpRequest, conversation_id) -> HttpResponse:
    conversation = access.conversation_for(request.user, conversation_id)
    if conversation.mode != "completion":
        return redirect("conversation", conversation_id=conversation.pk)
    return _document_page(request, conversation)


def _document_page(request: HttpRequest, conversation) -> HttpResponse:
    usable = ModelConfig.objects.completions_usable_by(request.user).select_related("provider")
    models = list(usable.order_by("pk"))
    chosen = request.GET.get("model")
    boot = {
        "models": [_model_data(m) for m in models],
        "model": int(chosen) if chosen and chosen.isdigit() else None,
        "personas": _personas(request.user),
        "rules": params.describe_completion(),
        "thread": thread(conversation) if conversation else None,
        "urls": {
            "socket": get_script_prefix() + CHAT_SOCKET,
            "document": reverse("document", args=[URL_ID]),
            "id": URL_ID,
        },
    }
    context = {"boot": boot, "conversation": conversation, "has_model": bool(models)}
    return render(request, "conversations/document.html", context)


def _model_data(model: ModelConfig) -> dict:
    return {
        "id": model.pk,
        "name": str(model),
        "context_window": model.context_window,
        "rules": params.describe_completion(model.limits),
    }


def _personas(user) -> list[dict]:
    personas = Persona.objects.visible_to(user).filter(model__kind=ModelConfig.Kind.COMPLETION)
    return [
        {
            "id": str(p.id),
            "name": p.name,
            "model": p.model_id,
            "template": p.prompt_template,
            "defaults": p.default_params,
            "overridable": p.changeable_params,
        }
        for p in personas.select_related("model").order_by("name")
    ]
