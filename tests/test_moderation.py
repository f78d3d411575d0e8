"""Moderation: the moderations endpoint checks a message before the model sees it."""

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async

from conversations.llm import ProtocolError
from conversations.llm.moderation import moderation_results
from conversations.models import (
    AuditEntry,
    Conversation,
    Message,
    Persona,
    SiteSettings,
    UsageDaily,
)
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)


def configure(provider, **fields) -> SiteSettings:
    site = SiteSettings.load()
    site.moderation_provider = provider
    for name, value in {"moderation_enabled": True, **fields}.items():
        setattr(site, name, value)
    site.save()
    return site


@pytest.fixture
def moderated_site(upstream_model):
    return configure(upstream_model.provider)


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.select_related("conversation").get(pk=message_id)


@database_sync_to_async
def conversation_of(conversation_id) -> Conversation:
    return Conversation.objects.get(pk=conversation_id)


@database_sync_to_async
def audit_flags(conversation_id) -> list[dict]:
    rows = AuditEntry.objects.filter(action=AuditEntry.Action.FLAG, conversation_id=conversation_id)
    return [row.details | {"actor": row.actor_username} for row in rows]


@database_sync_to_async
def usage(purpose: str) -> list[UsageDaily]:
    return list(UsageDaily.objects.filter(purpose=purpose))


def moderation_requests(fake) -> list:
    return [r for r in fake.requests if r.path == "/v1/moderations"]


async def ended(socket, **send) -> tuple[dict, dict]:
    """Send, then the answer's `message` frame and its `done` frame."""
    await socket.send_message(**send) if "content" in send else await socket.send(**send)
    answer = await socket.next_of_answer()
    done = await socket.next_of("done", message_id=answer["id"], timeout=20)
    return answer, done


# --- A flagged message ---------------------------------------------------------------


async def test_it_refuses_a_flagged_message_and_names_its_categories(
    alice, moderated_site, fake, open_socket
):
    socket = await open_socket(alice)
    answer, done = await ended(socket, content="You are awful FLAGME")
    assert done["status"] == "moderated"
    assert done["error"]["code"] == "moderated"
    assert "not sent" in done["error"]["message"]
    question = next(
        f["message"] for f in socket.seen
        if f["type"] == "message" and f["message"]["status"] == "moderated"
    )  # fmt: skip
    assert question["id"] == answer["parent_id"]
    assert question["moderation"]["categories"] == ["harassment", "violence"]
    assert question["moderation"]["scores"]["violence"] == 0.91
    assert fake.chat_requests == []  # nothing went to the chat model
    kinds = [f["type"] for f in socket.seen]
    flagged = socket.seen[kinds.index("conversation")]  # before the answer's end
    assert kinds.index("conversation") < kinds.index("done")
    assert flagged["conversation"]["flagged"] is True
    assert flagged["conversation"]["flag_source"] == "moderation"
    [check] = moderation_requests(fake)
    assert check.body == {"input": "You are awful FLAGME", "model": "omni-moderation-latest"}
    stored_question = await stored(question["id"])
    assert stored_question.status == "moderated"
    assert stored_question.content == "You are awful FLAGME"  # kept
    refused_answer = await stored(answer["id"])
    assert refused_answer.content == ""
    assert (refused_answer.prompt_tokens, refused_answer.completion_tokens) == (0, 0)
    assert done["usage"]["prompt_tokens"] == 0


async def test_a_flagged_message_flags_its_conversation_as_the_system_and_audits_it(
    alice, moderated_site, fake, open_socket
):
    socket = await open_socket(alice)
    answer, _done = await ended(socket, content="FLAGME:hate")
    conversation = await conversation_of(answer["conversation_id"])
    assert conversation.flagged
    assert conversation.flag_source == "moderation"
    assert conversation.flagged_by_id is None  # neither staff's nor the owner's
    assert "hate" in conversation.flag_reason
    [entry] = await audit_flags(conversation.pk)
    assert entry["by"] == "moderation"
    assert entry["actor"] == ""
    assert entry["categories"] == ["hate"]


async def test_a_flagged_message_charges_moderation_and_not_the_chat_model(
    alice, moderated_site, fake, open_socket
):
    socket = await open_socket(alice)
    await ended(socket, content="FLAGME")
    [row] = await usage("moderation")
    assert (row.requests, row.model_name) == (1, "omni-moderation-latest")
    assert row.prompt_tokens > 0
    assert await usage("chat") == []


def test_the_owner_cannot_clear_a_moderation_flag(client, alice, chat_model):
    conversation = Conversation.objects.create(
        owner=alice, flagged=True, flag_reason="moderation: hate", flag_source="moderation"
    )
    client.force_login(alice)
    response = client.patch(
        f"/api/conversations/{conversation.pk}",
        json.dumps({"flagged": False}),
        content_type="application/json",
    )
    assert response.status_code == 403
    conversation.refresh_from_db()
    assert conversation.flagged


