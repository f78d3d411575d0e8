"""Image generation from the chat: an image model turns a message into images that
become the site's own files, served only to those who may see the conversation,
exported, deleted with it, and charged per image against the budgets."""

import asyncio
import io
import json
import zipfile
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission, User
from django.core.files.storage import default_storage
from django.test import Client

from conversations import params
from conversations.models import (
    Conversation,
    GeneratedImage,
    Message,
    ModelConfig,
    Persona,
    Quota,
    Share,
    SiteSettings,
    UsageDaily,
)
from conversations.params import ParamsInvalid

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n"
PRICE = Decimal("0.02")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # default_storage follows the setting
    return tmp_path


@pytest.fixture
def image_model(upstream_model) -> ModelConfig:
    return ModelConfig.objects.create(
        provider=upstream_model.provider, model_id="dall-e-2", kind="image",
        context_window=8192, price_per_image=PRICE,
    )  # fmt: skip


async def imagine(socket, prompt: str, model: ModelConfig, **extra) -> tuple[dict, dict]:
    """Send an image frame; returns the answer's message and its done frame."""
    await socket.send_message(prompt, type="image", model=model.pk, **extra)
    answer = await socket.next_of_answer()
    done = await socket.next_of("done", message_id=answer["id"], timeout=30)
    return answer, done


async def refusal(socket, prompt: str, model: ModelConfig, **extra) -> dict:
    client_id = await socket.send_message(prompt, type="image", model=model.pk, **extra)
    return await socket.next_of("error", client_id=client_id)


def get_as(user, url: str):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(url)


def image_requests(fake) -> list:
    return [r for r in fake.requests if r.path == "/v1/images/generations"]


# --- Parameters (the seeds' table) ------------------------------------------------------


def test_the_rules_fill_in_the_apis_defaults():
    assert params.validate_image_params(None) == {
        "n": 1,
        "size": "1024x1024",
        "response_format": "url",
    }


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"n": 0}, "n"),
        ({"n": 11}, "n"),
        ({"n": 2.5}, "n"),
        ({"n": True}, "n"),
        ({"size": "999x999"}, "size"),
        ({"size": "1792x1024"}, "size"),
        ({"response_format": "png"}, "response_format"),
        ({"quality": "hd"}, "quality"),
        ({"user": "mallory"}, "user"),  # the server sets it
        ({"prompt": "another"}, "prompt"),  # the message is the prompt
    ],
)
def test_it_refuses_out_of_range_image_parameters(raw, field):
    with pytest.raises(ParamsInvalid) as refused:
        params.validate_image_params(raw)
    assert field in refused.value.errors


def test_a_model_config_may_allow_more_sizes():
    sizes = params.image_sizes(["1792x1024", "nonsense", 7])
    assert sizes == ("256x256", "512x512", "1024x1024", "1792x1024")
    assert params.validate_image_params({"size": "1792x1024"}, sizes=sizes)["size"] == "1792x1024"


def test_it_refuses_a_prompt_over_the_apis_length():
    with pytest.raises(ParamsInvalid):
        params.check_image_prompt("x" * 1001)


async def test_the_socket_refuses_bad_image_parameters_before_any_call(
    alice, image_model, fake, open_socket
):
    socket = await open_socket(alice)
    for bad in ({"n": 11}, {"size": "2x2"}, {"response_format": "jpeg"}):
        error = await refusal(socket, "A cat", image_model, params=bad)
        assert error["code"] == "invalid_params"
        assert set(error["fields"]) == set(bad)
    assert image_requests(fake) == []


# --- Happy paths ------------------------------------------------------------------------


@pytest.mark.parametrize("response_format", ["b64_json", "url"])
async def test_it_stores_and_serves_the_images_of_either_format(
    alice, image_model, fake, open_socket, response_format
):
    socket = await open_socket(alice)
    chosen = {"n": 2, "size": "256x256", "response_format": response_format}
    answer, done = await imagine(socket, "Two cats", image_model, params=chosen)
    assert answer["status"] == "streaming" and answer["images"] == []  # generating…
    assert done["status"] == "complete" and done["error"] is None
    assert len(done["images"]) == 2
    body = image_requests(fake)[0].body
    assert {k: body[k] for k in chosen} == chosen
    assert body["prompt"] == "Two cats" and body["model"] == "dall-e-2"
    assert len(body["user"]) == 32 and body["user"] != str(alice.pk)  # set by the server

    for url in done["images"]:
        assert url.startswith("/images/")
        response = await database_sync_to_async(get_as)(alice, url)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content).startswith(PNG)

    rows = await database_sync_to_async(list)(GeneratedImage.objects.order_by("index"))
    assert [r.content_type for r in rows] == ["image/png", "image/png"]
    assert all(default_storage.exists(r.file.name) for r in rows)


