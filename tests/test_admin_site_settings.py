"""Site settings: the site-wide prompt comes first, the policy is one row staff edit."""

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache

from conversations import review
from conversations.models import Persona, SiteSettings
from conversations.models.governance import SITE_SETTINGS_CACHE_KEY
from conversations.turn.prompt import system_messages


def configure(**values) -> SiteSettings:
    settings = SiteSettings.load()
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()
    return settings


def test_the_prompt_order_is_site_then_persona(persona):
    configure(system_prompt="Follow the house rules.")
    assert system_messages(persona) == [
        {"role": "system", "content": "Follow the house rules."},
        {"role": "system", "content": "Talk like a pirate."},
    ]
    assert system_messages(None) == [{"role": "system", "content": "Follow the house rules."}]


def test_without_a_site_prompt_only_the_persona_speaks(persona):
    assert system_messages(persona) == [{"role": "system", "content": "Talk like a pirate."}]


def test_a_saved_prompt_applies_at_once_despite_the_cache(persona):
    configure(system_prompt="One.")
    assert system_messages(None)[0]["content"] == "One."
    configure(system_prompt="Two.")
    assert system_messages(None)[0]["content"] == "Two."


def test_the_settings_are_read_from_the_cache_between_saves(persona, django_assert_num_queries):
    configure(system_prompt="Cached.")
    system_messages(None)
    with django_assert_num_queries(0):
        system_messages(persona)


@pytest.mark.django_db(transaction=True)
async def test_a_turn_sends_site_prompt_then_persona_then_conversation(
    alice, upstream_model, fake, open_socket
):
    await database_sync_to_async(configure)(system_prompt="House rules.")
    persona = await database_sync_to_async(Persona.objects.create)(
        owner=alice, name="Pirate", system_prompt="Talk like a pirate.", model=upstream_model
    )
    socket = await open_socket(alice)
    await socket.turn("Ahoy", persona_id=str(persona.pk))
    messages = fake.chat_requests[-1].body["messages"]
    assert messages == [
        {"role": "system", "content": "House rules."},
        {"role": "system", "content": "Talk like a pirate."},
        {"role": "user", "content": "Ahoy"},
    ]
    await database_sync_to_async(cache.delete)(SITE_SETTINGS_CACHE_KEY)


def test_the_admin_edits_the_one_settings_row(admin_client):
    response = admin_client.get("/admin/conversations/sitesettings/")
    assert response["Location"] == "/admin/conversations/sitesettings/1/change/"
    page = admin_client.get(response["Location"]).content.decode()
    assert "The prompt order is fixed" in page
    assert admin_client.get("/admin/conversations/sitesettings/add/").status_code == 403
    assert admin_client.get("/admin/conversations/sitesettings/1/delete/").status_code == 403
    form = {"system_prompt": "Be kind.", "review_policy": "off"}
    assert admin_client.post(response["Location"], form).status_code == 302
    assert SiteSettings.objects.get().system_prompt == "Be kind."
    assert system_messages(None) == [{"role": "system", "content": "Be kind."}]


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ("off", "staff cannot read your conversations"),
        ("flagged", "only when it is flagged for review"),
        ("full", "staff with review permission can read your conversations"),
    ],
)
def test_the_policy_summary_tells_users_what_applies(db, policy, words):
    configure(review_policy=policy)
    assert words in review.policy_summary()
