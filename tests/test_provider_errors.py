"""What a provider says in an error is for the log and staff; users read a short text by code."""

import json
import logging
import re

import pytest
from channels.db import database_sync_to_async
from django.utils import translation

from conversations import errors
from conversations.llm import LLMClient, ProviderSettings, ServerError, redact
from conversations.models import Message, Provider
from tests.fakeupstream import Scenario
from tests.upgrade import upgrade

LEAKY_PAGE = (
    "<html><body><h1>502 Bad Gateway</h1><p>upstream vllm-03.gpu.internal.corp:8000 said: "
    "Traceback: connect('postgresql://svc:hunter2@db.internal.corp/llm') password=hunter2"
    "</p></body></html>"
)
INTERNALS = ("vllm-03", "internal.corp", "Traceback", "hunter2", "Bad Gateway")


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.get(pk=message_id)


@database_sync_to_async
def provider_of(model) -> Provider:
    return Provider.objects.get(pk=model.provider_id)


def leaky_failures(fake, count: int = 3) -> None:
    for _ in range(count):  # every retry fails the same way
        fake.enqueue(
            Scenario(
                status=502,
                raw_body=LEAKY_PAGE,
                content_type="text/html",
                headers={"x-request-id": "req_abc123"},
            )
        )


@pytest.mark.django_db(transaction=True)
async def test_the_user_never_sees_what_the_provider_said(
    alice, upstream_model, fake, fast_streaming, open_socket, caplog
):
    leaky_failures(fake)
    socket = await open_socket(alice)
    with caplog.at_level(logging.WARNING, logger="conversations.turn.stream"):
        result = await socket.turn("Hello")
    answer = await stored(result.message_id)

    assert result.done["error"] == {
        "code": "upstream_error",
        "message": errors.user_message("upstream_error"),
    }
    assert answer.error_message == errors.user_message("upstream_error")
    shown = str(socket.seen)
    for secret in INTERNALS:
        assert secret not in shown
    # The log has the provider's words (with its request id), less the password.
    logged = caplog.text
    assert "vllm-03.gpu.internal.corp" in logged and "req_abc123" in logged
    assert str(result.message_id) in logged
    assert "hunter2" not in logged


@pytest.mark.django_db(transaction=True)
async def test_the_provider_keeps_its_last_error_for_staff(
    alice, upstream_model, fake, fast_streaming, open_socket
):
    leaky_failures(fake)
    socket = await open_socket(alice)
    await socket.turn("Hello")
    provider = await provider_of(upstream_model)

    assert provider.last_error_at is not None
    assert provider.last_error_code == "upstream_error"
    assert "vllm-03.gpu.internal.corp" in provider.last_error_detail
    assert "req_abc123" in provider.last_error_detail
    assert "hunter2" not in provider.last_error_detail
    assert len(provider.last_error_detail) <= 1000


@pytest.mark.django_db(transaction=True)
async def test_an_error_inside_the_stream_is_shown_by_its_code(
    alice, upstream_model, fake, fast_streaming, open_socket
):
    fake.enqueue(Scenario(error_after=1))
    socket = await open_socket(alice)
    result = await socket.turn("Hello")
    assert result.done["error"]["message"] == errors.user_message("upstream_stream_error")
    assert "processing your request" not in str(socket.seen)


async def test_the_client_keeps_the_body_as_detail_and_its_own_words_as_message(fake):
    leaky_failures(fake)
    client = LLMClient(ProviderSettings(fake.base_url, backoff_base=0.01, allow_local_network=True))
    try:
        with pytest.raises(ServerError) as failure:
            await client.complete_chat({"model": "m", "messages": []})
    finally:
        await client.aclose()
    error = failure.value
    assert error.message == ServerError.default_message
    assert "vllm-03.gpu.internal.corp" in error.detail
    assert error.request_id == "req_abc123"
    assert "hunter2" not in error.detail and "hunter2" not in error.describe()


@pytest.mark.parametrize(
    "text, hidden",
    [
        ("postgresql://svc:hunter2@db/llm", "hunter2"),
        ("password=hunter2 user=svc", "hunter2"),
        ('{"api_key": "abc123secret"}', "abc123secret"),
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("key sk-proj-abcdefghijkl", "sk-proj-abcdefghijkl"),
    ],
)
def test_redact_hides_passwords_and_keys(text, hidden):
    assert hidden not in redact(text)


def test_every_provider_error_code_has_a_chinese_text():
    with translation.override("zh-hans"):
        table = errors.user_messages()
    with translation.override("en"):
        english = errors.user_messages()
    untranslated = [code for code in table if table[code] == english[code]]
    assert untranslated == []


def test_the_chat_page_carries_the_table_in_the_users_language(client, alice, chat_model):
    client.force_login(alice)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    boot = json.loads(re.search(r'<script id="boot"[^>]*>(.*?)</script>', page, re.S).group(1))
    with translation.override("zh-hans"):
        assert boot["error_messages"]["rate_limited"] == errors.user_message("rate_limited")
    with translation.override("en"):
        assert boot["error_messages"]["rate_limited"] != errors.user_message("rate_limited")


def test_staff_see_the_details_when_testing_the_connection(admin_client, db):
    provider = Provider.objects.create(
        name="Down", base_url="http://127.0.0.1:9/v1", allow_local_network=True
    )
    url = f"/admin/conversations/provider/{provider.pk}/test-connection/"
    page = admin_client.post(url).content.decode()

    assert "upstream_unreachable" in page
    assert "Connect call failed" in page  # the network's own words, for staff
    provider.refresh_from_db()
    assert provider.last_error_code == "upstream_unreachable"
    change = admin_client.get(f"/admin/conversations/provider/{provider.pk}/change/")
    assert "Connect call failed" in change.content.decode()


@pytest.mark.django_db(transaction=True)
def test_answers_stored_before_the_upgrade_lose_the_providers_words():
    with upgrade(
        "0005_provider_last_error_local_network", "0006_forget_provider_error_bodies"
    ) as step:
        owner = step.apps.get_model("auth", "User").objects.create(username="early")
        chat = step.apps.get_model("conversations", "Conversation").objects.create(owner=owner)
        OldMessage = step.apps.get_model("conversations", "Message")
        question = OldMessage.objects.create(conversation=chat, role="user", content="Hi")
        leaked = "<html>502 from gpu-7.internal.corp, password=hunter2</html>"
        answer = OldMessage.objects.create(
            conversation=chat, parent=question, role="assistant", status="error",
            error_code="upstream_error", error_message=leaked,
        )  # fmt: skip
        after = step.run()
        stored = after.get_model("conversations", "Message").objects.get(pk=answer.pk).error_message
    assert stored == errors.user_message("upstream_error")
    assert "internal" not in stored
