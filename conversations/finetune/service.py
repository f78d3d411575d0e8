"""What staff do with training files and jobs; every change upstream is audited.

Admin views are synchronous: each upstream call runs on a loop of its own
(``asyncio.run`` in the view's thread, not ``async_to_sync``, which under
Daphne would run it on the server's loop, file reads and all) with a client
that is closed afterwards. Uploads go through the httpcore transport
(it streams a request body from an open file) and are not retried.
"""

import asyncio
import dataclasses
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import audit
from conversations.finetune import jsonl
from conversations.finetune.hyper import clean_options
from conversations.llm import LLMClient, LLMError
from conversations.llm.training import JobState, TrainingClient
from conversations.models import AuditEntry, FineTuneJob, ModelConfig, Provider, TrainingFile
from conversations.upstream import provider_settings, record_provider_error

T = TypeVar("T")
UPLOAD_TIMEOUT = 3600.0
CALL_TIMEOUT = 60.0


class FineTuneRefused(Exception):
    """Something staff asked that this server will not send (its message says why)."""


# --- Calls ---------------------------------------------------------------------------


def call(provider: Provider, work: Callable[[TrainingClient], Awaitable[T]], **limits) -> T:
    """Run ``work`` against the provider; a failure becomes its last error and is raised."""
    options = {"max_retries": 0, "transport": "httpcore", "total_timeout": CALL_TIMEOUT, **limits}
    try:
        client_settings = dataclasses.replace(provider_settings(provider), **options)
    except ValueError as error:  # a base URL the client cannot use
        raise LLMError(_("The provider's settings cannot be used."), detail=str(error)) from None

    async def run() -> T:
        client = LLMClient(client_settings)
        try:
            return await work(TrainingClient(client, legacy=provider.legacy_fine_tunes))
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except LLMError as error:
        record_provider_error(error, provider_id=provider.pk)
        raise


def _audit(user, op: str, **details: Any) -> None:
    audit.append(AuditEntry.Action.FINETUNE, actor=user, details={"op": op, **details})


# --- Training files --------------------------------------------------------------


def store_file(
    *,
    provider: Provider,
    source: IO[bytes],
    name: str,
    user,
    base_model: ModelConfig | None = None,
) -> TrainingFile:
    """Copy ``source`` to the training directory in chunks, check it, keep the row."""
    directory = Path(settings.CHATSITE_FINETUNE_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.jsonl"
    with path.open("wb") as target:
        shutil.copyfileobj(source, target, 1024 * 1024)
    row = TrainingFile(
        provider=provider, base_model=base_model, name=name[:200], path=str(path), created_by=user
    )
    check(row)
    return row


def check(row: TrainingFile) -> jsonl.Report:
    """Check the stored file again (after its base model changed) and save what was found."""
    model = row.base_model.model_id if row.base_model else "gpt-4o-mini"
    report = jsonl.check_file(
        Path(row.path),
        model=model,
        max_bytes=settings.CHATSITE_FINETUNE_MAX_BYTES,
        min_examples=settings.CHATSITE_FINETUNE_MIN_EXAMPLES,
    )
    price = row.base_model.price_training_per_million if row.base_model else 0
    row.bytes, row.examples, row.total_tokens = report.bytes, report.examples, report.total_tokens
    row.tokens_exact, row.valid = report.exact, report.valid
    row.estimated_cost = report.cost(price)
    row.problems = {"problems": report.problems, "bad_lines": report.bad_lines,
                    "line_tokens": report.line_tokens, "max_line_tokens": report.max_line_tokens,
                    "encoding": report.encoding}  # fmt: skip
    row.save()
    return report


def upload(*, training_file: TrainingFile, user) -> TrainingFile:
    if not training_file.valid:
        raise FineTuneRefused(_("The file has problems: fix them before uploading it."))
    if training_file.upstream_id:
        raise FineTuneRefused(_("The file is already uploaded."))

    async def send(client: TrainingClient) -> dict:
        return await client.upload_file(Path(training_file.path), filename=training_file.name)

    uploaded = call(training_file.provider, send, total_timeout=UPLOAD_TIMEOUT)
    training_file.upstream_id = str(uploaded.get("id", ""))
    training_file.uploaded_at = timezone.now()
    training_file.save(update_fields=["upstream_id", "uploaded_at"])
    _audit(user, "upload", provider=training_file.provider_id, file=training_file.upstream_id,
           name=training_file.name, bytes=training_file.bytes)  # fmt: skip
    return training_file


def forget_file(row: TrainingFile) -> None:
    """Delete the local copy and its row (the provider's copy stays; delete that apart)."""
    Path(row.path).unlink(missing_ok=True)
    row.delete()


def list_files(provider: Provider) -> list[dict]:
    async def files(client: TrainingClient) -> list[dict]:
        return await client.list_files()

    return call(provider, files)


def retrieve_file(provider: Provider, file_id: str) -> dict:
    async def retrieve(client: TrainingClient) -> dict:
        return await client.retrieve_file(file_id)

    return call(provider, retrieve)


def file_content(provider: Provider, file_id: str) -> bytes:
    async def content(client: TrainingClient) -> bytes:
        return await client.file_content(file_id)

    return call(provider, content, total_timeout=UPLOAD_TIMEOUT)


def delete_file(*, provider: Provider, file_id: str, user) -> None:
    async def delete(client: TrainingClient) -> dict:
        return await client.delete_file(file_id)

    call(provider, delete)
    TrainingFile.objects.filter(provider=provider, upstream_id=file_id).update(
        upstream_id="", uploaded_at=None
    )
    _audit(user, "delete", provider=provider.pk, file=file_id)


# --- Jobs ------------------------------------------------------------------------------


def create_job(
    *,
    provider: Provider,
    training_file_id: str,
    model: str,
    options: dict,
    user,
    training_file: TrainingFile | None = None,
) -> FineTuneJob:
    """Check the options by the seeds' rules, create the job upstream, keep its row."""
    chosen = clean_options(options, legacy=provider.legacy_fine_tunes)

    async def create(client: TrainingClient) -> JobState:
        return await client.create_job(training_file=training_file_id, model=model, options=chosen)

    state = call(provider, create)
    hyper = {k: v for k, v in chosen.items() if k not in ("suffix", "validation_file")}
    job = FineTuneJob.objects.create(
        provider=provider,
        upstream_id=state.id,
        legacy=provider.legacy_fine_tunes,
        training_file=training_file,
        training_file_id_upstream=training_file_id,
        validation_file_id_upstream=chosen.get("validation_file", ""),
        base_model=model,
        suffix=chosen.get("suffix", ""),
        hyperparameters=hyper,
        status=state.status or FineTuneJob.Status.VALIDATING,
        started_by=user,
    )
    _audit(user, "create", provider=provider.pk, job=job.upstream_id, model=model,
           training_file=training_file_id, hyperparameters=hyper)  # fmt: skip
    return job


def cancel_job(*, job: FineTuneJob, user) -> FineTuneJob:
    if job.finished:
        raise FineTuneRefused(_("The job has already finished."))

    async def cancel(client: TrainingClient) -> JobState:
        return await client.cancel_job(job.upstream_id)

    state = call(job.provider, cancel)
    with transaction.atomic():
        job.status = state.status or FineTuneJob.Status.CANCELLED
        job.finished_at = timezone.now() if job.finished else None
        job.save(update_fields=["status", "finished_at"])
        _audit(user, "cancel", provider=job.provider_id, job=job.upstream_id)
    return job
