"""Fine-tuning jobs: create, follow (one poller per job), register, cancel, chat with the result."""

import asyncio
import json
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations import llm
from conversations.finetune import poller, service
from conversations.llm.errors import ResourceNotFound
from conversations.models import AuditEntry, FineTuneJob, ModelConfig, SiteSettings

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = {"messages": [
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "On its way, arriving tomorrow."},
]}  # fmt: skip


@pytest.fixture
def quick(settings, fake):
    settings.CHATSITE_FINETUNE_MIN_EXAMPLES = 2
    settings.CHATSITE_FINETUNE_POLL_INTERVAL = 0
    settings.CHATSITE_FINETUNE_TICK = 0.05
    fake.fine_tuning.step = 0.05
    return settings


def training_file(provider, user, tmp_path, settings):
    settings.CHATSITE_FINETUNE_DIR = tmp_path / "kept"
    source = tmp_path / "train.jsonl"
    source.write_text((json.dumps(EXAMPLE) + "\n") * 5)
    with source.open("rb") as handle:
        row = service.store_file(provider=provider, source=handle, name="train.jsonl", user=user)
    return service.upload(training_file=row, user=user)


def start_job(provider, user, tmp_path, settings, **options) -> FineTuneJob:
    row = training_file(provider, user, tmp_path, settings)
    return service.create_job(
        provider=provider, training_file_id=row.upstream_id, model="gpt-4",
        options={"suffix": "support", "n_epochs": 2, **options}, user=user, training_file=row,
    )  # fmt: skip


def poll_round(owner: str = "worker-1") -> None:
    async def once():
        try:
            await poller.run_once(owner=owner)
        finally:
            await llm.close_all()

    asyncio.run(once())


def poll_until_finished(job: FineTuneJob, owner: str = "worker-1") -> FineTuneJob:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        poll_round(owner)
        job.refresh_from_db()
        if job.finished and (job.registered_model_id or job.status != "succeeded"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"the job stayed {job.status}")


def ops() -> list[str]:
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.FINETUNE).order_by("pk")
    return [entry.details["op"] for entry in entries]


def test_a_job_succeeds_and_its_model_is_registered_disabled_with_lineage(
    upstream_model, staff, quick, tmp_path
):
    provider = upstream_model.provider
    upstream_model.price_input_per_million = 3
    upstream_model.save()
    job = start_job(provider, staff, tmp_path, quick)
    assert job.status == "validating_files"
    assert job.hyperparameters == {"n_epochs": 2}
    job = poll_until_finished(job)
    assert job.status == "succeeded"
    assert job.trained_tokens == 1234
    assert any("succeeded" in event["message"] for event in job.events)
    model = job.registered_model
    assert model.model_id == job.fine_tuned_model
    assert model.model_id.startswith("ft:gpt-4:fake-org:support:")
    assert model.enabled is False  # staff enable it
    assert model.price_input_per_million == 3  # the base model's
    assert model.fine_tune_job.started_by == staff
    assert model.fine_tune_job.training_file.name == "train.jsonl"
    assert ops() == ["upload", "create", "register"]


def test_a_site_setting_enables_the_new_model_at_once(upstream_model, staff, quick, tmp_path):
    SiteSettings.objects.create(pk=1, enable_fine_tuned_models=True)
    job = poll_until_finished(start_job(upstream_model.provider, staff, tmp_path, quick))
    assert job.registered_model.enabled is True


def test_a_failed_job_keeps_its_error_and_registers_nothing(upstream_model, staff, quick, tmp_path):
    job = start_job(upstream_model.provider, staff, tmp_path, quick, suffix="will-fail")
    job = poll_until_finished(job)
    assert job.status == "failed"
    assert "could not be read" in job.error
    assert job.registered_model is None
    assert ModelConfig.objects.count() == 1


def test_a_cancelled_job_stops_being_polled(upstream_model, staff, quick, tmp_path, fake):
    fake.fine_tuning.step = 30
    job = start_job(upstream_model.provider, staff, tmp_path, quick)
    job = service.cancel_job(job=job, user=staff)
    assert job.status == "cancelled" and job.finished_at is not None
    assert ops() == ["upload", "create", "cancel"]
    with pytest.raises(service.FineTuneRefused):
        service.cancel_job(job=job, user=staff)
    assert not FineTuneJob.objects.needing_polls().exists()


def test_the_legacy_endpoint_runs_the_same_flow(upstream_model, staff, quick, tmp_path, fake):
    provider = upstream_model.provider
    provider.legacy_fine_tunes = True
    provider.save()
    job = start_job(provider, staff, tmp_path, quick, prompt_loss_weight=0.05)
    assert job.legacy and job.upstream_id.startswith("ft-")
    assert job.status == "queued"  # the legacy "pending"
    body = next(r for r in fake.requests if r.path == "/v1/fine-tunes").body
    assert body["n_epochs"] == 2 and body["prompt_loss_weight"] == 0.05
    job = poll_until_finished(job)
    assert job.registered_model.model_id == "gpt-4:ft-fake-org:support-2023-03-01"


