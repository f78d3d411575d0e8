"""Fine-tuning in the admin, jobs: start, follow, cancel; a fine-tuned model's lineage.

Permissions: ``view_finetunejob``, ``add_finetunejob`` (start a job) and
``change_finetunejob`` (cancel one). The poller in the worker runtime keeps
the rows current (``conversations.finetune.poller``).
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from conversations.admin.finetune_common import allowed, say_failure
from conversations.finetune import service
from conversations.finetune.hyper import OptionInvalid
from conversations.llm import LLMError
from conversations.models import FineTuneJob, ModelConfig, TrainingFile


def lineage(model: ModelConfig) -> str:
    """Where a fine-tuned model came from, for its admin page ("—" for others)."""
    job = FineTuneJob.objects.filter(registered_model=model).select_related(
        "training_file", "started_by"
    )
    job = job.first()
    if job is None:
        return "—"
    url = reverse("admin:conversations_finetunejob_change", args=[job.pk])
    text = gettext("base model %(base)s, job %(job)s, training file %(file)s, started by %(who)s")
    values = {
        "base": job.base_model,
        "job": job.upstream_id,
        "file": job.training_file or job.training_file_id_upstream,
        "who": job.started_by or "—",
    }
    return format_html('<a href="{}">{}</a>', url, text % values)


# --- Jobs ------------------------------------------------------------------------------------


class FineTuneJobForm(forms.ModelForm):
    """Checked by the seeds' rules, then the job is created upstream as the last check."""

    training_file_choice = forms.ModelChoiceField(
        TrainingFile.objects.exclude(upstream_id=""), label=_("Training file"), required=False,
        help_text=_("An uploaded training file, or give a file id of the provider below."),
    )  # fmt: skip
    training_file_id = forms.CharField(label=_("Training file id"), required=False)
    validation_file = forms.CharField(label=_("Validation file id"), required=False)
    model = forms.CharField(label=_("Base model"), help_text=_("As the provider names it."))
    suffix = forms.CharField(label=_("Suffix"), required=False, max_length=200)
    n_epochs = forms.IntegerField(label="n_epochs", required=False)
    batch_size = forms.IntegerField(label="batch_size", required=False)
    learning_rate_multiplier = forms.FloatField(label="learning_rate_multiplier", required=False)
    prompt_loss_weight = forms.FloatField(
        label="prompt_loss_weight", required=False, help_text=_("Legacy endpoint only.")
    )
    compute_classification_metrics = forms.BooleanField(
        label="compute_classification_metrics", required=False
    )
    classification_n_classes = forms.IntegerField(label="classification_n_classes", required=False)
    classification_positive_class = forms.CharField(
        label="classification_positive_class", required=False
    )

    OPTIONS = ("validation_file", "suffix", "n_epochs", "batch_size", "learning_rate_multiplier",
               "prompt_loss_weight", "compute_classification_metrics",
               "classification_n_classes", "classification_positive_class")  # fmt: skip

    class Meta:
        model = FineTuneJob
        fields = ["provider"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.job = None

    def clean(self) -> dict:
        cleaned = super().clean()
        provider, chosen = cleaned.get("provider"), cleaned.get("training_file_choice")
        file_id = chosen.upstream_id if chosen else cleaned.get("training_file_id")
        if not file_id:
            self.add_error("training_file_id", gettext("Choose a training file or give its id."))
        if provider is None or self.errors:
            return cleaned
        options = {name: cleaned.get(name) for name in self.OPTIONS}
        try:
            self.job = service.create_job(
                provider=provider, training_file_id=file_id, model=cleaned["model"],
                options=options, user=self.user, training_file=chosen,
            )  # fmt: skip
        except OptionInvalid as error:
            self.add_error(error.name if error.name in self.fields else None, str(error))
        except LLMError as error:
            message = gettext("The provider refused: %(error)s") % {"error": error.describe()}
            self.add_error(None, message)
        return cleaned

    def save(self, commit: bool = True) -> FineTuneJob:
        return self.job

    def save_m2m(self) -> None:
        pass  # the job has no many-to-many fields


@admin.register(FineTuneJob)
class FineTuneJobAdmin(admin.ModelAdmin):
    form = FineTuneJobForm
    list_display = ["upstream_id", "provider", "base_model", "status", "trained_tokens",
                    "fine_tuned_model", "registered_model", "started_by", "created"]  # fmt: skip
    list_filter = ["provider", "status"]
    list_select_related = ["provider", "started_by", "registered_model"]
    readonly_fields = ["upstream_id", "provider", "legacy", "status", "base_model",
                       "training_file", "training_file_id_upstream",
                       "validation_file_id_upstream", "suffix", "hyperparameters",
                       "trained_tokens", "fine_tuned_model", "registered_model", "error",
                       "event_list", "started_by", "created", "finished_at"]  # fmt: skip
    change_form_template = "admin/conversations/finetunejob/change_form.html"

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class WithUser(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, user=request.user, **inner)

        return WithUser

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["provider", "training_file_choice", "training_file_id", "model",
                    *FineTuneJobForm.OPTIONS]  # fmt: skip
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a job is lineage of the model it made

    def save_model(self, request, obj, form, change) -> None:
        pass  # created upstream and stored by the form's last check

    @admin.display(description=_("events"))
    def event_list(self, job: FineTuneJob) -> str:
        rows = ((e.get("level", ""), e.get("message", "")) for e in job.events or [])
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", rows)) or "—"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/cancel/", wrap(require_POST(self.cancel_view)),
                 name="conversations_finetunejob_cancel"),
            *super().get_urls(),
        ]  # fmt: skip

    def cancel_view(self, request, pk):
        allowed(request, "change_finetunejob")
        job = get_object_or_404(FineTuneJob.objects.select_related("provider"), pk=pk)
        try:
            service.cancel_job(job=job, user=request.user)
        except (LLMError, service.FineTuneRefused) as error:
            say_failure(request, error)
        else:
            messages.success(request, gettext("The job was cancelled."))
        return HttpResponseRedirect(reverse("admin:conversations_finetunejob_change", args=[pk]))