# --- A clean message --------------------------------------------------------------


async def test_a_clean_message_is_checked_then_answered(alice, moderated_site, fake, open_socket):
    fake.enqueue(Scenario(tokens=["Hi", "!"]))
    socket = await open_socket(alice)
    result = await socket.turn("Hello there")
    assert result.status == "complete"
    assert result.text == "Hi!"
    paths = [r.path for r in fake.requests]
    assert paths.index("/v1/moderations") < paths.index("/v1/chat/completions")
    conversation = await conversation_of(result.conversation_id)
    assert not conversation.flagged
    assert len(await usage("moderation")) == 1
    assert len(await usage("chat")) == 1


async def test_nothing_is_checked_when_moderation_is_off(alice, upstream_model, fake, open_socket):
    socket = await open_socket(alice)
    result = await socket.turn("FLAGME but nobody checks")
    assert result.status == "complete"
    assert moderation_requests(fake) == []


async def test_the_model_name_comes_from_the_site_settings(
    alice, upstream_model, fake, open_socket
):
    await database_sync_to_async(configure)(
        upstream_model.provider, moderation_model="text-moderation-latest"
    )
    socket = await open_socket(alice)
    await socket.turn("Hello")
    [check] = moderation_requests(fake)
    assert check.body["model"] == "text-moderation-latest"


# --- The answer check ---------------------------------------------------------------


async def test_a_flagged_answer_is_kept_and_its_conversation_flagged(
    alice, upstream_model, fake, open_socket
):
    await database_sync_to_async(configure)(upstream_model.provider, moderate_answers=True)
    fake.enqueue(Scenario(tokens=["Here is ", "FLAGME:violence"]))
    socket = await open_socket(alice)
    result = await socket.turn("Tell me a story")
    assert result.status == "complete"
    conversation = await _flagged_soon(result.conversation_id)
    assert "answer" in conversation.flag_reason
    answer = await stored(result.message_id)
    assert answer.content == "Here is FLAGME:violence"  # flagged, not hidden
    assert answer.moderation["categories"] == ["violence"]
    assert [r.body["input"] for r in moderation_requests(fake)][-1] == "Here is FLAGME:violence"


async def test_answers_are_not_checked_unless_the_setting_says_so(
    alice, moderated_site, fake, open_socket
):
    fake.enqueue(Scenario(tokens=["FLAGME"]))
    socket = await open_socket(alice)
    result = await socket.turn("Hello")
    await asyncio.sleep(0.3)
    assert len(moderation_requests(fake)) == 1  # the question only
    assert not (await conversation_of(result.conversation_id)).flagged


async def _flagged_soon(conversation_id) -> Conversation:
    for _ in range(50):  # the answer's check runs after its `done`
        conversation = await conversation_of(conversation_id)
        if conversation.flagged:
            return conversation
        await asyncio.sleep(0.1)
    raise AssertionError("the conversation was never flagged")


# --- When the check fails ---------------------------------------------------------


@pytest.mark.parametrize("marker", ["MODFAIL", "MODGARBLE", "MODNOTJSON"])
async def test_a_failed_check_refuses_the_message_when_failing_closed(
    alice, moderated_site, fake, open_socket, marker
):
    socket = await open_socket(alice)
    answer, done = await ended(socket, content=f"Hello {marker}")
    assert done["status"] == "error"
    assert done["error"]["code"] == "moderation_unavailable"
    assert "could not be done" in done["error"]["message"]
    assert "Sorry about that" not in str(socket.seen)  # the provider's words stay in the log
    assert fake.chat_requests == []
    question = await stored(answer["parent_id"])
    assert question.status == "sent"


async def test_a_check_that_times_out_fails_closed(
    alice, moderated_site, fake, open_socket, settings
):
    settings.CHATSITE_MODERATION_TIMEOUT = 0.5
    socket = await open_socket(alice)
    _answer, done = await ended(socket, content="Hello MODHANG")
    assert done["error"]["code"] == "moderation_unavailable"
    assert fake.chat_requests == []


async def test_a_failed_check_sends_and_flags_unchecked_when_failing_open(
    alice, upstream_model, fake, open_socket
):
    await database_sync_to_async(configure)(upstream_model.provider, moderation_on_failure="open")
    socket = await open_socket(alice)
    result = await socket.turn("Hello MODFAIL")
    assert result.status == "complete"
    assert len(fake.chat_requests) == 1
    conversation = await conversation_of(result.conversation_id)
    assert conversation.flagged
    assert conversation.flag_reason == "moderation: unchecked"
    question = await stored(result.answer["parent_id"])
    assert question.moderation["unchecked"] is True
    [entry] = await audit_flags(conversation.pk)
    assert entry["unchecked"] is True


