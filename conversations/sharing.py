"""Read-only sharing: with one of the owner's teams, or by a secret link.

Who may read a shared conversation is decided here and only here:
- a team share opens it to the signed-in members of that team, while its
  owner still belongs to the team;
- a link share opens it to anyone signed in who holds the link's token
  (256 random bits; only its hash is stored). A new link replaces the old.
Everything else answers NotFound, exactly like a conversation that does not
exist. Every share and revocation is written to the audit log.
"""

from django.contrib.auth.models import Group
from django.db import transaction

from conversations import access, audit, images
from conversations.models import AuditEntry, Conversation, Share
from conversations.models.sharing import hash_share_token, new_share_token


def team_of(owner, team_id) -> Group:
    """One of the owner's own teams (never another one)."""
    try:
        return owner.groups.get(pk=int(team_id))
    except (TypeError, ValueError, Group.DoesNotExist):
        raise access.NotFound("No such team.") from None


@transaction.atomic
def share_with_team(*, actor, conversation: Conversation, team: Group) -> Share:
    share, _created = Share.objects.get_or_create(
        conversation=conversation, team=team, defaults={"created_by": actor}
    )
    audit.append(
        AuditEntry.Action.SHARE,
        actor=actor,
        conversation=conversation,
        details={"op": "team", "team": team.name},
    )
    return share


@transaction.atomic
def share_by_link(*, actor, conversation: Conversation) -> str:
    """A new link (its token, shown once); any earlier link stops working."""
    Share.objects.filter(conversation=conversation, team=None).delete()
    token = new_share_token()
    Share.objects.create(
        conversation=conversation, token_hash=hash_share_token(token), created_by=actor
    )
    audit.append(
        AuditEntry.Action.SHARE, actor=actor, conversation=conversation, details={"op": "link"}
    )
    return token


@transaction.atomic
def revoke(*, actor, conversation: Conversation, share_id) -> None:
    share = _share_of(conversation, share_id)
    what = {"team": share.team.name} if share.team_id else {"link": True}
    share.delete()
    audit.append(
        AuditEntry.Action.SHARE,
        actor=actor,
        conversation=conversation,
        details={"op": "revoke", **what},
    )


def _share_of(conversation: Conversation, share_id) -> Share:
    try:
        return conversation.shares.select_related("team").get(pk=access.parse_uuid(share_id))
    except Share.DoesNotExist:
        raise access.NotFound("No such share.") from None


def shared_with_member(user, conversation_id) -> Conversation:
    """A conversation shared with one of the user's teams, or NotFound."""
    shares = Share.objects.for_member(user).filter(
        conversation_id=access.parse_uuid(conversation_id)
    )
    share = shares.select_related("conversation__owner").first()
    if share is None:
        raise access.NotFound("No such shared conversation.")
    return share.conversation


def shared_by_link(token: str) -> Conversation:
    share = (
        Share.objects.filter(token_hash=hash_share_token(str(token)))
        .select_related("conversation__owner")
        .first()
    )
    if share is None:
        raise access.NotFound("No such link.")
    return share.conversation


def shared_with_teams_of(user) -> list[Conversation]:
    """Other people's conversations shared with the user's teams, newest first."""
    ids = Share.objects.for_member(user).values("conversation_id")
    queryset = Conversation.objects.filter(pk__in=ids).exclude(owner=user)
    return list(queryset.select_related("owner").order_by("-updated")[:500])


def readable_messages(conversation: Conversation) -> list[dict]:
    """The current branch as a shared page shows it: no system messages (a
    prompt is never shown), no reasoning, no parameters. Generated images come
    inline (data: URIs): the page's own access check is theirs too."""
    branch = [message for message in conversation.active_branch() if message.role != "system"]
    shown = images.for_review(branch)
    return [
        {
            "role": message.role,
            "content": message.content,
            "model": message.model_name,
            "status": message.status,
            "images": [source for source in shown.get(message.id, []) if source],
        }
        for message in branch
    ]
