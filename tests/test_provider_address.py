"""A provider's address: metadata and link-local never, local only with permission, after DNS."""

import socket

import aiohttp
import httpx
import pytest
from aiohttp.abc import AbstractResolver

from conversations.bootstrap import ensure_env_provider
from conversations.llm import LLMClient, ProviderAddressRefused, ProviderSettings
from conversations.llm.address import AddressRefused, classify
from conversations.llm.transport import PolicyResolver, address_refusal, build_http_client
from conversations.models import Provider
from tests.test_admin_providers import provider_form
from tests.upgrade import upgrade

BODY = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.mark.parametrize(
    "ip, kind",
    [
        ("169.254.169.254", "refused"),
        ("fe80::1", "refused"),
        ("fd00:ec2::254", "refused"),
        ("100.100.100.200", "refused"),
        ("0.0.0.0", "refused"),
        ("::", "refused"),
        ("224.0.0.251", "refused"),
        ("ff02::1", "refused"),
        ("::ffff:169.254.169.254", "refused"),
        ("64:ff9b::a9fe:a9fe", "refused"),
        ("127.0.0.1", "local"),
        ("::1", "local"),
        ("10.0.0.5", "local"),
        ("172.16.3.4", "local"),
        ("192.168.1.20", "local"),
        ("fd12:3456::1", "local"),
        ("::ffff:127.0.0.1", "local"),
        ("8.8.8.8", "public"),
        ("2606:4700:4700::1111", "public"),
    ],
)
def test_addresses_are_classified(ip, kind):
    assert classify(ip) == kind


@pytest.fixture(params=["aiohttp", "httpcore"])
def transport(request):
    return request.param


async def stream(settings: ProviderSettings) -> list:
    client = LLMClient(settings)
    try:
        return [event async for event in client.stream_chat(BODY)]
    finally:
        await client.aclose()


async def test_a_metadata_address_is_refused_even_with_local_permission(transport):
    settings = ProviderSettings(
        "http://169.254.169.254/latest", allow_local_network=True, transport=transport
    )
    with pytest.raises(ProviderAddressRefused) as failure:
        await stream(settings)
    assert failure.value.code == "provider_address_refused"
    assert "169.254.169.254" in failure.value.detail


async def test_loopback_needs_the_local_network_permission(fake, transport):
    refused = ProviderSettings(fake.base_url, transport=transport)
    with pytest.raises(ProviderAddressRefused):
        await stream(refused)
    assert fake.requests == []

    allowed = ProviderSettings(fake.base_url, transport=transport, allow_local_network=True)
    assert await stream(allowed)


def a_local_name() -> str:
    """This machine's name, when it resolves to a loopback or private address only."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except OSError:
        pytest.skip("the host name does not resolve")
    if any(classify(info[4][0]) != "local" for info in infos):
        pytest.skip("the host name resolves to a public address")
    return name


async def test_a_name_that_resolves_to_a_local_address_is_refused(fake, transport):
    # The URL's text says nothing: only the resolved address does.
    url = fake.base_url.replace("127.0.0.1", a_local_name())
    with pytest.raises(ProviderAddressRefused) as failure:
        await stream(ProviderSettings(url, transport=transport))
    assert "a local network address" in failure.value.detail
    assert fake.requests == []
    assert await stream(ProviderSettings(url, transport=transport, allow_local_network=True))


async def test_the_pool_checks_the_address_it_connects_to_not_only_the_url(fake, transport):
    # Straight to the transport, past the client's check of the URL's text.
    http = build_http_client(ProviderSettings(fake.base_url, transport=transport))
    try:
        with pytest.raises(httpx.TransportError) as failure:
            await http.get(f"{fake.base_url}/models")
    finally:
        await http.aclose()
    assert isinstance(address_refusal(failure.value), AddressRefused)
    assert fake.requests == []


class CannedResolver(AbstractResolver):
    """aiohttp's resolver interface answering fixed addresses (a DNS rebinding attacker)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [
            {"hostname": host, "host": ip, "port": port, "family": family, "proto": 0, "flags": 0}
            for ip in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_drops_metadata_addresses_from_a_mixed_answer():
    resolver = PolicyResolver(True, CannedResolver("169.254.169.254", "93.184.215.14"))
    assert [r["host"] for r in await resolver.resolve("evil.example", 80)] == ["93.184.215.14"]


async def test_the_resolver_refuses_a_name_that_only_points_at_metadata():
    resolver = PolicyResolver(True, CannedResolver("169.254.169.254"))
    with pytest.raises(AddressRefused):
        await resolver.resolve("metadata.evil.example", 80)


