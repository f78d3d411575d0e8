"""Persona pages: the gallery, create, edit, duplicate, delete, versions, avatars."""

import io
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from conversations.models import Persona, PersonaVersion
from tests.conftest import make_user


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def carol(db):
    return make_user("carol")


@pytest.fixture
def team_persona(alice, team, chat_model):
    persona = Persona.objects.create(
        owner=alice, name="Team bot", visibility="team", model=chat_model, system_prompt="Be terse."
    )
    persona.teams.add(team)
    return persona


def png(width=300, height=200, color="red", fmt="PNG") -> SimpleUploadedFile:
    data = io.BytesIO()
    Image.new("RGB", (width, height), color).save(data, format=fmt)
    return SimpleUploadedFile(f"avatar.{fmt.lower()}", data.getvalue(), f"image/{fmt.lower()}")


def persona_form(**changes) -> dict:
    form = {
        "name": "Poet",
        "avatar": "🪶",
        "description": "Writes verse.",
        "system_prompt": "Answer in rhyme.",
        "model": "",
        "visibility": "private",
        "overridable_params": ["temperature", "max_tokens"],
        "starter_prompts": "A haiku about rain\nA limerick",
    }
    form.update(changes)
    return form


# --- Gallery and visibility -----------------------------------------------------------


def test_the_gallery_shows_own_team_and_everyone_personas(client, bob, team, alice, chat_model):
    bob.groups.add(team)
    Persona.objects.create(owner=bob, name="Mine")
    Persona.objects.create(owner=alice, name="Public", visibility="everyone")
    shared = Persona.objects.create(owner=alice, name="Shared", visibility="team")
    shared.teams.add(team)
    Persona.objects.create(owner=alice, name="Secret")
    client.force_login(bob)
    page = client.get("/personas/").content.decode()
    assert "Mine" in page and "Public" in page and "Shared" in page
    assert "Secret" not in page


def test_the_gallery_searches_and_filters_to_mine(client, alice, persona):
    Persona.objects.create(owner=alice, name="Chef", description="Cooks")
    client.force_login(alice)
    assert "Chef" not in client.get("/personas/?q=pirate").content.decode()
    assert "Pirate" in client.get("/personas/?q=pirate").content.decode()
    assert "Chef" in client.get("/personas/?scope=mine&q=cooks").content.decode()


def test_a_persona_card_links_to_a_chat_with_it(client, alice, persona):
    client.force_login(alice)
    page = client.get("/personas/").content.decode()
    assert f'href="/?persona={persona.pk}"' in page


def test_the_gallery_tells_users_the_review_policy(client, alice):
    client.force_login(alice)
    page = client.get("/personas/").content.decode()
    assert "History review is off" in page


def test_a_member_of_another_team_cannot_see_use_or_edit_a_team_persona(
    client, carol, team_persona, media
):
    other_team = team_persona.teams.model.objects.create(name="sales")
    carol.groups.add(other_team)
    client.force_login(carol)
    assert "Team bot" not in client.get("/personas/").content.decode()
    pk = team_persona.pk
    for url in [f"/personas/{pk}/", f"/personas/{pk}/edit/", f"/personas/{pk}/delete/"]:
        assert client.get(url).status_code == 404, url
    assert client.get(f"/personas/{pk}/avatar/").status_code == 404
    assert client.post(f"/personas/{pk}/duplicate/").status_code == 404
    assert client.post(f"/personas/{pk}/edit/", persona_form()).status_code == 404
    assert client.post(f"/personas/{pk}/delete/").status_code == 404
    assert Persona.objects.filter(owner=carol).count() == 0
    team_persona.refresh_from_db()
    assert team_persona.name == "Team bot"


def test_a_team_member_can_use_and_duplicate_but_not_edit(client, bob, team, team_persona):
    bob.groups.add(team)
    client.force_login(bob)
    assert client.get(f"/personas/{team_persona.pk}/").status_code == 200
    assert client.get(f"/personas/{team_persona.pk}/edit/").status_code == 404
    assert client.post(f"/personas/{team_persona.pk}/delete/").status_code == 404
    response = client.post(f"/personas/{team_persona.pk}/duplicate/")
    copy = Persona.objects.get(owner=bob)
    assert response["Location"] == f"/personas/{copy.pk}/edit/"