def test_two_workers_never_hold_the_same_job(upstream_model, staff, quick, tmp_path):
    job = start_job(upstream_model.provider, staff, tmp_path, quick)
    assert poller.claim_due(owner="worker-1") == [job.pk]
    assert poller.claim_due(owner="worker-2") == []


def test_two_workers_polling_together_register_the_model_once(
    upstream_model, staff, quick, tmp_path, fake
):
    job = start_job(upstream_model.provider, staff, tmp_path, quick)
    time.sleep(4 * fake.fine_tuning.step)  # succeeded upstream already

    async def both():
        try:
            await asyncio.gather(*(poller.run_once(owner=f"worker-{n}") for n in range(2)))
        finally:
            await llm.close_all()

    deadline = time.monotonic() + 10
    while not FineTuneJob.objects.get(pk=job.pk).registered_model_id:
        assert time.monotonic() < deadline
        asyncio.run(both())
    asyncio.run(both())
    assert ModelConfig.objects.filter(model_id__startswith="ft:").count() == 1
    assert ops().count("register") == 1
    retrieves = [r for r in fake.requests if r.path == f"/v1/fine_tuning/jobs/{job.upstream_id}"]
    assert len(retrieves) == 1  # one poll: the other worker found the job held, then done


def test_a_lost_lease_writes_nothing(upstream_model, staff, quick, tmp_path, fake):
    job = start_job(upstream_model.provider, staff, tmp_path, quick)
    poller.claim_due(owner="worker-1")
    FineTuneJob.objects.filter(pk=job.pk).update(lease_owner="worker-2")
    state = llm.training.job_state({"id": job.upstream_id, "status": "succeeded",
                                    "fine_tuned_model": "ft:x"})  # fmt: skip
    poller.record_state(job.pk, owner="worker-1", state=state, events=[])
    job.refresh_from_db()
    assert job.status == "validating_files" and job.registered_model is None


def test_a_job_held_by_a_worker_that_died_is_taken_over(upstream_model, staff, quick, tmp_path):
    job = start_job(upstream_model.provider, staff, tmp_path, quick)
    poller.claim_due(owner="dead-worker")  # then the process stops mid-job
    assert poller.claim_due(owner="worker-2") == []
    FineTuneJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    job = poll_until_finished(job, owner="worker-2")
    assert job.status == "succeeded" and job.registered_model is not None


def test_polls_back_off_while_nothing_changes(upstream_model, staff, quick, tmp_path, fake):
    quick.CHATSITE_FINETUNE_POLL_INTERVAL = 10
    quick.CHATSITE_FINETUNE_POLL_MAX = 25
    fake.fine_tuning.step = 60
    job = start_job(upstream_model.provider, staff, tmp_path, quick)
    waits = []
    for _ in range(3):
        FineTuneJob.objects.filter(pk=job.pk).update(next_poll_at=None)
        poll_round()
        job.refresh_from_db()
        waits.append(round((job.next_poll_at - timezone.now()).total_seconds()))
    assert waits == [20, 25, 25]


def test_a_job_the_provider_forgot_backs_off_and_records_the_error(
    upstream_model, staff, quick, tmp_path, fake
):
    job = start_job(upstream_model.provider, staff, tmp_path, quick)
    fake.fine_tuning.jobs.clear()
    poll_round()
    job.refresh_from_db()
    assert job.poll_failures == 1 and job.lease_owner == ""
    job.provider.refresh_from_db()
    assert job.provider.last_error_code == ResourceNotFound.code


async def test_the_worker_runtime_polls_and_the_new_model_answers_in_the_chat(
    alice, staff, upstream_model, fake, quick, tmp_path, open_socket
):
    await database_sync_to_async(SiteSettings.objects.create)(pk=1, enable_fine_tuned_models=True)
    provider = upstream_model.provider
    job = await database_sync_to_async(start_job)(provider, staff, tmp_path, quick)
    socket = await open_socket(alice)  # starts the worker runtime, which polls
    deadline = time.monotonic() + 10
    while not job.registered_model_id:
        assert time.monotonic() < deadline, job.status
        await asyncio.sleep(0.05)
        await database_sync_to_async(job.refresh_from_db)()
    model = await database_sync_to_async(ModelConfig.objects.get)(pk=job.registered_model_id)
    listed = await database_sync_to_async(lambda: list(ModelConfig.objects.usable_by(alice)))()
    assert model in listed
    result = await socket.turn("Where is my parcel?", model=model.pk)
    assert result.status == "complete"
    assert fake.chat_requests[-1].body["model"] == model.model_id