async def test_url_results_are_fetched_once_from_the_providers_host(
    alice, image_model, fake, open_socket
):
    socket = await open_socket(alice)
    await imagine(socket, "A dog", image_model, params={"response_format": "url"})
    fetched = [r for r in fake.requests if r.path.startswith("/v1/images/files/")]
    assert len(fetched) == 1


async def test_a_send_with_an_image_model_makes_images_too(alice, image_model, open_socket):
    socket = await open_socket(alice)
    result = await socket.turn(
        "A bird", model=image_model.pk, params={"response_format": "b64_json"}
    )
    assert result.status == "complete"
    assert len(result.done["images"]) == 1


async def test_the_conversation_page_lists_the_images(alice, image_model, open_socket):
    socket = await open_socket(alice)
    answer, done = await imagine(socket, "A fish", image_model)
    response = await database_sync_to_async(get_as)(
        alice, f"/api/conversations/{answer['conversation_id']}"
    )
    messages = response.json()["messages"]
    stored = next(m for m in messages if m["id"] == answer["id"])
    assert stored["images"] == done["images"]


# --- What the provider sends that is refused ------------------------------------------------


@pytest.mark.parametrize(
    "mode, response_format, code",
    [
        ("not_image", "url", "image_not_an_image"),
        ("not_image", "b64_json", "image_not_an_image"),
        ("huge", "url", "image_too_large"),
        ("foreign", "url", "image_foreign_host"),
        ("missing", "url", "image_refused"),
        ("error", "url", "bad_request"),
    ],
)
async def test_it_keeps_nothing_the_provider_sends_that_is_not_a_safe_image(
    alice, image_model, fake, open_socket, mode, response_format, code
):
    socket = await open_socket(alice)
    chosen = {"response_format": response_format}
    _answer, done = await imagine(socket, f"A cat [[image:{mode}]]", image_model, params=chosen)
    assert done["status"] == "error"
    assert done["error"]["code"] == code
    assert done["images"] == []
    assert await database_sync_to_async(GeneratedImage.objects.count)() == 0
    assert await database_sync_to_async(UsageDaily.objects.filter(images__gt=0).count)() == 0


async def test_another_hosts_url_is_never_fetched(alice, image_model, fake, open_socket):
    socket = await open_socket(alice)
    await imagine(socket, "A cat [[image:foreign]]", image_model)
    assert [r for r in fake.requests if r.path.startswith("/v1/images/files/")] == []


async def test_a_base64_image_over_the_size_setting_is_refused(
    alice, image_model, open_socket, settings
):
    settings.CHATSITE_IMAGE_MAX_BYTES = 1024
    socket = await open_socket(alice)
    chosen = {"response_format": "b64_json"}
    _answer, done = await imagine(socket, "A cat [[image:huge]]", image_model, params=chosen)
    assert done["error"]["code"] in ("image_too_large", "upstream_protocol")


async def test_stop_cancels_the_image_request(alice, image_model, fake, open_socket):
    socket = await open_socket(alice)
    await socket.send_message("A cat [[image:slow]]", type="image", model=image_model.pk)
    answer = await socket.next_of_answer()
    await fake.wait_for_requests_async(1)
    await asyncio.sleep(0.1)
    await socket.send(type="stop", message_id=answer["id"])
    done = await socket.next_of("done", message_id=answer["id"], timeout=3)
    assert done["status"] == "stopped" and done["images"] == []
    stored = await database_sync_to_async(Message.objects.get)(pk=answer["id"])
    assert stored.status == "stopped"


# --- Who may see them ---------------------------------------------------------------------


