"""Fine-tuning in the admin, training files: store, check, build, upload; a provider's files.

Permissions are Django's model permissions: ``view_trainingfile`` (see files,
list a provider's files, download their content), ``add_trainingfile``
(store, build and upload a file), ``delete_trainingfile`` (delete a file at
the provider). Jobs are in ``finetune_jobs``. Every change upstream is
audited by ``conversations.finetune.service``.
"""

import re
import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from conversations import review
from conversations.admin.finetune_common import PERM, allowed, say_failure
from conversations.admin.history import ConversationAdmin
from conversations.admin.reasons import REASON_LENGTH_MAX
from conversations.finetune import build, service
from conversations.llm import LLMError
from conversations.models import Conversation, ModelConfig, Provider, TrainingFile

# --- Training files ------------------------------------------------------------------


class TrainingFileForm(forms.ModelForm):
    file = forms.FileField(
        label=_("JSONL file"),
        help_text=_("One chat example per line. Checked here before anything is sent."),
    )

    class Meta:
        model = TrainingFile
        fields = ["provider", "base_model", "file"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.CHATSITE_FINETUNE_MAX_BYTES
        if upload.size > limit:
            message = gettext("The file is larger than the limit (%(limit)s MB).")
            raise forms.ValidationError(message % {"limit": limit // (1024 * 1024) or limit})
        return upload


@admin.register(TrainingFile)
class TrainingFileAdmin(admin.ModelAdmin):
    form = TrainingFileForm
    list_display = ["name", "provider", "examples", "total_tokens", "estimated_cost", "valid",
                    "upstream_id", "created_by", "created"]  # fmt: skip
    list_filter = ["provider", "valid"]
    list_select_related = ["provider", "created_by"]
    readonly_fields = ["name", "bytes", "examples", "total_tokens", "tokens_exact",
                       "estimated_cost", "valid", "report", "upstream_id", "uploaded_at",
                       "created_by", "created"]  # fmt: skip
    change_form_template = "admin/conversations/trainingfile/change_form.html"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["provider", "base_model", "file"]
        return ["provider", "base_model", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["provider", *self.readonly_fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        upload = form.cleaned_data["file"]
        stored = service.store_file(
            provider=obj.provider, source=upload, name=upload.name, user=request.user,
            base_model=obj.base_model,
        )  # fmt: skip
        obj.pk = stored.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj) -> None:
        service.forget_file(obj)

    def delete_queryset(self, request, queryset) -> None:
        for row in queryset:
            service.forget_file(row)

    @admin.display(description=_("what the check found"))
    def report(self, row: TrainingFile) -> str:
        found = row.problems or {}
        problems = found.get("problems") or []
        rows = format_html_join(
            "", "<li>{} {}</li>", ((_line_label(p["line"]), p["reason"]) for p in problems)
        ) if problems else ""  # fmt: skip
        counts = ", ".join(f"{line}: {count}" for line, count in found.get("line_tokens") or [])
        exact = "" if row.tokens_exact else gettext(" (estimated: no tokenizer for this model)")
        return format_html(
            "<p>{}</p><ul>{}</ul><p>{}{}</p><p>{}</p>",
            gettext("%(bad)s bad lines.") % {"bad": found.get("bad_lines", 0)},
            rows,
            gettext("Tokens per line (line: tokens): "),
            counts or "—",
            exact,
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/upload/", wrap(require_POST(self.upload_view)),
                 name="conversations_trainingfile_upload"),
            path("provider/<int:provider_id>/", wrap(self.provider_files_view),
                 name="conversations_trainingfile_provider_files"),
            path("provider/<int:provider_id>/<str:file_id>/", wrap(self.file_view),
                 name="conversations_trainingfile_provider_file"),
            path("provider/<int:provider_id>/<str:file_id>/content/", wrap(self.content_view),
                 name="conversations_trainingfile_content"),
            path("provider/<int:provider_id>/<str:file_id>/delete/",
                 wrap(require_POST(self.delete_upstream_view)),
                 name="conversations_trainingfile_delete_upstream"),
            path("build/", wrap(require_POST(self.build_view)),
                 name="conversations_trainingfile_build"),
            *super().get_urls(),
        ]  # fmt: skip

    def upload_view(self, request, pk):
        allowed(request, "add_trainingfile")
        row = get_object_or_404(TrainingFile.objects.select_related("provider"), pk=pk)
        try:
            service.upload(training_file=row, user=request.user)
        except (LLMError, service.FineTuneRefused) as error:
            say_failure(request, error)
        else:
            messages.success(request, gettext("Uploaded as %(id)s.") % {"id": row.upstream_id})
        return HttpResponseRedirect(reverse("admin:conversations_trainingfile_change", args=[pk]))

    def provider_files_view(self, request, provider_id):
        allowed(request, "view_trainingfile")
        provider = get_object_or_404(Provider, pk=provider_id)
        files, failure = [], None
        try:
            files = service.list_files(provider)
        except LLMError as error:
            failure = error.describe()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Files at %(provider)s") % {"provider": provider},
            "provider": provider,
            "files": files,
            "failure": failure,
            "can_delete": request.user.has_perm(PERM % "delete_trainingfile"),
        }
        return TemplateResponse(
            request, "admin/conversations/trainingfile/provider_files.html", context
        )

    def file_view(self, request, provider_id, file_id):
        allowed(request, "view_trainingfile")
        provider = get_object_or_404(Provider, pk=provider_id)
        try:
            found = service.retrieve_file(provider, file_id)
        except LLMError as error:
            say_failure(request, error)
            return HttpResponseRedirect(_files_url(provider))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("File %(id)s") % {"id": file_id},
            "provider": provider,
            "files": [found],
            "can_delete": request.user.has_perm(PERM % "delete_trainingfile"),
            "kept": TrainingFile.objects.filter(provider=provider, upstream_id=file_id).first(),
        }
        return TemplateResponse(
            request, "admin/conversations/trainingfile/provider_files.html", context
        )

    def content_view(self, request, provider_id, file_id):
        allowed(request, "view_trainingfile")
        provider = get_object_or_404(Provider, pk=provider_id)
        try:
            content = service.file_content(provider, file_id)
        except LLMError as error:
            say_failure(request, error)
            return HttpResponseRedirect(_files_url(provider))
        response = HttpResponse(content, content_type="application/octet-stream")
        safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", file_id)[:100]
        response["Content-Disposition"] = f'attachment; filename="{safe_name}.jsonl"'
        return response

    def delete_upstream_view(self, request, provider_id, file_id):
        allowed(request, "delete_trainingfile")
        provider = get_object_or_404(Provider, pk=provider_id)
        try:
            service.delete_file(provider=provider, file_id=file_id, user=request.user)
        except LLMError as error:
            say_failure(request, error)
        else:
            messages.success(request, gettext("Deleted %(id)s.") % {"id": file_id})
        return HttpResponseRedirect(_files_url(provider))

    def build_view(self, request):
        allowed(request, "add_trainingfile")
        form = BuildForm(request.POST)
        if form.is_valid() and _reason_missing(request.user, form.cleaned_data):
            missing = gettext("Give a reason for reading someone else's conversation.")
            form.add_error("reason", missing)
        if not form.is_valid():
            return _build_page(request, form, self.admin_site)
        row = build_from(request, form.cleaned_data)
        if row is None:
            return HttpResponseRedirect(reverse("admin:conversations_conversation_changelist"))
        return HttpResponseRedirect(
            reverse("admin:conversations_trainingfile_change", args=[row.pk])
        )


def _line_label(line) -> str:
    return gettext("line %(n)s:") % {"n": line} if line else gettext("file:")


def _files_url(provider: Provider) -> str:
    return reverse("admin:conversations_trainingfile_provider_files", args=[provider.pk])


# --- Building a file from conversations ---------------------------------------------------


class BuildForm(forms.Form):
    ids = forms.CharField(widget=forms.HiddenInput)
    provider = forms.ModelChoiceField(Provider.objects.all(), label=_("Provider"))
    base_model = forms.ModelChoiceField(
        ModelConfig.objects.all(), label=_("Base model"), required=False
    )
    branch = forms.ChoiceField(
        label=_("Branch"),
        choices=[("active", _("the branch each conversation shows")),
                 ("latest", _("the branch ending at the newest answer"))],
    )  # fmt: skip
    system = forms.ChoiceField(
        label=_("System prompt"),
        choices=[("keep", _("keep the site's and the persona's")), ("omit", _("leave it out")),
                 ("replace", _("use this text instead:"))],
    )  # fmt: skip
    system_text = forms.CharField(label=_("System prompt text"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))  # fmt: skip
    # Asked when the selection holds other people's conversations, as an export asks.
    reason = forms.CharField(
        label=_("Reason for exporting"), required=False, max_length=REASON_LENGTH_MAX, strip=True,
        help_text=_("Needed when the selection holds other people's conversations; it is "
                    "stored in the audit log with each of them and may be shown to the owners."),
    )  # fmt: skip


def _reason_missing(user, data: dict) -> bool:
    chosen = Conversation.objects.filter(pk__in=_uuids(data["ids"]))
    return not data["reason"] and chosen.exclude(owner=user).exists()


def build_from(request, data: dict) -> TrainingFile | None:
    """Build, audit the export as the export action does, store and check the file."""
    chosen = Conversation.objects.filter(pk__in=_uuids(data["ids"]))
    policy = review.current_policy()
    if review.refused_exports(request.user, chosen, policy):
        messages.error(request, gettext("Some of these conversations may not be exported by you."))
        return None
    export_id = review.new_export_id()

    def record(conversations) -> None:
        review.record_export(request.user, conversations, policy=policy, export_format="jsonl",
                             export_id=export_id, purpose=data["reason"])  # fmt: skip

    lines = build.write_lines(chosen, branch=data["branch"], system=data["system"],
                              system_text=data["system_text"], on_batch=record)  # fmt: skip
    with lines:
        return service.store_file(
            provider=data["provider"], source=lines, name=f"conversations-{export_id[:8]}.jsonl",
            user=request.user, base_model=data["base_model"],
        )  # fmt: skip


def _uuids(text: str) -> list[uuid.UUID]:
    found = []
    for part in text.split(","):
        try:
            found.append(uuid.UUID(part.strip()))
        except ValueError:
            continue  # a tampered form: such an id names no conversation
    return found


def _build_page(request, form: BuildForm, site) -> TemplateResponse:
    context = {
        **site.each_context(request),
        "opts": TrainingFile._meta,
        "title": gettext("Build a training file"),
        "form": form,
        "count": len([p for p in (form.data.get("ids") or "").split(",") if p]),
    }
    return TemplateResponse(request, "admin/conversations/trainingfile/build.html", context)


@admin.action(description=_("Build a training file for fine-tuning"))
def build_training_file(modeladmin, request, queryset):
    if not (
        request.user.has_perm(PERM % "add_trainingfile")
        and request.user.has_perm(review.EXPORT_PERMISSION)
    ):
        messages.error(request, gettext("You may not build training files."))
        return None
    ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
    return _build_page(request, BuildForm(initial={"ids": ids}, data=None), modeladmin.admin_site)


ConversationAdmin.actions = [*ConversationAdmin.actions, build_training_file]
