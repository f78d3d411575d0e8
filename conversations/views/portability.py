"""Export and import pages: a person's own conversations out as an archive, and
files (chatsite's own, ChatGPT's) in."""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from conversations import audit, imports, user_export
from conversations.models import AuditEntry, Conversation

LISTED_MAX = 2000  # the selection list; "all" exports every conversation


@require_http_methods(["GET", "POST"])
def export_page(request: HttpRequest) -> HttpResponse:
    own = Conversation.objects.for_user(request.user)
    if request.method == "POST":
        chosen = own if request.POST.get("scope") == "all" else _selected(own, request.POST)
        if chosen.exists():
            _audit_export(request.user, chosen, scope=request.POST.get("scope") == "all")
            return user_export.archive_response(request, chosen)
        messages.error(request, _("Choose at least one conversation to export."))
    listed = own.order_by("-updated").values("id", "title", "updated", "import_source")
    context = {
        "conversations": listed[:LISTED_MAX],
        "preselected": request.GET.get("selected", ""),
    }
    return render(request, "portability/export.html", context)


def _selected(own, data):
    ids = []
    for value in data.getlist("ids"):
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue  # not an id: nothing of theirs is missed by skipping it
    return own.filter(pk__in=ids)


def _audit_export(user, chosen, *, scope: bool) -> None:
    details = {"op": "own", "scope": "all" if scope else "selected", "count": chosen.count()}
    audit.append(AuditEntry.Action.EXPORT, actor=user, details=details)


@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest) -> HttpResponse:
    context, status = {}, 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise imports.ImportRefused(_("Choose a file to import."))
            context["result"] = imports.import_file(owner=request.user, upload=upload)
        except imports.ImportRefused as refusal:
            context["error"], status = refusal.message, 400
    return render(request, "portability/import.html", context, status=status)