async def test_aiohttp_turns_a_refusal_into_a_clear_error():
    resolver = PolicyResolver(False, CannedResolver("10.0.0.7"))
    connector = aiohttp.TCPConnector(resolver=resolver)
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientError) as failure:
            await session.get("http://internal.example/v1/models")
    assert address_refusal(failure.value).address == "10.0.0.7"


# --- The admin form and the bootstrapped provider ------------------------------------


def add_provider(admin_client, **changes):
    form = provider_form(Provider(name="New", base_url="https://api.example.com/v1"))
    del form["allow_local_network"]  # unticked unless the test ticks it
    form.update(changes)
    return admin_client.post("/admin/conversations/provider/add/", form)


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/v1", "http://[fd00:ec2::254]/v1", "http://0.0.0.0:8000/v1"]
)
def test_the_admin_refuses_a_metadata_address_always(admin_client, db, url):
    response = add_provider(admin_client, base_url=url, allow_local_network="on")
    assert response.status_code == 200
    assert "This address is never allowed" in response.content.decode()
    assert not Provider.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:11434/v1", "http://localhost:8000/v1", "http://192.168.1.20/v1"]
)
def test_the_admin_asks_for_the_permission_for_a_local_address(admin_client, db, url):
    response = add_provider(admin_client, base_url=url)
    assert "tick “allow local network”" in response.content.decode()
    assert not Provider.objects.exists()
    assert add_provider(admin_client, base_url=url, allow_local_network="on").status_code == 302
    assert Provider.objects.get().allow_local_network


def test_the_admin_test_connection_names_the_refusal(admin_client, db):
    provider = Provider.objects.create(name="Meta", base_url="http://169.254.169.254/v1")
    url = f"/admin/conversations/provider/{provider.pk}/test-connection/"
    page = admin_client.post(url).content.decode()
    assert "provider_address_refused" in page
    assert "never allowed" in page


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("http://localhost:11434/v1", True),
        ("http://127.0.0.1:8001/v1", True),
        ("http://10.1.2.3:8000/v1", True),
        ("https://api.openai.com/v1", False),
    ],
)
def test_the_bootstrapped_provider_may_reach_a_local_url_it_was_given(db, url, allowed):
    result = ensure_env_provider(base_url=url, api_key="", model_id="gpt-4o-mini")
    assert result.provider.allow_local_network is allowed


def test_bootstrap_never_takes_back_a_permission_staff_gave(db):
    url = "http://ollama:11434/v1"  # a container's name: only its resolved address says
    first = ensure_env_provider(base_url=url, api_key="", model_id="gpt-4o-mini").provider
    Provider.objects.filter(pk=first.pk).update(allow_local_network=True)  # ticked in the admin
    again = ensure_env_provider(base_url=url, api_key="", model_id="gpt-4o-mini").provider
    assert again.allow_local_network is True


# --- Timeouts from the environment ------------------------------------------------------


def test_a_provider_created_without_timeouts_takes_the_llm_settings(db, settings):
    settings.LLM_CONNECT_TIMEOUT = 3.5
    settings.LLM_FIRST_BYTE_TIMEOUT = 45.0
    settings.LLM_IDLE_TIMEOUT = 20.0
    settings.LLM_TOTAL_TIMEOUT = 300.0
    provider = Provider.objects.create(name="Plain", base_url="https://api.example.com/v1")
    booted = ensure_env_provider(
        base_url="https://api.example.com/v1", api_key="", model_id="gpt-4o-mini"
    ).provider
    for row in (provider, booted):
        timeouts = (row.connect_timeout, row.first_byte_timeout, row.idle_timeout)
        assert (*timeouts, row.total_timeout) == (3.5, 45.0, 20.0, 300.0)


def test_the_admin_add_form_starts_from_the_llm_settings(admin_client, settings):
    settings.LLM_CONNECT_TIMEOUT = 7.25
    page = admin_client.get("/admin/conversations/provider/add/").content.decode()
    assert 'name="connect_timeout" value="7.25"' in page


@pytest.mark.django_db(transaction=True)
def test_providers_already_on_a_local_address_keep_working_after_the_upgrade():
    with upgrade("0004_labels", "0005_provider_last_error_local_network") as step:
        OldProvider = step.apps.get_model("conversations", "Provider")
        for name, url in [
            ("Ollama", "http://localhost:11434/v1"),
            ("Cloud", "https://api.x.ai/v1"),
        ]:
            OldProvider.objects.create(name=name, base_url=url)
        OldProvider.objects.create(name="Meta", base_url="http://169.254.169.254/v1")
        Upgraded = step.run().get_model("conversations", "Provider")
        rows = dict(Upgraded.objects.values_list("name", "allow_local_network"))
    assert rows == {"Ollama": True, "Cloud": False, "Meta": False}
