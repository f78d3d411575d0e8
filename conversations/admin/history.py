"""History review: the conversation list, the audited transcript, exports.

The list shows metadata to staff with "view conversation" under every policy.
Message text (the transcript, search in messages, exports) goes through
``conversations.review``: permission, site-wide policy, a reason (for the
transcript and exports of others' conversations), audit row first.
"""

from collections import defaultdict
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, Value
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.text import capfirst, smart_split, unescape_string_literal
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conversations import access, exports, flags, images, review
from conversations.admin.lists import (
    EstimatedCountPaginator,
    LastActivityFilter,
    OwnerFilter,
    PersonaNameFilter,
)
from conversations.admin.reasons import ExportReasonForm, ReadingReasonForm
from conversations.models import Conversation, Message
from conversations.models.chats import add_message_totals

INDENT_MAX = 6  # deeper branches share the last indentation step
SELECTIVE_MATCHES = 2000  # messages; fewer is a rare term, searched by ids


class TeamFilter(admin.SimpleListFilter):
    title = _("team")
    parameter_name = "team"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Group.objects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(owner__groups__pk=self.value())
        return queryset


class StatusFilter(admin.SimpleListFilter):
    """The status of the answer the conversation ends with."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label in Message.Status.choices if value != "sent"]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(current_leaf__status=self.value())
        return queryset


class ConversationReviewForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["flagged", "flag_reason"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("flagged") and not cleaned.get("flag_reason", "").strip():
            self.add_error(
                "flag_reason", gettext("Say why the conversation is flagged for review.")
            )
        return cleaned


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    form = ConversationReviewForm
    list_display = [
        "title_or_id",
        "owner_name",
        "persona_label",
        "model_label_column",
        "message_count_column",
        "tokens_column",
        "cost_column",
        "status_column",
        "flagged",
        "updated",
        "transcript_link",
    ]
    list_filter = [
        OwnerFilter,
        TeamFilter,
        PersonaNameFilter,
        "model",
        StatusFilter,
        "flagged",
        "archived",
        LastActivityFilter,
    ]
    ordering = ["-updated"]
    search_fields = ["title"]
    search_help_text = _(
        "Searches titles, and the text of the messages you may read under the review policy."
    )
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 50
    actions = ["export_jsonl", "export_markdown", "export_json"]
    readonly_fields = [
        "owner_name", "title", "persona_label", "model_label_column", "created", "updated",
        "message_count_column", "tokens_column", "cost_column", "status_column", "archived",
        "transcript_link", "flagged_by", "flagged_at", "flag_source",
    ]  # fmt: skip
    fieldsets = [
        (
            None,
            {"fields": ["title", "owner_name", "persona_label", "model_label_column", "archived"]},
        ),
        (
            _("Activity"),
            {
                "fields": [
                    "created",
                    "updated",
                    "message_count_column",
                    "tokens_column",
                    "cost_column",
                    "status_column",
                    "transcript_link",
                ]
            },
        ),
        (
            _("Review"),
            {
                "fields": ["flagged", "flag_reason", "flagged_by", "flagged_at", "flag_source"],
                # Read when the page renders: it tells the policy in force.
                "description": lazy(review.flagging_note, str)(),
            },
        ),
    ]

    class Media:
        css = {"all": ["css/admin-review.css"]}

    # --- Queries -------------------------------------------------------------------

    def get_queryset(self, request):
        policy = review.current_policy()
        scope = review.readable_text_scope(request.user, policy)
        readable = ExpressionWrapper(scope, output_field=BooleanField()) if scope else Value(True)
        return super().get_queryset(request).with_review_names().annotate(readable=readable)

    def get_changelist(self, request, **kwargs):
        return ReviewChangeList

    def get_object(self, request, object_id, from_field=None):
        found = super().get_object(request, object_id, from_field)
        return add_message_totals([found])[0] if found else None

    def get_search_results(self, request, queryset, search_term):
        """Titles always; message text only where the review policy opens it (audited)."""
        terms = [_term(bit) for bit in smart_split(search_term) if _term(bit)]
        if not terms:
            return queryset, False
        policy = review.current_policy()
        scope = review.readable_text_scope(request.user, policy)
        for term in terms:
            queryset = queryset.filter(Q(title__icontains=term) | (_in_messages(term) & scope))
        review.record_search(request.user, search_term, policy)
        return queryset, False

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "review_policy_summary": review.policy_summary()}
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request) -> bool:
        return False  # conversations come from chatting

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm(review.EXPORT_PERMISSION)

    # --- Columns -------------------------------------------------------------------

    @admin.display(description=_("title"), ordering="title")
    def title_or_id(self, conversation: Conversation) -> str:
        return conversation.title or gettext("Untitled %(id)s") % {"id": str(conversation.pk)[:8]}

    @admin.display(description=_("owner"), ordering="owner__username")
    def owner_name(self, conversation: Conversation) -> str:
        return conversation.owner_username

    @admin.display(description=_("persona"))
    def persona_label(self, conversation: Conversation) -> str:
        return conversation.persona_name or "—"

    @admin.display(description=_("model"))
    def model_label_column(self, conversation: Conversation) -> str:
        return conversation.model_label or "—"

    @admin.display(description=_("messages"))
    def message_count_column(self, conversation: Conversation) -> str:
        return number_format(conversation.message_count, force_grouping=True)

    @admin.display(description=_("tokens"))
    def tokens_column(self, conversation: Conversation) -> str:
        return number_format(conversation.total_tokens, force_grouping=True)

    @admin.display(description=_("cost"))
    def cost_column(self, conversation: Conversation) -> str:
        return number_format(conversation.cost, decimal_pos=4, force_grouping=True)

    @admin.display(description=_("status"))
    def status_column(self, conversation: Conversation) -> str:
        labels = dict(Message.Status.choices)
        return labels.get(conversation.leaf_status, "—") if conversation.leaf_status else "—"

    @admin.display(description=_("transcript"))
    def transcript_link(self, conversation: Conversation) -> str:
        url = reverse("admin:conversations_conversation_transcript", args=[conversation.pk])
        if conversation.readable:
            return format_html('<a href="{}">{}</a>', url, gettext("Read"))
        return format_html(
            '<span class="muted" title="{}">{}</span>', gettext("Closed by the review policy"), "—"
        )

    # --- Flagging ------------------------------------------------------------------

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        if {"flagged", "flag_reason"} & set(form.changed_data):
            # The change view runs in one transaction: the audit row and the save go together.
            was_flagged = bool(form.initial.get("flagged"))
            flags.change_by_staff(conversation=obj, staff=request.user, was_flagged=was_flagged)
            # Only the review fields: a full save would put back a leaf a turn moved,
            # or a pin the owner set, since the form was read.
            obj.save(update_fields=["flagged", "flag_reason", "flagged_by", "flagged_at"])

    def get_deleted_objects(self, objs, request):
        """A summary instead of every message: listing them would show their text."""
        conversations = list(objs)
        opts = self.model._meta
        summary = [format_html("{}: {}", capfirst(opts.verbose_name), c) for c in conversations]
        counts = {
            opts.verbose_name_plural: len(conversations),
            Message._meta.verbose_name_plural: Message.objects.filter(
                conversation__in=conversations
            ).count(),
        }
        denied = set() if self.has_delete_permission(request) else {opts.verbose_name}
        return summary, counts, denied, []

    # --- Transcript ----------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view(self.transcript_view)
        route = path(
            "<path:object_id>/transcript/", view, name="conversations_conversation_transcript"
        )
        return [route, *super().get_urls()]

    def transcript_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        conversation = _conversation_for_review(object_id)
        decision = review.open_transcript(request.user, conversation)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "conversation": conversation,
            "title": gettext("Transcript"),
            "policy_label": dict(review.Policy.choices)[review.current_policy()],
            "own": decision.reason == "own",
        }
        if not decision.allowed:
            context["refusal"] = decision.message
            template = "admin/conversations/conversation/transcript_refused.html"
            return TemplateResponse(request, template, context, status=403)
        if decision.reason != "own":
            form = ReadingReasonForm(request.POST if request.method == "POST" else None)
            if not form.is_valid():  # no text before a reason
                context["form"] = form
                template = "admin/conversations/conversation/transcript_reason.html"
                return TemplateResponse(request, template, context)
            context["purpose"] = form.cleaned_data["reason"]
            review.record_reading(request.user, conversation, purpose=context["purpose"])
        context["rows"] = rows = transcript_rows(conversation)
        shown = images.for_review([row.message for row in rows])  # generated images, inline
        for row in rows:
            row.message.review_images = shown.get(row.message.id, [])
        return TemplateResponse(
            request, "admin/conversations/conversation/transcript.html", context
        )

    # --- Exports -------------------------------------------------------------------

    @admin.action(description=_("Export as fine-tuning JSONL"), permissions=["export"])
    def export_jsonl(self, request, queryset):
        return self._export(request, queryset, "jsonl")

    @admin.action(description=_("Export as Markdown"), permissions=["export"])
    def export_markdown(self, request, queryset):
        return self._export(request, queryset, "markdown")

    @admin.action(description=_("Export as JSON"), permissions=["export"])
    def export_json(self, request, queryset):
        return self._export(request, queryset, "json")

    def _export(self, request, queryset, export_format: str):
        chosen = Conversation.objects.filter(pk__in=queryset.values("pk"))
        policy = review.current_policy()
        refused = review.refused_exports(request.user, chosen, policy)
        if refused:
            messages.error(request, _refused_export_message(refused, policy))
            return None
        purpose = ""
        if chosen.exclude(owner=request.user).exists():  # others' text: a reason first
            form = ExportReasonForm(request.POST if "reason" in request.POST else None)
            if not form.is_valid():
                return self._export_reason_page(request, form)
            purpose = form.cleaned_data["reason"]
        export_id = review.new_export_id()

        def record(conversations) -> None:
            review.record_export(
                request.user, conversations, policy=policy, export_format=export_format,
                export_id=export_id, purpose=purpose,
            )  # fmt: skip

        return exports.export_response(request, chosen, export_format, record)

    def _export_reason_page(self, request, form):
        """Asks why, then posts the same action and selection again with the reason."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Export other people's conversations"),
            "form": form,
            "action": request.POST.get("action", ""),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "index": request.POST.get("index", "0"),
        }
        template = "admin/conversations/conversation/export_reason.html"
        return TemplateResponse(request, template, context)


