"""Follow fine-tuning jobs from the worker runtime: one poller per job, cluster-wide.

Every worker runs ``run_once`` on a tick. It claims the jobs that are due
with a conditional UPDATE (free, or their lease lapsed): under PostgreSQL's
row lock and SQLite's single writer only one worker's UPDATE matches, so two
workers never poll the same job at once. The answer is written back only
while the lease is still held (``SELECT … FOR UPDATE`` on the row, owner
checked) and the model is registered in that same transaction, only while
the job has none: a job registers exactly once. State lives in the row, so a
restarted worker (or another one, once the lease lapses) carries on.

Polls back off while nothing changes and after failures, from
``CHATSITE_FINETUNE_POLL_INTERVAL`` up to ``CHATSITE_FINETUNE_POLL_MAX``.
"""

import asyncio
import logging
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations import audit, catalog
from conversations.llm import LLMError, get_client
from conversations.llm.training import JobState, TrainingClient
from conversations.models import AuditEntry, FineTuneJob, ModelConfig, SiteSettings
from conversations.upstream import provider_settings, record_provider_error

logger = logging.getLogger(__name__)
CLAIM_LIMIT = 20
KEPT_EVENTS = 50


def _free(now) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def claim_due(*, owner: str, limit: int = CLAIM_LIMIT) -> list[int]:
    """Take the lease on due jobs; the ids this worker now holds."""
    now = timezone.now()
    due = FineTuneJob.objects.needing_polls().filter(
        _free(now), Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)
    )
    until = now + timedelta(seconds=settings.CHATSITE_FINETUNE_LEASE)
    claimed = []
    for pk in due.order_by("next_poll_at", "pk").values_list("pk", flat=True)[:limit]:
        won = FineTuneJob.objects.filter(_free(now), pk=pk).update(
            lease_owner=owner, lease_until=until
        )
        if won:
            claimed.append(pk)
    return claimed


async def run_once(*, owner: str) -> None:
    """Claim what is due and poll it, all at once."""
    claimed = await database_sync_to_async(claim_due)(owner=owner)
    if claimed:
        await asyncio.gather(*(poll(job_id, owner=owner) for job_id in claimed))


async def poll(job_id: int, *, owner: str) -> None:
    job, client_settings = await database_sync_to_async(_load)(job_id)
    client = TrainingClient(get_client(client_settings), legacy=job.legacy)
    try:
        state = await client.retrieve_job(job.upstream_id)
        events = await client.job_events(job.upstream_id)
    except LLMError as error:
        logger.warning("Polling fine-tuning job %s failed: %s", job.upstream_id, error.describe())
        await database_sync_to_async(record_failure)(job_id, owner=owner, error=error)
        return
    await database_sync_to_async(record_state)(job_id, owner=owner, state=state, events=events)


def _load(job_id: int):
    job = FineTuneJob.objects.select_related("provider").get(pk=job_id)
    return job, provider_settings(job.provider)


def _held(job_id: int, owner: str) -> FineTuneJob | None:
    held = FineTuneJob.objects.select_for_update().filter(pk=job_id, lease_owner=owner)
    return held.select_related("provider").first()


def record_state(job_id: int, *, owner: str, state: JobState, events: list[dict]) -> None:
    """Store what the provider said, register a finished model, release the lease."""
    with transaction.atomic():
        job = _held(job_id, owner)
        if job is None:
            return  # the lease lapsed and another worker took the job
        changed = state.status != job.status
        job.status = state.status or job.status
        job.trained_tokens = state.trained_tokens or job.trained_tokens
        job.fine_tuned_model = state.fine_tuned_model or job.fine_tuned_model
        job.error = state.error or job.error
        job.events = events[:KEPT_EVENTS]
        if job.finished and job.finished_at is None:
            job.finished_at = timezone.now()
        job.polls = 0 if changed else job.polls + 1
        job.poll_failures = 0
        if job.status == FineTuneJob.Status.SUCCEEDED and job.registered_model_id is None:
            register(job)
        _release(job, _backoff(job.polls))


def record_failure(job_id: int, *, owner: str, error: LLMError) -> None:
    with transaction.atomic():
        job = _held(job_id, owner)
        if job is None:
            return
        record_provider_error(error, provider_id=job.provider_id)
        job.poll_failures += 1
        _release(job, _backoff(job.poll_failures))


def _backoff(steps: int) -> float:
    base = settings.CHATSITE_FINETUNE_POLL_INTERVAL
    return min(base * 2 ** min(steps, 10), settings.CHATSITE_FINETUNE_POLL_MAX)


def _release(job: FineTuneJob, delay: float) -> None:
    job.lease_owner, job.lease_until = "", None
    job.next_poll_at = timezone.now() + timedelta(seconds=delay)
    job.save()


def register(job: FineTuneJob) -> ModelConfig | None:
    """Make the fine-tuned model a model of the provider (disabled unless the site says)."""
    if not job.fine_tuned_model:
        return None
    base = ModelConfig.objects.filter(provider=job.provider, model_id=job.base_model).first()
    model, created = ModelConfig.objects.get_or_create(
        provider=job.provider, model_id=job.fine_tuned_model, defaults=_new_model(job, base)
    )
    job.registered_model = model
    details = {"op": "register", "provider": job.provider_id, "job": job.upstream_id,
               "model": model.model_id, "base_model": job.base_model, "created": created,
               "started_by": job.started_by_id}  # fmt: skip
    audit.append(AuditEntry.Action.FINETUNE, actor=None, details=details)
    return model


def _new_model(job: FineTuneJob, base: ModelConfig | None) -> dict:
    """A fine-tuned model keeps its base model's limits, habits and prices."""
    enabled = SiteSettings.load().enable_fine_tuned_models
    if base is None:
        facts = catalog.facts_for(job.fine_tuned_model, {})
        return {
            "kind": ModelConfig.Kind.CHAT,
            "context_window": facts.context_window,
            "max_output_tokens": facts.max_output_tokens,
            "context_window_source": facts.source,
            "enabled": enabled,
        }
    copied = ("context_window", "max_output_tokens", "context_window_source", "token_limit_param",
              "system_role", "takes_reasoning_effort", "supports_n", "price_input_per_million",
              "price_output_per_million", "default_params")  # fmt: skip
    return {
        **{name: getattr(base, name) for name in copied},
        "kind": ModelConfig.Kind.CHAT,
        "enabled": enabled,
    }