def test_guessed_and_malformed_ids_answer_404(client, alice):
    client.force_login(alice)
    assert client.get(f"/personas/{uuid.uuid4()}/").status_code == 404
    assert client.get(f"/personas/{uuid.uuid4()}/edit/").status_code == 404
    assert client.get("/personas/not-a-uuid/").status_code == 404
    assert client.get("/personas/1/avatar/").status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client, persona):
    response = client.get(f"/personas/{persona.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- Create, edit, versions ------------------------------------------------------------


def test_creating_a_persona_saves_it_as_version_1(client, alice, chat_model):
    client.force_login(alice)
    response = client.post("/personas/new/", persona_form(model=chat_model.pk, temperature="0.7"))
    persona = Persona.objects.get(name="Poet")
    assert response["Location"] == f"/personas/{persona.pk}/"
    assert persona.owner == alice
    assert persona.version == 1
    assert persona.default_params == {"temperature": 0.7}
    assert persona.overridable_params == ["temperature", "max_tokens"]
    assert persona.starter_prompts == ["A haiku about rain", "A limerick"]


def test_editing_what_shapes_answers_makes_a_new_version(client, alice, persona):
    client.force_login(alice)
    url = f"/personas/{persona.pk}/edit/"
    client.post(url, persona_form(name="Pirate", system_prompt="Talk like a parrot."))
    persona.refresh_from_db()
    assert persona.version == 2
    assert list(persona.versions.values_list("version", "system_prompt")) == [
        (2, "Talk like a parrot."),
        (1, "Talk like a pirate."),
    ]
    page = client.get(f"/personas/{persona.pk}/").content.decode()
    assert "Version 2" in page and "Version 1" in page


def test_editing_only_the_description_keeps_the_version(client, alice, persona):
    client.force_login(alice)
    form = persona_form(name="Pirate", system_prompt="Talk like a pirate.", description="Arr")
    form["model"] = persona.model_id
    form["overridable_params"] = list(persona.overridable_params)
    form["starter_prompts"] = ""
    response = client.post(f"/personas/{persona.pk}/edit/", form, follow=True)
    persona.refresh_from_db()
    assert persona.version == 1
    assert "version stays the same" in response.content.decode()


def test_only_the_owner_edits_but_staff_with_permission_edit_any(client, bob, staff, persona):
    persona.visibility = "everyone"
    persona.save()
    client.force_login(bob)
    assert client.get(f"/personas/{persona.pk}/edit/").status_code == 404
    staff.user_permissions.add(Permission.objects.get(codename="change_persona"))
    client.force_login(staff)
    response = client.post(f"/personas/{persona.pk}/edit/", persona_form(name="Moderated"))
    assert response.status_code == 302
    persona.refresh_from_db()
    assert persona.name == "Moderated"
    assert persona.owner.username == "alice"


def test_sharing_with_teams_needs_a_team_of_ones_own(client, alice, team):
    other = team.__class__.objects.create(name="elsewhere")
    alice.groups.add(team)
    client.force_login(alice)
    response = client.post("/personas/new/", persona_form(visibility="team"))
    assert "Choose at least one team" in response.content.decode()
    response = client.post("/personas/new/", persona_form(visibility="team", teams=[other.pk]))
    assert "Select a valid choice" in response.content.decode()
    response = client.post("/personas/new/", persona_form(visibility="team", teams=[team.pk]))
    assert response.status_code == 302
    assert list(Persona.objects.get().teams.all()) == [team]


def test_leaving_team_visibility_clears_the_teams(client, alice, team, team_persona):
    alice.groups.add(team)
    client.force_login(alice)
    form = persona_form(name="Team bot", visibility="everyone", teams=[team.pk])
    client.post(f"/personas/{team_persona.pk}/edit/", form)
    team_persona.refresh_from_db()
    assert team_persona.visibility == "everyone"
    assert team_persona.teams.count() == 0


def test_a_model_the_user_may_not_use_cannot_be_chosen(client, alice, team, chat_model):
    chat_model.allowed_groups.add(team)
    client.force_login(alice)
    response = client.post("/personas/new/", persona_form(model=chat_model.pk))
    assert "Select a valid choice" in response.content.decode()


def test_starter_prompts_are_limited(client, alice):
    client.force_login(alice)
    response = client.post("/personas/new/", persona_form(starter_prompts="x\n" * 7))
    assert "Up to 6 prompts" in response.content.decode()
    assert not Persona.objects.exists()


# --- Duplicate and delete ---------------------------------------------------------------


def test_duplicating_makes_a_private_copy_with_its_own_history(client, bob, persona, media):
    persona.visibility = "everyone"
    persona.replace_avatar_image(_avatar_file())
    persona.save()
    client.force_login(bob)
    client.post(f"/personas/{persona.pk}/duplicate/")
    copy = Persona.objects.get(owner=bob)
    assert copy.name == "Pirate (copy)"
    assert copy.visibility == "private"
    assert copy.system_prompt == persona.system_prompt
    assert copy.version == 1
    assert copy.avatar_image.name != persona.avatar_image.name
    assert copy.avatar_image.read() == persona.avatar_image.read()


def test_deleting_a_persona_keeps_its_conversations(
    client, alice, persona, media, django_capture_on_commit_callbacks
):
    from conversations.models import Conversation

    persona.replace_avatar_image(_avatar_file())
    persona.save()
    image = media / persona.avatar_image.name
    conversation = Conversation.objects.create(owner=alice, persona=persona)
    client.force_login(alice)
    confirm = client.get(f"/personas/{persona.pk}/delete/").content.decode()
    assert "1 conversation uses it" in confirm
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/personas/{persona.pk}/delete/")
    assert response["Location"] == "/personas/"
    assert not Persona.objects.exists()
    assert not PersonaVersion.objects.exists()
    conversation.refresh_from_db()
    assert conversation.persona is None
    assert not image.exists()


# --- Avatars ------------------------------------------------------------------------


def _avatar_file():
    from conversations.avatars import clean_avatar

    return clean_avatar(png())


def test_an_uploaded_avatar_is_re_encoded_and_served_to_those_who_see_the_persona(
    client, alice, bob, persona, media
):
    client.force_login(alice)
    form = persona_form(name="Pirate", avatar_upload=png(1000, 600, fmt="JPEG"))
    client.post(f"/personas/{persona.pk}/edit/", form)
    persona.refresh_from_db()
    assert persona.avatar_image.name.endswith(".png")
    with Image.open(persona.avatar_image.path) as stored:
        assert stored.format == "PNG"
        assert max(stored.size) == 256
    response = client.get(persona.avatar_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "private" in response["Cache-Control"]
    client.force_login(bob)
    assert client.get(persona.avatar_url).status_code == 404


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile(
                "a.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"
            ),
            "SVG images are not accepted",
        ),
        (
            SimpleUploadedFile("a.png", b'<?xml version="1.0"?><svg/>', "image/png"),
            "SVG images are not accepted",
        ),
        (SimpleUploadedFile("a.png", b"not an image at all", "image/png"), "This is not a PNG"),
        (
            SimpleUploadedFile("a.png", b"x" * (2 * 1024 * 1024 + 1), "image/png"),
            "larger than 2 MB",
        ),
    ],
)
def test_bad_avatar_uploads_are_refused(client, alice, media, upload, message):
    client.force_login(alice)
    response = client.post("/personas/new/", persona_form(avatar_upload=upload))
    assert message in response.content.decode()
    assert not Persona.objects.exists()
    assert not list(media.rglob("*.*"))