async def test_another_users_image_url_is_not_found(alice, bob, image_model, open_socket):
    socket = await open_socket(alice)
    _answer, done = await imagine(socket, "Secret", image_model)
    url = done["images"][0]
    assert (await database_sync_to_async(get_as)(bob, url)).status_code == 404
    assert (await database_sync_to_async(get_as)(None, url)).status_code != 200
    assert (await database_sync_to_async(get_as)(alice, "/images/not-a-uuid")).status_code == 404


async def test_a_team_the_conversation_is_shared_with_may_see_its_images(
    alice, bob, team, image_model, open_socket
):
    socket = await open_socket(alice)
    answer, done = await imagine(socket, "For the team", image_model)

    @database_sync_to_async
    def share():
        alice.groups.add(team)
        bob.groups.add(team)
        conversation = Conversation.objects.get(pk=answer["conversation_id"])
        Share.objects.create(conversation=conversation, team=team, created_by=alice)

    await share()
    assert (await database_sync_to_async(get_as)(bob, done["images"][0])).status_code == 200


# --- Deleted with the conversation, exported --------------------------------------------------


async def test_images_are_deleted_with_the_conversation(alice, image_model, open_socket):
    socket = await open_socket(alice)
    answer, done = await imagine(socket, "Ephemeral", image_model, params={"n": 2})

    @database_sync_to_async
    def delete():
        names = list(GeneratedImage.objects.values_list("file", flat=True))
        assert len(names) == 2 and all(default_storage.exists(n) for n in names)
        client = Client()
        client.force_login(alice)
        response = client.delete(f"/api/conversations/{answer['conversation_id']}")
        assert response.status_code in (200, 204)
        return names

    names = await delete()
    assert await database_sync_to_async(GeneratedImage.objects.count)() == 0
    assert not any(default_storage.exists(n) for n in names)
    assert (await database_sync_to_async(get_as)(alice, done["images"][0])).status_code == 404


async def test_the_export_zip_includes_the_image_files(alice, image_model, open_socket):
    socket = await open_socket(alice)
    answer, _done = await imagine(socket, "Keep me", image_model, params={"n": 2})

    @database_sync_to_async
    def export():
        client = Client()
        client.force_login(alice)
        response = client.post("/export/", {"scope": "all"})
        return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))

    archive = await export()
    document = json.loads(archive.read(f"json/{answer['conversation_id']}.json"))
    listed = document["images"]
    assert [i["message_id"] for i in listed] == [answer["id"], answer["id"]]
    for image in listed:
        assert archive.read(image["file"]).startswith(PNG)


# --- Usage and budgets ------------------------------------------------------------------------


async def test_images_are_charged_per_image(alice, image_model, open_socket):
    socket = await open_socket(alice)
    await imagine(socket, "Three", image_model, params={"n": 3})
    row = await database_sync_to_async(UsageDaily.objects.get)(user=alice)
    assert (row.images, row.cost, row.requests) == (3, PRICE * 3, 1)


async def test_the_budget_must_hold_every_image_before_the_call(
    alice, image_model, fake, open_socket
):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_cost=Decimal("0.05"))
    socket = await open_socket(alice)
    error = await refusal(socket, "Too many", image_model, params={"n": 3})  # 0.06
    assert (error["code"], error["unit"]) == ("quota_exceeded", "cost")
    assert image_requests(fake) == []
    _answer, done = await imagine(socket, "Two fit", image_model, params={"n": 2})  # 0.04
    assert done["status"] == "complete"
    error = await refusal(socket, "No more", image_model)  # 0.04 spent, 0.02 more is over
    assert error["code"] == "quota_exceeded"


# --- Personas, regenerating, the admin's export -------------------------------------------


async def test_an_image_persona_makes_images_from_a_plain_send(alice, image_model, open_socket):
    @database_sync_to_async
    def painter():
        return Persona.objects.create(owner=alice, name="Painter", model=image_model)

    persona = await painter()
    socket = await open_socket(alice)
    result = await socket.turn("A lighthouse", persona_id=str(persona.pk))
    assert result.status == "complete"
    assert len(result.done["images"]) == 1


async def test_regenerating_an_image_answer_makes_new_images(alice, image_model, fake, open_socket):
    socket = await open_socket(alice)
    first, _done = await imagine(socket, "A tree", image_model)
    await socket.send(
        type="regenerate", message_id=first["id"], client_id="again", model=image_model.pk
    )
    answer = await socket.next_of_answer()
    done = await socket.next_of("done", message_id=answer["id"], timeout=30)
    assert answer["parent_id"] == first["parent_id"] and answer["id"] != first["id"]
    assert done["status"] == "complete" and len(done["images"]) == 1
    assert [r.body["prompt"] for r in image_requests(fake)] == ["A tree", "A tree"]


