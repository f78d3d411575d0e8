"""A provider's API key is write-only: no admin page ever renders it."""

import pytest

from conversations.models import Provider

CANARY = "sk-canary-7f3a9c1e5b2d4680"


@pytest.fixture
def keyed_provider(db):
    provider = Provider(name="Canary", base_url="https://api.example.com/v1")
    provider.set_api_key(CANARY)
    provider.save()
    return provider


def admin_pages(provider):
    return [
        "/admin/conversations/provider/",
        f"/admin/conversations/provider/{provider.pk}/change/",
        f"/admin/conversations/provider/{provider.pk}/history/",
        f"/admin/conversations/provider/{provider.pk}/delete/",
        "/admin/conversations/provider/add/",
    ]


def test_the_key_never_appears_in_any_provider_admin_page(admin_client, keyed_provider):
    for url in admin_pages(keyed_provider):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert CANARY.encode() not in response.content, url
        assert keyed_provider.api_key_encrypted.encode() not in response.content, url


def test_saving_the_form_without_a_key_keeps_the_stored_key(admin_client, keyed_provider):
    form = {
        "name": "Canary",
        "base_url": "https://api.example.com/v1",
        "api_key": "",
        "api_key_env": "",
        "organization": "",
        "connect_timeout": 10,
        "first_byte_timeout": 60,
        "idle_timeout": 60,
        "total_timeout": 600,
        "enabled": "on",
    }
    url = f"/admin/conversations/provider/{keyed_provider.pk}/change/"
    response = admin_client.post(url, form)
    assert response.status_code == 302
    assert Provider.objects.get().get_api_key() == CANARY


def test_a_key_entered_in_the_form_is_stored_encrypted(admin_client, db):
    form = {
        "name": "New",
        "base_url": "https://api.example.com/v1",
        "api_key": CANARY,
        "connect_timeout": 10,
        "first_byte_timeout": 60,
        "idle_timeout": 60,
        "total_timeout": 600,
    }
    response = admin_client.post("/admin/conversations/provider/add/", form)
    assert response.status_code == 302
    provider = Provider.objects.get()
    assert provider.get_api_key() == CANARY
    assert CANARY not in provider.api_key_encrypted
    change_page = admin_client.get(f"/admin/conversations/provider/{provider.pk}/change/")
    assert CANARY.encode() not in change_page.content
