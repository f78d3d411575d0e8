"""Completion documents over the websocket: the same turn machinery, the completions endpoint."""

import uuid

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message, ModelConfig, Persona, UsageDaily
from conversations.models.budgets import Reservation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def completion_model(upstream_model) -> ModelConfig:
    return ModelConfig.objects.create(
        provider=upstream_model.provider,
        model_id="gpt-3.5-turbo-instruct",
        kind=ModelConfig.Kind.COMPLETION,
        context_window=4096,
    )


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.select_related("conversation").get(pk=message_id)


@database_sync_to_async
def answers_of(conversation_id) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id, role="assistant"))


async def complete(socket, prompt: str, **extra) -> str:
    client_id = uuid.uuid4().hex
    frame = {"type": "complete", "content": prompt, "client_id": client_id, **extra}
    await socket.send(**{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in frame.items()})
    return client_id


async def completion_turn(socket, prompt: str, **extra):
    await complete(socket, prompt, **extra)
    answer = await socket.next_of_answer()
    done = await socket.next_of("done", message_id=answer["id"], timeout=20)
    return answer, done


def completion_requests(fake) -> list:
    return [r for r in fake.requests if r.path == "/v1/completions"]


async def test_a_completion_streams_over_the_socket_and_is_stored(
    alice, completion_model, fake, open_socket
):
    socket = await open_socket(alice)
    prompt = "[[fake:delay=10]] Tell a story:"
    answer, done = await completion_turn(socket, prompt, model=completion_model.pk)
    assert done["status"] == "complete"
    deltas = [f for f in socket.seen if f["type"] == "delta"]
    assert len(deltas) == 6  # token by token
    assert socket.text_of(answer["id"]) == " Once upon a time there was"
    row = await stored(answer["id"])
    assert row.content == " Once upon a time there was"
    assert row.conversation.mode == "completion"
    assert row.conversation.title == prompt
    body = completion_requests(fake)[-1].body
    assert body["prompt"] == prompt
    assert body["max_tokens"] == 16  # the API's default, made explicit
    assert body["stream"] is True
    assert len(body["user"]) == 32  # set by the server
    assert not fake.chat_requests


async def test_usage_is_recorded_and_the_reservation_settled(
    alice, completion_model, fake, open_socket
):
    socket = await open_socket(alice)
    answer, _done = await completion_turn(socket, "One two three", model=completion_model.pk)
    row = await stored(answer["id"])
    assert row.prompt_tokens == 3 and row.completion_tokens == 6
    charged = await database_sync_to_async(UsageDaily.objects.get)(user=alice)
    assert charged.completion_tokens == 6
    assert not await database_sync_to_async(Reservation.objects.exists)()


async def test_parameters_are_sent_and_logprobs_stored(alice, completion_model, fake, open_socket):
    socket = await open_socket(alice)
    params = {"logprobs": 2, "suffix": " The end.", "temperature": 0.3, "stop": ["fox"]}
    answer, done = await completion_turn(socket, "Story:", model=completion_model.pk, params=params)
    body = completion_requests(fake)[-1].body
    assert body["suffix"] == " The end." and body["logprobs"] == 2 and body["stop"] == ["fox"]
    row = await stored(answer["id"])
    assert len(row.logprobs) == 7  # six words and the " …" that leads into the suffix
    first = row.logprobs[0]
    assert first["token"] == " Once"
    assert first["logprob"] == pytest.approx(-0.05)
    assert set(first["top"]) == {" Once", " alt1"}
    assert done["logprobs"][0]["token"] == " Once"  # the browser gets them


async def test_echo_puts_the_prompt_in_the_result(alice, completion_model, fake, open_socket):
    socket = await open_socket(alice)
    params = {"echo": True, "logprobs": 1}
    answer, _done = await completion_turn(
        socket, "Dear diary,", model=completion_model.pk, params=params
    )
    row = await stored(answer["id"])
    assert row.content.startswith("Dear diary, Once upon")
    assert row.logprobs[0]["token"] == "Dear" and row.logprobs[0]["logprob"] is None


async def test_best_of_runs_unstreamed_and_returns_n(alice, completion_model, fake, open_socket):
    socket = await open_socket(alice)
    params = {"best_of": 3, "n": 2}
    answer, _done = await completion_turn(socket, "Go:", model=completion_model.pk, params=params)
    body = completion_requests(fake)[-1].body
    assert body["stream"] is False and body["best_of"] == 3
    rows = await answers_of(answer["conversation_id"])
    assert len(rows) == 2 and all(r.status == "complete" for r in rows)
    assert answer["params"]["best_of"] == 3  # the page shows "working…" from this
    deltas = [f for f in socket.seen if f["type"] == "delta" and f["message_id"] == answer["id"]]
    assert len(deltas) == 1  # the whole result at once


