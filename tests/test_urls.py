"""No URL is written by hand: templates use {% url %}, scripts use the boot data
that the chat page builds with reverse(), so the site works under any prefix."""

import re
from pathlib import Path

import pytest
from django.test.utils import override_script_prefix
from django.urls import resolve

from conversations.models import Conversation

ROOT = Path(__file__).resolve().parent.parent
# A quoted path in a template attribute; in a script, a string or template
# literal that starts like a path ("/api/…", `/c/${id}/`) or joins one on
# (`${base}/${id}`, which guesses how the URLconf nests).
TEMPLATE_PATH = re.compile(r"""(?:href|action|src|data-[\w-]+)=["']/""")
SCRIPT_PATH = re.compile(r"""["'`]/[\w$]|\$\{[\w.]*urls?\b[\w.]*\}/""", re.IGNORECASE)
PREFIX = "/team"


def boot_of(response) -> dict:
    return response.context["boot"]


@pytest.fixture
def alices_chat(alice):
    return Conversation.objects.create(owner=alice, title="Lisbon")


def test_every_url_of_the_chat_page_follows_the_site_prefix(client, alice):
    client.force_login(alice)
    with override_script_prefix(PREFIX + "/"):  # as Daphne's --root-path sets it
        response = client.get("/")
    assert response.status_code == 200
    urls = boot_of(response)["urls"]
    for name, url in urls.items():
        if name != "id":
            assert url.startswith(PREFIX + "/"), name
    assert urls["socket"] == PREFIX + "/ws/chat/"
    assert urls["personas"] == PREFIX + "/personas/"
    assert f'href="{PREFIX}/personas/"' in response.content.decode()


def test_the_conversation_url_templates_lead_to_the_conversation(client, alice, alices_chat):
    client.force_login(alice)
    urls = boot_of(client.get("/"))["urls"]
    page = urls["conversation"].replace(urls["id"], str(alices_chat.id))
    detail = urls["conversation_detail"].replace(urls["id"], str(alices_chat.id))
    assert resolve(page).url_name == "conversation"
    assert client.get(page).context["conversation"] == alices_chat
    assert client.get(detail).json()["conversation"]["title"] == "Lisbon"


def test_the_socket_path_given_to_the_page_is_the_chat_route(client, alice):
    from conversations.consumers import ChatConsumer
    from conversations.routing import websocket_urlpatterns

    client.force_login(alice)
    socket = boot_of(client.get("/"))["urls"]["socket"]
    routed = [r for r in websocket_urlpatterns if r.pattern.match(socket.lstrip("/"))]
    assert getattr(routed[0].callback, "consumer_class", None) is ChatConsumer


def test_no_template_writes_a_path_by_hand():
    found = [
        f"{path.relative_to(ROOT)}: {match.group()}"
        for path in (ROOT / "templates").rglob("*.html")
        for match in TEMPLATE_PATH.finditer(path.read_text())
    ]
    assert found == []


def test_no_script_writes_a_path_by_hand():
    found = [
        f"{path.relative_to(ROOT)}: {match.group()}"
        for path in (ROOT / "static" / "js").rglob("*.js")
        for line in path.read_text().splitlines()
        if not line.lstrip().startswith("//")
        for match in SCRIPT_PATH.finditer(line)
    ]
    assert found == []
