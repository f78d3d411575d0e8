"""Fine-tuning in the admin: who may see and act, every action audited, the pages work."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import AuditEntry, Conversation, FineTuneJob, Message, TrainingFile
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = {"messages": [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
]}  # fmt: skip
ALL = ("view_trainingfile", "add_trainingfile", "delete_trainingfile", "view_finetunejob",
       "add_finetunejob", "change_finetunejob")  # fmt: skip


@pytest.fixture(autouse=True)
def quick(settings, tmp_path, fake):
    settings.CHATSITE_FINETUNE_MIN_EXAMPLES = 2
    settings.CHATSITE_FINETUNE_DIR = tmp_path / "kept"
    fake.fine_tuning.step = 30
    return settings


def trainer(*codenames: str, name: str = "trainer") -> User:
    user = User.objects.create_user(name, password=PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def jsonl(lines: list) -> SimpleUploadedFile:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    return SimpleUploadedFile("train.jsonl", text.encode(), "application/jsonl")


def add_file(client, provider, lines) -> TrainingFile:
    response = client.post(
        "/admin/conversations/trainingfile/add/",
        {"provider": provider.pk, "base_model": "", "file": jsonl(lines)},
    )
    assert response.status_code == 302, response.content[:2000]
    return TrainingFile.objects.latest("pk")


def ops() -> list[str]:
    rows = AuditEntry.objects.filter(action=AuditEntry.Action.FINETUNE).order_by("pk")
    return [row.details["op"] for row in rows]


def test_staff_without_the_permissions_see_and_do_nothing(client, upstream_model):
    client.force_login(trainer(name="plain"))
    provider = upstream_model.provider
    for url in ("/admin/conversations/trainingfile/", "/admin/conversations/finetunejob/",
                f"/admin/conversations/trainingfile/provider/{provider.pk}/"):  # fmt: skip
        assert client.get(url).status_code == 403
    response = client.post("/admin/conversations/trainingfile/add/", {"provider": provider.pk})
    assert response.status_code == 403
    assert (
        client.post(
            f"/admin/conversations/trainingfile/provider/{provider.pk}/x/delete/"
        ).status_code
        == 403
    )
    assert client.post("/admin/conversations/finetunejob/1/cancel/").status_code == 403
    assert ops() == []


def test_a_viewer_can_look_but_not_upload_or_start(client, upstream_model):
    client.force_login(trainer("view_trainingfile", "view_finetunejob", name="viewer"))
    provider = upstream_model.provider
    assert (
        client.get(f"/admin/conversations/trainingfile/provider/{provider.pk}/").status_code == 200
    )
    row = TrainingFile.objects.create(provider=provider, name="x.jsonl", path="/nope", valid=True)
    assert client.post(f"/admin/conversations/trainingfile/{row.pk}/upload/").status_code == 403
    assert client.get("/admin/conversations/finetunejob/add/").status_code == 403


def test_a_bad_file_is_kept_with_its_problems_and_never_uploaded(client, upstream_model, fake):
    client.force_login(trainer(*ALL))
    row = add_file(client, upstream_model.provider, [EXAMPLE, {"messages": [{"role": "bot"}]}])
    assert not row.valid
    page = client.get(f"/admin/conversations/trainingfile/{row.pk}/change/").content.decode()
    assert "line 2:" in page and "“bot”" in page
    response = client.post(f"/admin/conversations/trainingfile/{row.pk}/upload/", follow=True)
    assert "fix them before uploading" in response.content.decode()
    assert not any(r.path == "/v1/files" for r in fake.requests)
    assert ops() == []


def test_a_file_too_large_is_refused_by_the_form(client, upstream_model, quick):
    quick.CHATSITE_FINETUNE_MAX_BYTES = 10
    client.force_login(trainer(*ALL))
    response = client.post(
        "/admin/conversations/trainingfile/add/",
        {"provider": upstream_model.provider.pk, "file": jsonl([EXAMPLE] * 3)},
    )
    assert response.status_code == 200
    assert "larger than the limit" in response.content.decode()
    assert not TrainingFile.objects.exists()


def test_the_whole_admin_flow_is_audited(client, upstream_model, fake):
    user = trainer(*ALL)
    client.force_login(user)
    provider = upstream_model.provider
    assert client.get("/admin/conversations/trainingfile/add/").status_code == 200
    assert client.get("/admin/conversations/finetunejob/add/").status_code == 200
    row = add_file(client, provider, [EXAMPLE] * 3)
    assert row.valid and row.examples == 3 and row.total_tokens > 0
    client.post(f"/admin/conversations/trainingfile/{row.pk}/upload/")
    row.refresh_from_db()
    assert row.upstream_id.startswith("file-")
    listing = client.get(f"/admin/conversations/trainingfile/provider/{provider.pk}/")
    assert row.upstream_id in listing.content.decode()
    shown = client.get(
        f"/admin/conversations/trainingfile/provider/{provider.pk}/{row.upstream_id}/"
    )
    assert "Kept here as:" in shown.content.decode() and row.name in shown.content.decode()
    content = client.get(
        f"/admin/conversations/trainingfile/provider/{provider.pk}/{row.upstream_id}/content/"
    )
    assert b"".join(content) == open(row.path, "rb").read()  # noqa: SIM115
    form = {"provider": provider.pk, "training_file_choice": row.pk, "model": "gpt-4",
            "suffix": "x" * 41, "n_epochs": 3}  # fmt: skip
    refused = client.post("/admin/conversations/finetunejob/add/", form)
    assert refused.status_code == 200 and "At most 40 characters" in refused.content.decode()
    response = client.post("/admin/conversations/finetunejob/add/", {**form, "suffix": "bot"})
    assert response.status_code == 302, response.content[:3000]
    job = FineTuneJob.objects.get()
    assert job.started_by == user and job.training_file == row
    page = client.get(f"/admin/conversations/finetunejob/{job.pk}/change/").content.decode()
    assert "Cancel the job" in page
    client.post(f"/admin/conversations/finetunejob/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == "cancelled"
    client.post(
        f"/admin/conversations/trainingfile/provider/{provider.pk}/{row.upstream_id}/delete/"
    )
    assert fake.fine_tuning.files == {}
    assert ops() == ["upload", "create", "cancel", "delete"]
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.FINETUNE)
    assert {entry.actor_id for entry in entries} == {user.pk}


def test_the_provider_s_error_body_is_shown_not_a_500(client, upstream_model):
    client.force_login(trainer(*ALL))
    provider = upstream_model.provider
    response = client.post(
        f"/admin/conversations/trainingfile/provider/{provider.pk}/file-nope/delete/", follow=True
    )
    assert response.status_code == 200
    assert "No such File object: file-nope" in response.content.decode()
    response = client.get(
        f"/admin/conversations/trainingfile/provider/{provider.pk}/file-nope/", follow=True
    )
    assert "No such File object: file-nope" in response.content.decode()
    form = {"provider": provider.pk, "training_file_id": "file-nope", "model": "gpt-4"}
    response = client.post("/admin/conversations/finetunejob/add/", form)
    assert response.status_code == 200
    assert "invalid training_file: file-nope" in response.content.decode()
    assert ops() == []


def test_a_training_file_is_built_from_chosen_conversations(client, alice, upstream_model):
    user = trainer(*ALL, "view_conversation", "export_conversation")
    client.force_login(user)
    conversation = Conversation.objects.create(owner=user, title="Support")
    question = Message.objects.create(
        conversation=conversation, role="user", content="Hi", status="sent"
    )
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="Hello!",
        status="complete",
    )  # fmt: skip
    conversation.current_leaf = answer
    conversation.save()
    page = client.post(
        "/admin/conversations/conversation/",
        {"action": "build_training_file", "_selected_action": [conversation.pk]},
    )
    assert "Build and check the file" in page.content.decode()
    response = client.post("/admin/conversations/trainingfile/build/", {
        "ids": str(conversation.pk), "provider": upstream_model.provider.pk, "branch": "latest",
        "system": "replace", "system_text": "Be brief.",
    })  # fmt: skip
    assert response.status_code == 302
    row = TrainingFile.objects.get()
    assert row.examples == 1 and row.created_by == user
    line = json.loads(open(row.path).read())  # noqa: SIM115
    assert line["messages"][0] == {"role": "system", "content": "Be brief."}
    assert line["messages"][-1]["content"] == "Hello!"


def test_a_fine_tuned_model_shows_its_lineage(client, upstream_model, superuser):
    from conversations.models import ModelConfig

    model = ModelConfig.objects.create(provider=upstream_model.provider, model_id="ft:gpt-4:x")
    FineTuneJob.objects.create(provider=upstream_model.provider, upstream_id="ftjob-1",
                               base_model="gpt-4", training_file_id_upstream="file-1",
                               status="succeeded", registered_model=model,
                               started_by=superuser)  # fmt: skip
    client.force_login(superuser)
    page = client.get(f"/admin/conversations/modelconfig/{model.pk}/change/").content.decode()
    assert "base model gpt-4, job ftjob-1, training file file-1, started by root" in page


def test_building_from_someone_elses_conversations_asks_for_a_reason(client, alice, upstream_model):
    from conversations.models import AuditEntry, SiteSettings

    SiteSettings.objects.update_or_create(pk=1, defaults={"review_policy": "full"})
    user = trainer(*ALL, "view_conversation", "export_conversation", "review_conversation")
    client.force_login(user)
    conversation = Conversation.objects.create(owner=alice, title="Alice's")
    question = Message.objects.create(conversation=conversation, role="user", content="Hi")
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="Hello!",
        status="complete",
    )  # fmt: skip
    conversation.current_leaf = answer
    conversation.save()
    form = {
        "ids": str(conversation.pk), "provider": upstream_model.provider.pk, "branch": "latest",
        "system": "omit",
    }  # fmt: skip
    refused = client.post("/admin/conversations/trainingfile/build/", form)
    assert refused.status_code == 200
    assert "Give a reason for reading someone else" in refused.content.decode()
    assert not TrainingFile.objects.exists()
    built = client.post("/admin/conversations/trainingfile/build/", {**form, "reason": "Ticket 9"})
    assert built.status_code == 302
    entry = AuditEntry.objects.get(action="export")
    assert (entry.owner_username, entry.details["purpose"]) == ("alice", "Ticket 9")