async def test_a_length_cut_can_be_continued(alice, completion_model, fake, open_socket):
    socket = await open_socket(alice)
    answer, done = await completion_turn(
        socket, "[[fake:tokens=9]] Go:", model=completion_model.pk, params={"max_tokens": 4}
    )
    assert done["status"] == "truncated" and done["finish_reason"] == "length"
    await socket.send(type="continue", message_id=answer["id"], client_id=uuid.uuid4().hex)
    await socket.next_of("done", message_id=answer["id"], timeout=20)
    body = completion_requests(fake)[-1].body
    assert body["prompt"] == "[[fake:tokens=9]] Go: Once upon a time"
    row = await stored(answer["id"])
    assert row.content == " Once upon a time Once upon a time"
    assert row.status == "truncated"


async def test_regenerate_makes_a_sibling(alice, completion_model, fake, open_socket):
    socket = await open_socket(alice)
    answer, _done = await completion_turn(socket, "Go:", model=completion_model.pk)
    await socket.send(type="regenerate", message_id=answer["id"], client_id=uuid.uuid4().hex)
    second = await socket.next_of_answer()
    await socket.next_of("done", message_id=second["id"], timeout=20)
    assert second["parent_id"] == answer["parent_id"] and second["id"] != answer["id"]
    assert completion_requests(fake)[-1].body["prompt"] == "Go:"
    assert not fake.chat_requests


async def test_stop_ends_a_streaming_completion(alice, completion_model, fake, open_socket):
    socket = await open_socket(alice)
    await complete(socket, "[[fake:tokens=200,delay=50]] Go:", model=completion_model.pk)
    answer = await socket.next_of_answer()
    await socket.next_of("delta", message_id=answer["id"])
    await socket.send(type="stop", message_id=answer["id"])
    done = await socket.next_of("done", message_id=answer["id"])
    assert done["status"] == "stopped"


async def test_a_persona_template_wraps_the_prompt_and_its_locks_hold(
    alice, completion_model, fake, open_socket
):
    persona = await database_sync_to_async(Persona.objects.create)(
        owner=alice,
        name="Poet",
        model=completion_model,
        prompt_template="A poem about {{prompt}}:\n",
        default_params={"max_tokens": 5},
        overridable_params=[],  # max_tokens locked
    )
    socket = await open_socket(alice)
    await completion_turn(socket, "the sea", persona_id=str(persona.pk))
    body = completion_requests(fake)[-1].body
    assert body["prompt"] == "A poem about the sea:\n"
    assert body["max_tokens"] == 5 and body["model"] == "gpt-3.5-turbo-instruct"
    await complete(socket, "rain", persona_id=str(persona.pk), params={"max_tokens": 9})
    refused = await socket.next_of("error")
    assert refused["code"] == "invalid_params" and "max_tokens" in refused["fields"]


async def test_bad_parameters_are_refused_naming_them(alice, completion_model, open_socket):
    socket = await open_socket(alice)
    await complete(socket, "Go:", model=completion_model.pk, params={"best_of": 2, "n": 2})
    refused = await socket.next_of("error")
    assert refused["code"] == "invalid_params" and set(refused["fields"]) == {"best_of"}
    await complete(socket, "Go:", model=completion_model.pk, params={"max_tokens": 4096})
    refused = await socket.next_of("error")
    assert "max_tokens" in refused["fields"]  # prompt + max_tokens over the window


async def test_a_chat_model_is_no_completion_model(alice, upstream_model, open_socket):
    socket = await open_socket(alice)
    await complete(socket, "Go:", model=upstream_model.pk)
    refused = await socket.next_of("error")
    assert refused["code"] == "not_found"


async def test_bob_cannot_continue_or_regenerate_alices_completion(
    alice, bob, completion_model, fake, open_socket
):
    mine = await open_socket(alice)
    answer, _done = await completion_turn(mine, "Go:", model=completion_model.pk)
    theirs = await open_socket(bob)
    for kind in ("regenerate", "continue"):
        await theirs.send(type=kind, message_id=answer["id"], client_id=uuid.uuid4().hex)
        assert (await theirs.next_of("error"))["code"] == "not_found"
    await complete(theirs, "Go:", conversation_id=answer["conversation_id"])
    assert (await theirs.next_of("error"))["code"] == "not_found"
    count = await database_sync_to_async(Conversation.objects.filter(owner=bob).count)()
    assert count == 0


async def test_the_budget_holds_max_tokens_for_every_best_of_candidate(
    alice, completion_model, fake, open_socket
):
    from conversations.models import Quota

    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=30)
    socket = await open_socket(alice)
    params = {"max_tokens": 10, "best_of": 3}
    await complete(socket, "Go:", model=completion_model.pk, params=params)
    refused = await socket.next_of("error")
    assert (refused["code"], refused["unit"]) == ("quota_exceeded", "tokens")  # 2 + 10 × 3
    _answer, done = await completion_turn(
        socket, "Go:", model=completion_model.pk, params={"max_tokens": 10}
    )
    assert done["status"] == "complete"  # 2 + 10 fits


