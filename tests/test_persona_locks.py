"""Persona locks: only a parameter the persona sets can be fixed, and none is by default.

A new persona used to lock every parameter (the form ticked no "users may
change" box), so the chat's panel showed every field "fixed by the persona"
although it set none. Personas saved that way keep their data; the locks on
parameters they leave unset are ignored everywhere they count.
"""

import json
import re

import pytest
from channels.db import database_sync_to_async
from playwright.sync_api import expect

from conversations.models import Persona
from conversations.params import PARAM_NAMES
from tests.browser import screenshot
from tests.fakeupstream import Scenario


def ticked_boxes(html: str) -> set[str]:
    boxes = re.findall(r'<input type="checkbox" name="overridable_params"[^>]*>', html)
    return {re.search(r'value="([^"]+)"', b).group(1) for b in boxes if " checked" in b}


def boot_persona(html: str, persona: Persona) -> dict:
    boot = json.loads(
        re.search(r'<script id="boot" type="application/json">(.*?)</script>', html, re.S).group(1)
    )
    return next(p for p in boot["personas"] if p["id"] == str(persona.pk))


@pytest.fixture
def old_style(alice, chat_model) -> Persona:
    """A persona saved by the old form: every box unticked, one parameter set."""
    return Persona.objects.create(
        owner=alice, name="Old", model=chat_model,
        default_params={"temperature": 0.2}, overridable_params=[],
    )  # fmt: skip


def test_a_new_persona_form_leaves_every_parameter_open(client, alice):
    client.force_login(alice)
    html = client.get("/personas/new/").content.decode()
    assert ticked_boxes(html) == set(PARAM_NAMES)


def test_a_persona_that_sets_nothing_locks_nothing_even_with_every_box_unticked(alice, chat_model):
    persona = Persona.objects.create(owner=alice, name="Bare", overridable_params=[])
    assert persona.locked_params == []
    assert persona.changeable_params == list(PARAM_NAMES)


def test_only_the_parameters_a_persona_sets_stay_locked(old_style):
    assert old_style.locked_params == ["temperature"]
    assert "top_p" in old_style.changeable_params
    assert "temperature" not in old_style.changeable_params


def test_the_chat_page_offers_every_parameter_the_persona_leaves_unset(client, alice, old_style):
    client.force_login(alice)
    html = client.get(f"/?persona={old_style.pk}").content.decode()
    persona = boot_persona(html, old_style)
    assert persona["overridable"] == [n for n in PARAM_NAMES if n != "temperature"]


def test_editing_an_older_persona_shows_its_unset_parameters_open(client, alice, old_style):
    client.force_login(alice)
    html = client.get(f"/personas/{old_style.pk}/edit/").content.decode()
    assert ticked_boxes(html) == set(PARAM_NAMES) - {"temperature"}


def test_the_persona_page_marks_only_set_and_locked_parameters_fixed(client, alice, old_style):
    client.force_login(alice)
    html = client.get(f"/personas/{old_style.pk}/").content.decode()
    may_change = re.search(r"Users may change:(.*?)</p>", html, re.S).group(1)
    assert "<code>top_p</code>" in may_change
    assert "<code>temperature</code>" not in may_change
    # Fixed badges sit beside values only: temperature's, now and in version 1.
    assert html.count('<span class="badge">') == 2


@database_sync_to_async
def make_old_style(owner, model) -> Persona:
    return Persona.objects.create(
        owner=owner, name="Old", model=model,
        default_params={"temperature": 0.2}, overridable_params=[],
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
async def test_the_socket_accepts_unset_parameters_and_refuses_the_locked_one(
    alice, upstream_model, fake, open_socket
):
    persona = await make_old_style(alice, upstream_model)
    socket = await open_socket(alice)
    await socket.send_message(
        "Hi", persona_id=str(persona.pk), params={"temperature": 1.5}, client_id="locked"
    )
    reply = await socket.next_of("error", client_id="locked")
    assert reply["fields"] == {"temperature": "is fixed by the persona."}
    fake.enqueue(Scenario(tokens=["ok"]))
    result = await socket.turn("Hi", persona_id=str(persona.pk), params={"top_p": 0.5})
    body = fake.chat_requests[-1].body
    assert (body["temperature"], body["top_p"]) == (0.2, 0.5)
    assert result.answer["params"] == {"temperature": 0.2, "top_p": 0.5}


# --- In the browser -----------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_form_only_lets_a_parameter_with_a_value_be_fixed(browse, alice, chat_model):
    page, watched = browse(alice, path="/personas/new/")
    temperature_box = page.locator("input[name=overridable_params][value=temperature]")
    top_p_box = page.locator("input[name=overridable_params][value=top_p]")
    expect(temperature_box).to_be_checked()
    expect(temperature_box).to_be_disabled()  # no value: nothing to fix
    page.fill("#id_name", "Careful")
    page.fill("#id_temperature", "0.3")
    expect(temperature_box).to_be_enabled()
    temperature_box.uncheck()
    page.fill("#id_top_p", "0.5")
    page.fill("#id_top_p", "")  # a value typed and removed: open again
    expect(top_p_box).to_be_checked()
    expect(top_p_box).to_be_disabled()
    page.locator(".param-table").scroll_into_view_if_needed()
    screenshot(page, "desktop-light-persona-locks")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/personas/[0-9a-f-]+/$"))
    persona = Persona.objects.get(name="Careful")
    assert persona.default_params == {"temperature": 0.3}
    assert persona.locked_params == ["temperature"]
    assert set(persona.overridable_params) == set(PARAM_NAMES) - {"temperature"}
    assert watched.errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_chat_panel_shows_only_the_locked_parameter_fixed(browse, alice, chat_model):
    persona = Persona.objects.create(
        owner=alice, name="Old", model=chat_model,
        default_params={"temperature": 0.2}, overridable_params=[],
    )  # fmt: skip
    page, watched = browse(alice, path=f"/?persona={persona.pk}")
    page.click("#params-toggle")
    expect(page.locator("#param-temperature")).to_be_disabled()
    expect(page.locator("#param-top_p")).to_be_enabled()
    expect(page.locator("#param-max_tokens")).to_be_enabled()
    screenshot(page, "desktop-light-chat-persona-locks")
    assert watched.errors == []
