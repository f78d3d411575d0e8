"""Conversations and their messages: a tree whose active branch is the thread."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.ids import uuid7
from conversations.models.images import attach_urls
from conversations.models.personas import avatar_url_for

TITLE_LENGTH_MAX = 200
CLIENT_ID_LENGTH_MAX = 64


class ConversationQuerySet(models.QuerySet):
    def for_user(self, user) -> "ConversationQuerySet":
        return self.filter(owner=user)

    def for_sidebar(self, *, archived: bool = False) -> "ConversationQuerySet":
        """Pinned first, then by recency: the order the index conversation_sidebar serves."""
        return self.filter(archived=archived).order_by("-pinned", "-updated", "-id")

    def matching(self, query: str) -> "ConversationQuerySet":
        """Conversations whose title or any message contains the words."""
        in_messages = Message.objects.filter(conversation=OuterRef("pk"), content__icontains=query)
        return self.filter(Q(title__icontains=query) | Exists(in_messages))

    def after(self, pinned: bool, updated, pk) -> "ConversationQuerySet":
        """The page that follows the item (pinned, updated, pk) in sidebar order."""
        return self.filter(
            Q(pinned__lt=pinned)
            | Q(pinned=pinned, updated__lt=updated)
            | Q(pinned=pinned, updated=updated, id__lt=pk)
        )

    def under_review_policy(self, policy: str) -> "ConversationQuerySet":
        """Conversations whose text the site-wide review policy opens to reviewers."""
        if policy == "full":
            return self.all()
        if policy == "flagged":
            return self.filter(flagged=True)
        return self.none()

    def with_message_totals(self) -> list["Conversation"]:
        """The rows, each with message_count, total_tokens and cost (one more query)."""
        return add_message_totals(list(self))

    def with_review_names(self) -> "ConversationQuerySet":
        """Owner, persona and model names and the last answer's status, by joins:
        the review list needs no query per row and no whole related rows."""
        return self.annotate(
            owner_username=F("owner__username"),
            persona_name=F("persona__name"),
            model_label=Coalesce(NullIf("model__display_name", Value("")), "model__model_id"),
            leaf_status=F("current_leaf__status"),
        )


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(_("title"), max_length=TITLE_LENGTH_MAX, blank=True)
    persona = models.ForeignKey(
        "conversations.Persona", null=True, blank=True, on_delete=models.SET_NULL
    )
    model = models.ForeignKey(
        "conversations.ModelConfig", null=True, blank=True, on_delete=models.SET_NULL
    )
    param_overrides = models.JSONField(_("parameter overrides"), default=dict, blank=True)
    pinned = models.BooleanField(_("pinned"), default=False)
    archived = models.BooleanField(_("archived"), default=False)
    # Flagged for review: under the "flagged only" policy, staff may read it.
    flagged = models.BooleanField(_("flagged for review"), default=False)
    flag_reason = models.CharField(_("reason for flagging"), max_length=500, blank=True)
    # Who set the flag in force and when: a flag staff set only staff can clear.
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("flagged by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    flagged_at = models.DateTimeField(_("flagged at"), null=True, blank=True)
    # The tip of the branch the user is looking at; siblings switch it.
    current_leaf = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The client_id of the send that started it, so a resent first message
    # does not start a second conversation.
    client_id = models.CharField(max_length=CLIENT_ID_LENGTH_MAX, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    # Where an imported conversation came from ("chatgpt", "chatsite") and its
    # id there: importing the same file again finds it instead of a copy.
    import_source = models.CharField(_("imported from"), max_length=20, blank=True)
    import_id = models.CharField(max_length=200, blank=True)
    # Who set a flag that no person set: "moderation" (conversations.moderation).
    flag_source = models.CharField(_("flag source"), max_length=20, blank=True)
    # A completion document: the user writes a prompt and a completion model
    # continues it (conversations/turn/completion.py); a chat otherwise.
    mode = models.CharField(
        _("mode"),
        max_length=12,
        choices=[("chat", _("chat")), ("completion", _("completion document"))],
        default="chat",
    )

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        permissions = [
            ("review_conversation", _("Can read other people's conversations (review policy)")),
            ("export_conversation", _("Can export conversations (review policy)")),
        ]
        indexes = [
            models.Index(
                fields=["owner", "archived", "-pinned", "-updated"], name="conversation_sidebar"
            ),
            # The review list: newest activity first, ties broken by id.
            models.Index(fields=["-updated", "-id"], name="conversation_recent"),
            models.Index(
                fields=["-updated", "-id"], condition=Q(flagged=True), name="conversation_flagged"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "client_id"],
                condition=~Q(client_id=""),
                name="unique_conversation_client_id",
            ),
            models.UniqueConstraint(
                fields=["owner", "import_source", "import_id"],
                condition=~Q(import_source=""),
                name="unique_conversation_import",
            ),
        ]

    def __str__(self) -> str:
        return self.title or str(_("New chat"))

    @property
    def flagged_by_staff(self) -> bool:
        """Flagged by someone other than the owner. A flag from before flags kept
        who set them counts as staff's when it has a reason (only the admin asks one)."""
        if not self.flagged:
            return False
        if self.flagged_by_id is not None:
            return self.flagged_by_id != self.owner_id
        return bool(self.flag_reason)

    @property
    def system_flag(self) -> str:
        """What set the flag in force when no person did ("moderation"), else ""; a flag
        staff set over it since is theirs (``flag_source`` is left as it was)."""
        if self.flagged and self.flagged_by_id is None:
            return self.flag_source
        return ""

    def to_dict(self) -> dict:
        persona = self.persona
        return {
            "id": str(self.id),
            "title": self.title,
            "pinned": self.pinned,
            "archived": self.archived,
            "flagged": self.flagged,
            "flagged_by_staff": self.flagged_by_staff,
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
            "mode": self.mode,
            "persona": (
                {"id": str(persona.id), "name": persona.name, "avatar": persona.avatar}
                if persona
                else None
            ),
            "model": self.model_id,
            "current_leaf": str(self.current_leaf_id) if self.current_leaf_id else None,
            "params": self.param_overrides,
            "imported": self.import_source or None,
            "flag_source": self.system_flag or None,  # "moderation": the system flagged it
        }

    def active_branch(self) -> list["Message"]:
        """Messages from the root to the current leaf, oldest first."""
        if self.current_leaf_id is None:
            return []
        by_id = {m.id: m for m in self.messages.all()}
        branch, node = [], by_id.get(self.current_leaf_id)
        while node is not None:
            branch.append(node)
            node = by_id.get(node.parent_id)
        branch.reverse()
        return branch