# --- Per persona ----------------------------------------------------------------------


@pytest.fixture
def guarded_persona(alice, upstream_model):
    configure(upstream_model.provider, moderation_enabled=False)
    return Persona.objects.create(
        owner=alice, name="Guarded", model=upstream_model, moderation=True
    )


async def test_a_persona_checks_its_messages_when_the_site_does_not(
    alice, guarded_persona, fake, open_socket
):
    socket = await open_socket(alice)
    _answer, done = await ended(socket, content="FLAGME", persona_id=str(guarded_persona.pk))
    assert done["status"] == "moderated"
    unguarded = await socket.turn("FLAGME too")
    assert unguarded.status == "complete"  # without the persona nothing is checked
    assert len(moderation_requests(fake)) == 1


async def test_a_persona_may_fail_open_where_the_site_fails_closed(
    alice, guarded_persona, fake, open_socket
):
    guarded_persona.moderation_on_failure = "open"
    await database_sync_to_async(guarded_persona.save)()
    socket = await open_socket(alice)
    _answer, done = await ended(socket, content="MODFAIL", persona_id=str(guarded_persona.pk))
    assert done["status"] == "complete"


# --- Edit and regenerate -----------------------------------------------------------


async def test_an_edit_is_checked_before_it_is_sent(alice, moderated_site, fake, open_socket):
    socket = await open_socket(alice)
    first = await socket.turn("A fine question")
    question_id = first.answer["parent_id"]
    client_id = uuid.uuid4().hex
    _answer, done = await ended(
        socket, type="edit", message_id=question_id, content="Now FLAGME", client_id=client_id
    )
    assert done["status"] == "moderated"
    assert len(fake.chat_requests) == 1  # only the first question's answer


async def test_a_regenerate_checks_the_question_again(alice, upstream_model, fake, open_socket):
    socket = await open_socket(alice)
    first = await socket.turn("FLAGME said before moderation was on")
    await database_sync_to_async(configure)(upstream_model.provider)
    client_id = uuid.uuid4().hex
    _answer, done = await ended(
        socket, type="regenerate", message_id=first.message_id, client_id=client_id
    )
    assert done["status"] == "moderated"
    assert (await stored(first.answer["parent_id"])).status == "moderated"
    assert len(fake.chat_requests) == 1


async def test_a_refused_question_is_left_out_of_later_prompts(
    alice, moderated_site, fake, open_socket
):
    socket = await open_socket(alice)
    answer, _done = await ended(socket, content="FLAGME secret")
    result = await socket.turn("A clean question", conversation_id=answer["conversation_id"])
    assert result.status == "complete"
    [request] = fake.chat_requests
    assert request.body["messages"] == [{"role": "user", "content": "A clean question"}]


async def test_a_refused_question_passing_a_new_check_is_sent_again(
    alice, moderated_site, fake, open_socket
):
    socket = await open_socket(alice)
    answer, _done = await ended(socket, content="FLAGME after all")
    moderated_site.moderation_model = "lenient-moderation"
    await database_sync_to_async(moderated_site.save)()
    _regenerated, done = await ended(
        socket, type="regenerate", message_id=answer["id"], client_id=uuid.uuid4().hex
    )
    assert done["status"] == "complete"
    assert (await stored(answer["parent_id"])).status == "sent"
    [request] = fake.chat_requests
    assert request.body["messages"][-1] == {"role": "user", "content": "FLAGME after all"}


async def test_a_refused_question_cannot_be_regenerated_once_checks_are_off(
    alice, moderated_site, fake, open_socket
):
    socket = await open_socket(alice)
    answer, _done = await ended(socket, content="FLAGME")
    moderated_site.moderation_enabled = False
    await database_sync_to_async(moderated_site.save)()
    await socket.send(type="regenerate", message_id=answer["id"], client_id=uuid.uuid4().hex)
    error = await socket.next_of("error")
    assert error["code"] == "moderated"
    assert "edit it" in error["message"]
    assert fake.chat_requests == []


# --- Reports, admin and the wire -----------------------------------------------------


def test_the_usage_report_counts_moderation_apart(admin_client, alice):
    UsageDaily.objects.charge(
        user_id=alice.pk, model=None, model_name="omni-moderation-latest", prompt=12,
        completion=0, estimated=True, purpose="moderation",
    )  # fmt: skip
    page = admin_client.get("/admin/conversations/usagedaily/?group=purpose").content.decode()
    assert "moderation checks" in page


