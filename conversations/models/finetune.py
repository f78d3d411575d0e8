"""Training files and fine-tuning jobs, with the lineage of the models they produce.

A ``FineTuneJob`` row is the cluster-wide state of one upstream job: the
poller (``conversations.finetune.poller``) takes a lease on it with a
conditional UPDATE (``lease_owner``, ``lease_until``), so one worker at a
time polls it, and a restarted worker finds it where the last one left it.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from conversations.models.providers import ModelConfig, Provider


class TrainingFile(models.Model):
    """A JSONL file kept on this server, checked line by line, maybe uploaded."""

    provider = models.ForeignKey(
        Provider,
        on_delete=models.CASCADE,
        related_name="training_files",
        verbose_name=_("provider"),
    )
    base_model = models.ForeignKey(
        ModelConfig,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("base model"),
        help_text=_("Counts tokens with its tokenizer and prices them at its training price."),
    )
    name = models.CharField(_("file name"), max_length=200)
    path = models.CharField(max_length=500, editable=False)  # under CHATSITE_FINETUNE_DIR
    bytes = models.PositiveBigIntegerField(_("bytes"), default=0)
    examples = models.PositiveIntegerField(_("examples"), default=0)
    total_tokens = models.PositiveBigIntegerField(_("tokens"), default=0)
    tokens_exact = models.BooleanField(_("exact token count"), default=True)
    estimated_cost = models.DecimalField(
        _("estimated cost per epoch"), max_digits=14, decimal_places=6, default=Decimal(0)
    )
    valid = models.BooleanField(_("valid"), default=False)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    upstream_id = models.CharField(_("provider's file id"), max_length=200, blank=True)
    uploaded_at = models.DateTimeField(_("uploaded"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("training file")
        verbose_name_plural = _("training files")

    def __str__(self) -> str:
        return self.name


class FineTuneJobQuerySet(models.QuerySet):
    def needing_polls(self) -> "FineTuneJobQuerySet":
        """Jobs still moving upstream, or finished well but not yet registered."""
        open_jobs = ~Q(status__in=FineTuneJob.TERMINAL)
        unregistered = Q(status=FineTuneJob.Status.SUCCEEDED, registered_model__isnull=True)
        return self.filter(open_jobs | unregistered)


class FineTuneJob(models.Model):
    class Status(models.TextChoices):
        VALIDATING = "validating_files", _("validating files")
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    TERMINAL = ("succeeded", "failed", "cancelled")

    provider = models.ForeignKey(
        Provider,
        on_delete=models.CASCADE,
        related_name="fine_tune_jobs",
        verbose_name=_("provider"),
    )
    upstream_id = models.CharField(_("job id"), max_length=200)
    legacy = models.BooleanField(_("legacy fine-tunes endpoint"), default=False)
    training_file = models.ForeignKey(
        TrainingFile,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
        verbose_name=_("training file"),
    )
    training_file_id_upstream = models.CharField(_("training file id"), max_length=200)
    validation_file_id_upstream = models.CharField(
        _("validation file id"), max_length=200, blank=True
    )
    base_model = models.CharField(_("base model"), max_length=200)
    suffix = models.CharField(_("suffix"), max_length=40, blank=True)
    hyperparameters = models.JSONField(_("hyperparameters"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.VALIDATING
    )
    trained_tokens = models.PositiveBigIntegerField(_("trained tokens"), null=True, blank=True)
    fine_tuned_model = models.CharField(_("fine-tuned model"), max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)
    events = models.JSONField(_("events"), default=list, blank=True)
    registered_model = models.OneToOneField(
        ModelConfig,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fine_tune_job",
        verbose_name=_("registered model"),
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    # The poller's state: who holds the job until when, when to look next, how often it failed.
    lease_owner = models.CharField(max_length=200, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    next_poll_at = models.DateTimeField(null=True, blank=True, editable=False)
    polls = models.PositiveIntegerField(default=0, editable=False)
    poll_failures = models.PositiveIntegerField(default=0, editable=False)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = FineTuneJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = _("fine-tuning job")
        verbose_name_plural = _("fine-tuning jobs")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "upstream_id"], name="unique_fine_tune_job_per_provider"
            )
        ]

    def __str__(self) -> str:
        return self.upstream_id

    @property
    def finished(self) -> bool:
        return self.status in self.TERMINAL
