"""What operators rely on: /healthz, request ids, logs without secrets, sign-out."""

import json
import logging

import pytest
from channels.db import database_sync_to_async

from conversations.models import Provider
from conversations.observability import JsonFormatter, RedactSecretsFilter, RequestIdFilter
from tests.cluster.seed import session_cookie
from tests.sockets import ChatSocket


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_database_channel_layer_and_upstream(client, upstream_model):
    response = client.get("/healthz", HTTP_HOST="10.0.0.7")  # balancers probe by address
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["channel_layer"]["ok"]
    assert body["checks"]["upstream"] == {"ok": True, "providers": 1, "failing": 0}
    assert "Fake" not in response.content.decode()  # names stay private


@pytest.mark.django_db(transaction=True)
def test_healthz_is_degraded_not_down_when_the_upstream_is_unreachable(client, upstream_model):
    Provider.objects.update(base_url="http://127.0.0.1:9/v1")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["upstream"]["failing"] == 1


@pytest.mark.django_db
def test_healthz_needs_no_sign_in_and_no_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz")
    assert response.status_code == 200


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client):
    generated = client.get("/accounts/login/")["X-Request-ID"]
    assert len(generated) == 32
    passed = client.get("/accounts/login/", HTTP_X_REQUEST_ID="proxy-abc.123")["X-Request-ID"]
    assert passed == "proxy-abc.123"
    hostile = client.get("/accounts/login/", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"]
    assert hostile != "<script>"


def log_line(message: str, *args) -> dict:
    record = logging.LogRecord("chatsite", logging.ERROR, __file__, 1, message, args, None)
    for log_filter in (RequestIdFilter(), RedactSecretsFilter()):
        log_filter.filter(record)
    return json.loads(JsonFormatter().format(record))


def test_log_lines_are_json_with_the_request_id_and_no_keys():
    line = log_line("calling with key %s and Bearer %s", "sk-proj-abcdef123456", "tok12345678")
    assert line["level"] == "ERROR"
    assert "request_id" in line
    assert "sk-proj-abcdef123456" not in line["message"]
    assert "tok12345678" not in line["message"]


@pytest.mark.django_db(transaction=True)
async def test_signing_out_closes_the_sessions_open_sockets(alice, client, runtime):
    cookie = await database_sync_to_async(session_cookie)(alice)
    socket = ChatSocket(cookie)
    connected, _ = await socket.connect()
    assert connected
    name, value = cookie.split("=", 1)
    client.cookies[name] = value
    await database_sync_to_async(client.post)("/accounts/logout/")
    closed = await socket.communicator.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4401}