def _in_messages(term: str) -> Q:
    """Conversations with a message containing ``term``, in the form that is fast.

    A rare term (the usual search) is found through the trigram index and given
    as ids, so PostgreSQL can combine it with the title's index. A common term
    matches many conversations, and walking the newest first while checking
    each (EXISTS) finds a page of them at once.
    """
    matching = Message.objects.filter(content__icontains=term).order_by()
    found = list(matching.values_list("conversation_id", flat=True)[: SELECTIVE_MATCHES + 1])
    if len(found) <= SELECTIVE_MATCHES:
        return Q(pk__in=set(found))
    return Q(Exists(matching.filter(conversation=OuterRef("pk"))))


class ReviewChangeList(ChangeList):
    """Counts, tokens and cost for the rows of the page only, in one query."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = self.result_list.with_message_totals()


def _term(bit: str) -> str:
    if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
        bit = unescape_string_literal(bit)
    return bit.strip()


def _refused_export_message(refused: int, policy: str) -> str:
    labels = dict(review.Policy.choices)
    return gettext(
        "Nothing was exported: %(count)s of the chosen conversations belong to other people "
        "and may not be exported by you under the review policy (%(policy)s). Narrow the "
        "selection (e.g. filter by “flagged”) and try again."
    ) % {"count": refused, "policy": labels[policy]}


def _conversation_for_review(object_id) -> Conversation:
    queryset = Conversation.objects.with_review_names().select_related("owner", "persona", "model")
    found = queryset.filter(pk=access.parse_uuid(object_id)).with_message_totals()
    if not found:
        raise access.NotFound("No such conversation.")
    return found[0]


# --- The tree, flattened for reading ---------------------------------------------------


@dataclass
class Row:
    message: Message
    depth: int  # how many alternative branches in from the thread the user sees
    active: bool  # on the branch the user looks at
    position: int  # 1-based among its siblings
    siblings: int

    @property
    def indent(self) -> int:
        return min(self.depth, INDENT_MAX)

    @property
    def starts_branch(self) -> bool:
        return self.siblings > 1

    @property
    def reasoning_seconds(self) -> int | None:
        """How long a reasoning model thought before this answer, in whole seconds."""
        ms = self.message.reasoning_ms
        return None if ms is None else max(1, round(ms / 1000))


def transcript_rows(conversation: Conversation) -> list[Row]:
    """Every message, depth first: at each fork the other branches come first,
    indented, then the thread carries on. Iterative, so long threads are fine."""
    messages = list(
        conversation.messages.select_related("persona_version").order_by("created", "id")
    )
    children = defaultdict(list)
    for message in messages:
        children[message.parent_id].append(message)
    active = _active_ids(messages, conversation.current_leaf_id)
    rows: list[Row] = []
    stack = _pushed(children[None], 0, active)
    while stack:
        message, depth, position, siblings = stack.pop()
        on_thread = message.id in active
        rows.append(Row(message, depth, on_thread, position, siblings))
        stack += _pushed(children[message.id], depth, active)
    return rows


def _pushed(kids: list[Message], depth: int, active: set) -> list[tuple]:
    """Stack entries for a node's children: popped main child last (after the others)."""
    if not kids:
        return []
    main = next((k for k in kids if k.id in active), kids[-1])
    others = [k for k in kids if k is not main]
    total = len(kids)
    entries = [(main, depth, kids.index(main) + 1, total)]
    entries += [(k, depth + 1, kids.index(k) + 1, total) for k in reversed(others)]
    return entries


def _active_ids(messages: list[Message], leaf_id) -> set:
    by_id = {m.id: m for m in messages}
    active, node = set(), by_id.get(leaf_id)
    while node is not None:
        active.add(node.id)
        node = by_id.get(node.parent_id)
    return active
