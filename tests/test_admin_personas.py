"""Personas in the admin: every persona, the same form and rules, versions shown."""

import io

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from conversations.models import Persona
from tests.conftest import PASSWORD

URL = "/admin/conversations/persona/"


@pytest.fixture
def moderator(db) -> User:
    user = User.objects.create_user("moderator", password=PASSWORD, is_staff=True)
    codenames = ("view_persona", "change_persona")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def admin_form(persona: Persona, **changes) -> dict:
    form = {
        "owner": persona.owner_id,
        "name": persona.name,
        "avatar": persona.avatar,
        "description": persona.description,
        "system_prompt": persona.system_prompt,
        "model": persona.model_id or "",
        "starter_prompts": "",
        "overridable_params": list(persona.overridable_params),
        "visibility": persona.visibility,
        "versions-TOTAL_FORMS": 0,
        "versions-INITIAL_FORMS": persona.versions.count(),
        "versions-MIN_NUM_FORMS": 0,
        "versions-MAX_NUM_FORMS": 1000,
    }
    form.update(changes)
    return form


def test_staff_see_every_persona_including_private_ones(client, moderator, persona, bob):
    Persona.objects.create(owner=bob, name="Bob's secret")
    client.force_login(moderator)
    page = client.get(URL).content.decode()
    assert "Pirate" in page and "Bob&#x27;s secret" in page


def test_staff_edit_any_persona_with_the_chat_rules_and_a_new_version(client, moderator, persona):
    client.force_login(moderator)
    url = f"{URL}{persona.pk}/change/"
    response = client.post(url, admin_form(persona, temperature="7"))
    assert "Must be from 0 to 2." in response.content.decode()
    form = admin_form(persona, system_prompt="Talk like a robot.", temperature="0.2",
                      overridable_params=["max_tokens"], logit_bias="hello: -100")  # fmt: skip
    assert client.post(url, form).status_code == 302
    persona.refresh_from_db()
    assert persona.version == 2
    assert persona.owner.username == "alice"
    assert persona.default_params == {"temperature": 0.2, "logit_bias": {"15339": -100}}
    assert persona.overridable_params == ["max_tokens"]
    page = client.get(url).content.decode()
    assert "Talk like a robot." in page
    assert page.count('class="field-version"') >= 2  # the version history inline


def test_staff_share_a_persona_with_any_team(client, moderator, persona):
    sales = Group.objects.create(name="sales")
    client.force_login(moderator)
    form = admin_form(persona, visibility="team", teams=[sales.pk])
    assert client.post(f"{URL}{persona.pk}/change/", form).status_code == 302
    assert list(persona.teams.all()) == [sales]


def test_an_avatar_uploaded_in_the_admin_is_checked_and_previewed(
    client, moderator, persona, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(moderator)
    url = f"{URL}{persona.pk}/change/"
    svg = SimpleUploadedFile("a.svg", b"<svg/>", "image/svg+xml")
    response = client.post(url, admin_form(persona, avatar_upload=svg))
    assert "SVG images are not accepted" in response.content.decode()
    data = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(data, format="PNG")
    image = SimpleUploadedFile("a.png", data.getvalue(), "image/png")
    assert client.post(url, admin_form(persona, avatar_upload=image)).status_code == 302
    persona.refresh_from_db()
    page = client.get(url).content.decode()
    assert f'<img src="{persona.avatar_url}"' in page
    assert client.get(persona.avatar_url).status_code == 200  # staff may load it


def test_staff_without_persona_permissions_cannot_load_private_avatars(
    client, staff, persona, settings, tmp_path
):
    from conversations.avatars import clean_avatar

    settings.MEDIA_ROOT = tmp_path
    data = io.BytesIO()
    Image.new("RGB", (8, 8)).save(data, format="PNG")
    persona.replace_avatar_image(clean_avatar(SimpleUploadedFile("a.png", data.getvalue())))
    persona.save()
    client.force_login(staff)
    assert client.get(persona.avatar_url).status_code == 404