_MONEY = DecimalField(max_digits=20, decimal_places=6)


def add_message_totals(conversations: list[Conversation]) -> list[Conversation]:
    """Set message_count, total_tokens and cost on each conversation, in one query."""
    totals = Message.objects.totals_by_conversation([c.pk for c in conversations])
    for conversation in conversations:
        found = totals.get(conversation.pk, {})
        conversation.message_count = found.get("message_count", 0)
        conversation.total_tokens = found.get("total_tokens") or 0
        conversation.cost = found.get("cost") or Decimal(0)
    return conversations


def _message_tokens():
    return Coalesce("prompt_tokens", 0) + Coalesce("completion_tokens", 0)


def _message_cost():
    prompt = Coalesce("prompt_tokens", 0) * Coalesce("model__price_input_per_million", Value(0))
    completion = Coalesce("completion_tokens", 0) * Coalesce(
        "model__price_output_per_million", Value(0)
    )
    # Times a millionth rather than divided by a million: SQLite divides integers as integers.
    return models.ExpressionWrapper(
        (prompt + completion) * Value(Decimal("0.000001")), output_field=_MONEY
    )


def stale_cutoff(stale_after: float | None = None):
    """Heartbeats older than this are a dead worker's (CHATSITE_STALE_AFTER seconds ago)."""
    seconds = settings.CHATSITE_STALE_AFTER if stale_after is None else stale_after
    return timezone.now() - timedelta(seconds=seconds)


