"""Sharing pages: the owner's share settings, and the read-only shared views.

Who may see what is decided in conversations.sharing; these views only speak
HTTP. A shared view never shows a system prompt.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from conversations import access, sharing
from conversations.models import Conversation


@never_cache  # the page may show a new link, which must not sit in a cache
@require_http_methods(["GET", "POST"])
def share_page(request: HttpRequest, conversation_id) -> HttpResponse:
    conversation = access.conversation_for(request.user, conversation_id)
    new_link = None
    if request.method == "POST":
        op = request.POST.get("op")
        if op == "team":
            team = sharing.team_of(request.user, request.POST.get("team"))
            sharing.share_with_team(actor=request.user, conversation=conversation, team=team)
        elif op == "link":
            token = sharing.share_by_link(actor=request.user, conversation=conversation)
            new_link = request.build_absolute_uri(reverse("shared_link", args=[token]))
        elif op == "revoke":
            sharing.revoke(
                actor=request.user, conversation=conversation, share_id=request.POST.get("share")
            )
        if new_link is None:
            return redirect("share", conversation.pk)
    context = _share_context(request, conversation, new_link)
    return render(request, "portability/share.html", context)


def _share_context(request: HttpRequest, conversation: Conversation, new_link) -> dict:
    shares = list(conversation.shares.select_related("team").order_by("created"))
    shared_teams = {share.team_id for share in shares if share.team_id}
    return {
        "conversation": conversation,
        "shares": shares,
        "teams": [t for t in request.user.groups.order_by("name") if t.pk not in shared_teams],
        "new_link": new_link,
    }


@require_GET
def shared_list(request: HttpRequest) -> HttpResponse:
    conversations = sharing.shared_with_teams_of(request.user)
    return render(request, "portability/shared_list.html", {"conversations": conversations})


@require_GET
def shared_with_team(request: HttpRequest, conversation_id) -> HttpResponse:
    conversation = sharing.shared_with_member(request.user, conversation_id)
    return _read_only(request, conversation)


@require_GET
def shared_link(request: HttpRequest, token: str) -> HttpResponse:
    return _read_only(request, sharing.shared_by_link(token))


def _read_only(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    context = {
        "conversation": conversation,
        "messages_data": sharing.readable_messages(conversation),
    }
    response = render(request, "portability/shared.html", context)
    response["Referrer-Policy"] = "no-referrer"  # the link's token stays out of Referer
    response["Cache-Control"] = "private, no-store"
    return response
