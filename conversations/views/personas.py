"""Persona pages: the gallery, create, edit, duplicate, delete, versions.

Everyone who can see a persona (``Persona.objects.visible_to``) may chat with
it and duplicate it; only its owner, or staff with the ``change_persona``
permission, may edit or delete it. Every id goes through ``access``: a
persona someone may not see answers 404, exactly like one that does not exist.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations import access, logit_bias, params, review, tokens
from conversations.forms.params import no_tokenizer_message
from conversations.forms.personas import CHANGE_ANY_PERSONA, PersonaForm
from conversations.llm.text import clean_text
from conversations.models import ModelConfig, Persona
from conversations.views.api.common import json_body, json_endpoint

PAGE_SIZE = 24
PREVIEW_BODY_MAX = 64 * 1024


@require_GET
def persona_list(request: HttpRequest) -> HttpResponse:
    scope = request.GET.get("scope", "all")
    query = clean_text(request.GET.get("q", "")).strip()
    personas = Persona.objects.visible_to(request.user).select_related("owner", "model")
    if scope == "mine":
        personas = personas.filter(owner=request.user)
    if query:
        personas = personas.filter(Q(name__icontains=query) | Q(description__icontains=query))
    page = Paginator(personas.order_by("name", "pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    _mark_editable(request.user, page.object_list)
    context = {
        "page": page,
        "scope": scope,
        "query": query,
        "policy_summary": review.policy_summary(),
    }
    return render(request, "personas/list.html", context)


def _mark_editable(user, personas) -> None:
    may_change_any = user.has_perm(CHANGE_ANY_PERSONA)
    for persona in personas:
        persona.can_edit = may_change_any or persona.owner_id == user.pk


@require_GET
def persona_detail(request: HttpRequest, persona_id) -> HttpResponse:
    persona = access.persona_usable_by(request.user, persona_id)
    _mark_editable(request.user, [persona])
    versions = persona.versions.select_related("model")
    return render(request, "personas/detail.html", {"persona": persona, "versions": versions})


@require_http_methods(["GET", "POST"])
def persona_create(request: HttpRequest) -> HttpResponse:
    form = PersonaForm(request.POST or None, request.FILES or None, user=request.user)
    form.instance.owner = request.user
    if request.method == "POST" and form.is_valid():
        persona = form.save()
        messages.success(request, _("Persona “%(name)s” created.") % {"name": persona.name})
        return redirect("persona_detail", persona_id=persona.pk)
    return render(request, "personas/form.html", {"form": form, "persona": None})


@require_http_methods(["GET", "POST"])
def persona_edit(request: HttpRequest, persona_id) -> HttpResponse:
    persona = access.persona_editable_by(request.user, persona_id)
    version = persona.version
    form = PersonaForm(
        request.POST or None, request.FILES or None, instance=persona, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        persona = form.save()
        messages.success(request, _saved_message(persona, version))
        return redirect("persona_detail", persona_id=persona.pk)
    return render(request, "personas/form.html", {"form": form, "persona": persona})


def _saved_message(persona: Persona, previous_version: int) -> str:
    if persona.version != previous_version:
        return _("Saved as version %(version)s.") % {"version": persona.version}
    return _("Saved. Nothing that shapes answers changed, so the version stays the same.")


@require_POST
def persona_duplicate(request: HttpRequest, persona_id) -> HttpResponse:
    original = access.persona_usable_by(request.user, persona_id)
    copy = original.duplicate_for(request.user)
    messages.success(request, _("This is your own copy. Only you can see it until you share it."))
    return redirect("persona_edit", persona_id=copy.pk)


@require_http_methods(["GET", "POST"])
def persona_delete(request: HttpRequest, persona_id) -> HttpResponse:
    persona = access.persona_editable_by(request.user, persona_id)
    if request.method == "POST":
        name = persona.name
        persona.delete()
        messages.success(request, _("Persona “%(name)s” deleted.") % {"name": name})
        return redirect("personas")
    conversations = persona.conversation_set.count()
    context = {"persona": persona, "conversations": conversations}
    return render(request, "personas/confirm_delete.html", context)


@require_POST
@json_endpoint
def logit_bias_preview(request: HttpRequest) -> JsonResponse:
    """The token ids of what is typed in a logit bias field, while typing.

    Body: {"text": "hello: -100, 50256: 5", "model": model pk or null}.
    """
    data = json_body(request, PREVIEW_BODY_MAX)
    model = _model_for_preview(request.user, data.get("model"))
    model_id = model.model_id if model else ""
    limits = model.limits if model else params.ModelLimits()
    try:
        entries = logit_bias.resolve(logit_bias.parse(str(data.get("text") or "")), model_id)
        params.validate_params({"logit_bias": logit_bias.to_param(entries)}, limits)
    except logit_bias.BiasSyntaxError as error:
        return JsonResponse({"error": str(error)})
    except tokens.EncodingUnavailable:
        return JsonResponse({"error": no_tokenizer_message(model_id)})
    except params.ParamsInvalid as error:
        return JsonResponse({"error": error.errors.get("logit_bias", str(error))})
    return JsonResponse({"entries": [_entry_json(entry) for entry in entries]})


def _model_for_preview(user, model_pk) -> ModelConfig | None:
    if model_pk in (None, ""):
        return None
    if user.has_perm(CHANGE_ANY_PERSONA) or user.has_perm("conversations.change_modelconfig"):
        found = ModelConfig.objects.filter(pk=_int(model_pk)).first()
        if found is None:
            raise access.NotFound("No such model.")
        return found
    return access.model_usable_by(user, model_pk)


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise access.NotFound("No such model.") from None


def _entry_json(entry: logit_bias.Entry) -> dict:
    return {
        "key": entry.key,
        "is_word": entry.is_word,
        "bias": entry.bias,
        "tokens": [{"id": t.id, "text": t.text} for t in entry.tokens],
    }