def test_staff_set_moderation_in_the_site_settings_and_on_a_persona(
    admin_client, provider, persona
):
    page = admin_client.get("/admin/conversations/sitesettings/", follow=True).content.decode()
    assert 'name="moderation_model"' in page
    assert 'name="moderation_on_failure"' in page
    page = admin_client.get(f"/admin/conversations/persona/{persona.pk}/change/").content.decode()
    assert 'name="moderation"' in page


def test_the_chat_page_carries_the_category_names(client, alice, chat_model):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert '"self-harm/intent": "intent of self-harm"' in page


@pytest.mark.parametrize(
    "payload",
    [None, [], {"results": "no"}, {"results": []}, {"results": [{"flagged": "yes"}]},
     {"results": [{"flagged": True, "categories": ["hate"]}]}],
)  # fmt: skip
def test_unreadable_moderation_bodies_are_protocol_errors(payload):
    with pytest.raises(ProtocolError):
        moderation_results(payload, 1)


def test_a_moderation_body_gives_the_flagged_categories():
    from tests.fake_moderation import result_for

    [result] = moderation_results({"results": [result_for("FLAGME")]}, 1)
    assert result.flagged
    assert result.categories == ["harassment", "violence"]


def test_the_owner_and_staff_see_that_the_moderation_check_set_the_flag(
    client, admin_client, alice
):
    conversation = Conversation.objects.create(
        owner=alice, flagged=True, flag_reason="moderation: hate", flag_source="moderation"
    )
    client.force_login(alice)
    data = client.get(f"/api/conversations/{conversation.pk}").json()
    assert data["conversation"]["flag_source"] == "moderation"
    page = admin_client.get(f"/admin/conversations/conversation/{conversation.pk}/change/")
    assert "flag source" in page.content.decode().lower()


def test_a_moderation_flag_staff_change_becomes_theirs(client, alice):
    from tests.test_review_flags import flagged_by_staff, flagger

    conversation = Conversation.objects.create(
        owner=alice, flagged=True, flag_reason="moderation: hate", flag_source="moderation"
    )
    staff = flagger()
    flagged_by_staff(client, conversation, staff)
    assert conversation.flagged_by == staff
    assert conversation.system_flag == ""
    client.force_login(alice)
    data = client.get(f"/api/conversations/{conversation.pk}").json()["conversation"]
    assert data["flag_source"] is None
    assert data["flagged_by_staff"] is True


def test_a_copy_of_a_checked_persona_is_checked_too(client, alice, bob, chat_model):
    persona = Persona.objects.create(
        owner=alice, name="Guarded", model=chat_model, visibility="everyone",
        moderation=True, moderation_on_failure="open",
    )  # fmt: skip
    client.force_login(bob)
    assert client.post(f"/personas/{persona.pk}/duplicate/").status_code == 302
    copy = Persona.objects.get(owner=bob)
    assert (copy.moderation, copy.moderation_on_failure) == (True, "open")


def test_an_owner_editing_a_checked_persona_keeps_the_check(client, alice, chat_model):
    persona = Persona.objects.create(owner=alice, name="Guarded", model=chat_model, moderation=True)
    client.force_login(alice)
    from tests.test_personas_pages import persona_form

    client.post(f"/personas/{persona.pk}/edit/", persona_form(name="Renamed"))
    persona.refresh_from_db()
    assert persona.name == "Renamed"  # the edit went through
    assert persona.moderation is True


# --- The client and the fake, on the wire ----------------------------------------------


def wire_client(fake):
    from conversations.llm import LLMClient, ProviderSettings

    settings = ProviderSettings(base_url=fake.base_url, allow_local_network=True, max_retries=0)
    return LLMClient(settings)


async def test_the_client_checks_several_inputs_in_one_request(fake):
    client = wire_client(fake)
    try:
        results = await client.moderate(["fine", "FLAGME:sexual"], "omni-moderation-latest")
    finally:
        await client.aclose()
    assert [r.flagged for r in results] == [False, True]
    assert results[1].categories == ["sexual"]
    assert set(results[0].scores) == set(results[1].scores)  # every category scored
    assert fake.requests[-1].body["input"] == ["fine", "FLAGME:sexual"]


async def test_a_failing_moderations_endpoint_is_a_typed_error(fake):
    from conversations.llm import ServerError

    client = wire_client(fake)
    try:
        with pytest.raises(ServerError) as failure:
            await client.moderate(["MODFAIL"], "omni-moderation-latest")
    finally:
        await client.aclose()
    assert failure.value.code == "upstream_error"
    assert failure.value.status == 500


def test_the_fake_refuses_a_request_without_input_as_the_api_does(fake):
    import httpx

    response = httpx.post(f"{fake.base_url}/moderations", json={"model": "x"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "input",
        None,
    )