def test_an_avatar_of_huge_dimensions_is_refused_before_decoding(client, alice, media):
    client.force_login(alice)
    huge = png(5000, 10, fmt="PNG")
    response = client.post("/personas/new/", persona_form(avatar_upload=huge))
    assert "larger than 4096×4096 pixels" in response.content.decode()


def test_the_avatar_image_can_be_removed(
    client, alice, persona, media, django_capture_on_commit_callbacks
):
    persona.replace_avatar_image(_avatar_file())
    persona.save()
    old = media / persona.avatar_image.name
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/personas/{persona.pk}/edit/", persona_form(name="Pirate", remove_avatar_image="on")
        )
    persona.refresh_from_db()
    assert not persona.avatar_image
    assert persona.avatar_url == ""
    assert not old.exists()


def test_answers_carry_the_avatar_url(alice, persona, media):
    from conversations.models import Conversation, Message

    persona.replace_avatar_image(_avatar_file())
    persona.save()
    conversation = Conversation.objects.create(owner=alice, persona=persona)
    question = Message.objects.create(conversation=conversation, role="user", content="hi")
    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        status="complete",
        persona_version=persona.current_version(),
    )
    badge = answer.to_dict()["persona"]
    assert badge["avatar_url"] == persona.avatar_url
    assert badge["avatar_url"].startswith(f"/personas/{persona.pk}/avatar/?v=")