async def test_the_admins_export_notes_the_images(alice, image_model, open_socket):
    socket = await open_socket(alice)
    answer, _done = await imagine(socket, "For review", image_model, params={"n": 2})

    @database_sync_to_async
    def exported(action: str) -> str:
        site = SiteSettings.load()
        site.review_policy = "full"  # staff may read (and export) every conversation
        site.save()
        staff = User.objects.create_user(f"exporter-{action}", is_staff=True, password="x" * 20)
        codenames = ("view_conversation", "export_conversation")
        staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client = Client()
        client.force_login(staff)
        response = client.post(
            "/admin/conversations/conversation/",
            {
                "reason": "Review images",
                "action": action,
                "_selected_action": [answer["conversation_id"]],
            },
        )
        return b"".join(response.streaming_content).decode()

    document = json.loads(await exported("export_json"))
    listed = document["conversations"][0]["images"]
    assert [i["message_id"] for i in listed] == [answer["id"]] * 2
    assert "_(2 generated images)_" in await exported("export_markdown")


def test_the_demo_has_an_image_model():
    from conversations.management.commands.demo_provider import ensure_demo_provider

    ensure_demo_provider("http://127.0.0.1:9/v1")
    ensure_demo_provider("http://127.0.0.1:9/v1")  # idempotent
    painter = ModelConfig.objects.get(model_id="dall-e-2")
    assert (painter.kind, painter.enabled) == ("image", True)


async def test_a_reviewers_transcript_shows_the_images_inline(alice, image_model, open_socket):
    socket = await open_socket(alice)
    answer, _done = await imagine(socket, "Look at this", image_model, params={"n": 2})

    @database_sync_to_async
    def transcript(reason: str | None) -> str:
        site = SiteSettings.load()
        site.review_policy = "full"
        site.save()
        reviewer, _new = User.objects.get_or_create(username="reviewer", is_staff=True)
        codenames = ("view_conversation", "review_conversation")
        reviewer.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client = Client()
        client.force_login(reviewer)
        url = f"/admin/conversations/conversation/{answer['conversation_id']}/transcript/"
        return client.post(url, {"reason": reason} if reason else {}).content.decode()

    assert "data:image/png;base64," not in await transcript(None)  # no reason, no images
    page = await transcript("Abuse report #3")
    assert page.count('src="data:image/png;base64,iVBORw0KGgo') == 2


async def test_a_shared_link_page_carries_the_images_inline(alice, bob, image_model, open_socket):
    socket = await open_socket(alice)
    answer, _done = await imagine(socket, "For everyone", image_model)

    @database_sync_to_async
    def shared_page() -> str:
        from conversations import sharing

        conversation = Conversation.objects.get(pk=answer["conversation_id"])
        token = sharing.share_by_link(actor=alice, conversation=conversation)
        response = get_as(bob, f"/s/{token}/")  # links open to anyone signed in
        assert response.status_code == 200, response.status_code
        return response.content.decode()

    page = await shared_page()
    assert page.count("data:image/png;base64,iVBORw0KGgo") == 1
    assert "/images/" not in page  # nothing another visitor could open elsewhere


async def test_an_image_frame_with_a_chat_model_is_refused(
    alice, upstream_model, image_model, fake, open_socket
):
    socket = await open_socket(alice)
    error = await refusal(socket, "A cat", upstream_model)
    assert error["code"] == "not_image_model"
    assert fake.requests == []


async def test_an_image_prompt_is_moderated_before_the_images_endpoint_sees_it(
    alice, image_model, fake, open_socket
):
    from conversations.models import SiteSettings

    @database_sync_to_async
    def moderate():
        site = SiteSettings.load()
        site.moderation_provider, site.moderation_enabled = image_model.provider, True
        site.save()

    await moderate()
    socket = await open_socket(alice)
    _answer, done = await imagine(socket, "a cat FLAGME", image_model)
    assert done["status"] == "moderated"
    assert image_requests(fake) == []
    assert [r.path for r in fake.requests if r.path == "/v1/moderations"]