class MessageQuerySet(models.QuerySet):
    def for_user(self, user) -> "MessageQuerySet":
        return self.filter(conversation__owner=user)

    def streaming(self) -> "MessageQuerySet":
        return self.filter(status=Message.Status.STREAMING)

    def orphaned(self, stale_after: float | None = None) -> "MessageQuerySet":
        """Answers still `streaming` whose worker stopped heart-beating: the stale rule."""
        cutoff = stale_cutoff(stale_after)
        return self.streaming().filter(Q(heartbeat__isnull=True) | Q(heartbeat__lt=cutoff))

    def as_dicts(self) -> list[dict]:
        """Message.to_dict for many rows, without building model instances.

        A conversation page embeds every message of the tree; reading plain
        rows is about three times faster than instantiating 1,000 models.
        """
        return attach_urls([message_dict(row) for row in self.values(*MESSAGE_COLUMNS)])

    def totals_by_conversation(self, conversation_ids) -> dict:
        """{conversation id: {"message_count", "total_tokens", "cost"}} in one query.

        For a page of the review list: computed after paging, so deep pages do
        not pay for the rows they skip.
        """
        rows = (
            self.filter(conversation_id__in=conversation_ids)
            .order_by()
            .values("conversation_id")
            .annotate(message_count=Count("pk"), total_tokens=Sum(_message_tokens()))
            .annotate(cost=Sum(_message_cost()))
        )
        return {row.pop("conversation_id"): row for row in rows}


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system", _("system")
        USER = "user", _("user")
        ASSISTANT = "assistant", _("assistant")

    class Status(models.TextChoices):
        SENT = "sent", _("sent")
        STREAMING = "streaming", _("streaming")
        COMPLETE = "complete", _("complete")
        TRUNCATED = "truncated", _("truncated")
        FILTERED = "filtered", _("filtered")
        STOPPED = "stopped", _("stopped")
        INTERRUPTED = "interrupted", _("interrupted")
        ERROR = "error", _("error")
        MODERATED = "moderated", _("moderated")

    TERMINAL = frozenset(
        {
            Status.COMPLETE,
            Status.TRUNCATED,
            Status.FILTERED,
            Status.STOPPED,
            Status.INTERRUPTED,
            Status.ERROR,
            Status.MODERATED,
        }
    )

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SENT)
    finish_reason = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # What produced an assistant message: model, persona version, parameters.
    model = models.ForeignKey(
        "conversations.ModelConfig", null=True, blank=True, on_delete=models.SET_NULL
    )
    model_name = models.CharField(max_length=200, blank=True)
    persona_version = models.ForeignKey(
        "conversations.PersonaVersion", null=True, blank=True, on_delete=models.SET_NULL
    )
    params = models.JSONField(default=dict, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    usage_estimated = models.BooleanField(default=False)
    # What a reasoning model thought before answering: shown apart, never sent
    # back in later prompts. Its tokens are part of completion_tokens.
    reasoning = models.TextField(blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_ms = models.PositiveIntegerField(
        _("time spent reasoning (ms)"), null=True, blank=True
    )
    # This message's own content, counted once with the named encoding, so that
    # building a context does not re-encode the whole history every turn.
    content_tokens = models.PositiveIntegerField(null=True, blank=True)
    content_tokens_encoding = models.CharField(max_length=40, blank=True)
    ttft_ms = models.PositiveIntegerField(_("time to first token (ms)"), null=True, blank=True)
    # Shown with the answer, e.g. that a fallback model wrote it (budget used up).
    notice = models.CharField(max_length=300, blank=True)
    client_id = models.CharField(max_length=CLIENT_ID_LENGTH_MAX, blank=True)
    # While streaming: the last delta included in `content`, the worker that
    # streams it, and when that worker last said it is alive (for the sweeper).
    stream_seq = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)
    # What the moderations endpoint said of it (conversations.moderation), else {}.
    moderation = models.JSONField(default=dict, blank=True)
    # A completion's per-token log probabilities as the API gave them
    # ([{"token", "logprob", "top": {token: logprob}, "offset"}]); None when not asked.
    logprobs = models.JSONField(null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            models.Index(fields=["conversation", "created"], name="message_thread_order"),
            models.Index(
                fields=["status"], condition=Q(status="streaming"), name="message_streaming"
            ),
            # The review list's status filter looks for the rare ones (error, stopped...).
            models.Index(
                fields=["status"],
                condition=~Q(status__in=["sent", "complete"]),
                name="message_unusual_status",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~Q(client_id=""),
                name="unique_message_client_id",
            ),
            models.CheckConstraint(
                condition=Q(role="user", status__in=["sent", "moderated"])
                | Q(role="system", status="sent")
                | (Q(role="assistant") & ~Q(status="sent")),
                name="message_status_fits_role",
            ),
            models.CheckConstraint(
                condition=Q(role="system") | Q(role="user") | Q(parent__isnull=False),
                name="assistant_message_has_parent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    def clean(self) -> None:
        if self.parent_id and self.parent.conversation_id != self.conversation_id:
            raise ValidationError({"parent": _("The parent belongs to another conversation.")})
        if self.parent_id and self.parent_id == self.id:
            raise ValidationError({"parent": _("A message cannot be its own parent.")})

    def has_live_worker(self) -> bool:
        """Whether a worker still runs this answer: the stale rule of orphaned(), for one row."""
        return self.heartbeat is not None and self.heartbeat >= stale_cutoff()

    def to_dict(self, *, content: str | None = None, seq: int | None = None) -> dict:
        """The message as the browser sees it (frames and page data).

        A live turn passes its in-memory text and sequence number, which may
        be ahead of what was last flushed to the row.
        """
        row = {column: getattr(self, column) for column in MESSAGE_COLUMNS if "__" not in column}
        version = self.persona_version
        if version is not None:
            row |= {
                "persona_version__persona_id": version.persona_id,
                "persona_version__name": version.name,
                "persona_version__version": version.version,
                "persona_version__persona__avatar": version.persona.avatar,
                "persona_version__persona__avatar_image": version.persona.avatar_image.name,
            }
        data = message_dict(row)
        # Images are stored as an answer ends: a streaming one (a turn's new rows) has none.
        if self.role == self.Role.ASSISTANT and self.status != self.Status.STREAMING:
            attach_urls([data])
        else:
            data["images"] = []
        if content is not None:
            data["content"] = content
        if seq is not None:
            data["seq"] = seq
        return data

    def siblings(self) -> MessageQuerySet:
        """This message and the others answering (or editing) the same parent."""
        return Message.objects.filter(
            conversation_id=self.conversation_id, parent_id=self.parent_id
        ).order_by("created", "id")


MESSAGE_COLUMNS = (
    "id", "conversation_id", "parent_id", "role", "content", "status", "finish_reason",
    "error_code", "error_message", "model_name", "params", "prompt_tokens",
    "completion_tokens", "usage_estimated", "ttft_ms", "stream_seq", "created",
    "reasoning", "reasoning_ms", "reasoning_tokens", "notice", "logprobs",
    "persona_version__persona_id", "persona_version__name", "persona_version__version",
    "persona_version__persona__avatar", "persona_version__persona__avatar_image",
    "moderation",
)  # fmt: skip


def message_dict(row: dict) -> dict:
    """The browser's view of a message, from a row of MESSAGE_COLUMNS."""
    return {
        "id": str(row["id"]),
        "conversation_id": str(row["conversation_id"]),
        "parent_id": str(row["parent_id"]) if row["parent_id"] else None,
        "role": row["role"],
        "content": row["content"],
        "status": row["status"],
        "finish_reason": row["finish_reason"],
        "error_code": row["error_code"],
        "error_message": row["error_message"],
        "model": row["model_name"],
        "persona": _persona_badge(row),
        "params": row["params"],
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "usage_estimated": row["usage_estimated"],
        "ttft_ms": row["ttft_ms"],
        "reasoning": row["reasoning"],
        "reasoning_ms": row["reasoning_ms"],
        "reasoning_tokens": row["reasoning_tokens"],
        "seq": row["stream_seq"],
        "notice": row["notice"],
        "created": row["created"].isoformat(),
        "moderation": row.get("moderation") or None,
        "logprobs": row["logprobs"],
    }


def _persona_badge(row: dict) -> dict | None:
    persona_id = row.get("persona_version__persona_id")
    if persona_id is None:
        return None
    return {
        "id": str(persona_id),
        "name": row["persona_version__name"],
        "avatar": row["persona_version__persona__avatar"],
        "avatar_url": avatar_url_for(persona_id, row["persona_version__persona__avatar_image"]),
        "version": row["persona_version__version"],
    }