# --- Pages, export, review --------------------------------------------------------


@pytest.fixture
def document(alice, completion_model) -> Conversation:
    conversation = Conversation.objects.create(
        owner=alice, title="Story", mode="completion", model=completion_model
    )
    prompt = Message.objects.create(conversation=conversation, role="user", content="Once")
    answer = Message.objects.create(
        conversation=conversation, parent=prompt, role="assistant", content=" upon",
        status="complete", params={"logprobs": 1},
        logprobs=[{"token": " upon", "logprob": -0.1, "top": {" upon": -0.1}, "offset": 4}],
    )  # fmt: skip
    conversation.current_leaf = answer
    conversation.save()
    return conversation


def test_a_document_opens_on_its_own_page(client, alice, document):
    client.force_login(alice)
    response = client.get(f"/c/{document.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/documents/{document.pk}/"
    page = client.get(f"/documents/{document.pk}/")
    assert page.status_code == 200
    assert b"continues the text you write" in page.content
    assert b'" upon"' in page.content  # the stored run, in the boot data


def test_bob_gets_404_for_alices_document(client, bob, document):
    client.force_login(bob)
    assert client.get(f"/documents/{document.pk}/").status_code == 404


def test_the_chat_picker_offers_completion_models_as_documents(client, alice, completion_model):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert f"/documents/new/?model={completion_model.pk}" in page
    new = client.get(f"/documents/new/?model={completion_model.pk}")
    assert new.status_code == 200 and b"gpt-3.5-turbo-instruct" in new.content


def test_the_export_keeps_the_mode_and_logprobs(client, alice, document):
    import io
    import json
    import zipfile

    client.force_login(alice)
    response = client.post("/export/", {"scope": "all"})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    exported = json.loads(archive.read(f"json/{document.pk}.json"))
    assert exported["mode"] == "completion"
    answer = next(m for m in exported["messages"] if m["role"] == "assistant")
    assert answer["logprobs"][0]["token"] == " upon"


def test_a_persona_for_a_completion_model_is_made_with_a_template(client, alice, completion_model):
    client.force_login(alice)
    form = {
        "name": "Poet", "avatar": "🪶", "description": "", "system_prompt": "",
        "model": completion_model.pk, "visibility": "private",
        "overridable_params": ["temperature"], "starter_prompts": "",
        "prompt_template": "A poem about {{prompt}}:\n", "max_tokens": "30", "temperature": "0.5",
    }  # fmt: skip
    response = client.post("/personas/new/", form)
    persona = Persona.objects.get(name="Poet")
    assert response["Location"] == f"/personas/{persona.pk}/"
    assert persona.prompt_template == "A poem about {{prompt}}:\n"
    assert persona.default_params == {"max_tokens": 30, "temperature": 0.5}
    assert persona.locked_params == ["max_tokens"]
    page = client.get(f"/personas/{persona.pk}/").content.decode()
    assert "A poem about {{prompt}}:" in page
    assert "{{prompt}} is replaced by your text" in page


async def test_a_provider_refusal_ends_the_answer_with_a_typed_error(
    alice, completion_model, fake, open_socket
):
    socket = await open_socket(alice)
    answer, done = await completion_turn(
        socket, "[[fake:status=400]] Go:", model=completion_model.pk
    )
    assert done["status"] == "error"
    assert done["error"]["code"] and "fake" not in done["error"]["message"]  # our words
    assert (await stored(answer["id"])).status == "error"


def test_staff_review_a_completion_document_like_a_chat(client, alice, document):
    from conversations.models import SiteSettings
    from tests.test_admin_review import READING, REVIEWER, staff_with, transcript_url

    settings = SiteSettings.load()
    settings.review_policy = "full"
    settings.save()
    client.force_login(staff_with(*REVIEWER))
    response = client.post(transcript_url(document), READING)
    assert response.status_code == 200
    assert "Once" in response.content.decode() and " upon" in response.content.decode()


async def test_a_flagged_prompt_is_moderated_and_never_completed(
    alice, completion_model, fake, open_socket
):
    from conversations.models import SiteSettings

    def moderate_everything():
        site = SiteSettings.load()
        site.moderation_provider = completion_model.provider
        site.moderation_enabled = True
        site.save()

    await database_sync_to_async(moderate_everything)()
    socket = await open_socket(alice)
    answer, done = await completion_turn(socket, "FLAGME:hate", model=completion_model.pk)
    assert done["status"] == "moderated"
    assert not completion_requests(fake)  # the completion model never saw it
    conversation = (await stored(answer["id"])).conversation
    assert conversation.flagged and conversation.flag_source == "moderation"
