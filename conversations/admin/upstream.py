"""The admin's calls to providers: GET /v1/models and GET /v1/models/{id}.

Admin views are synchronous; each call runs on an event loop through
``async_to_sync`` with a client of its own that is closed afterwards (the
shared pool belongs to the workers' loops). Nothing is retried and a call
gives up after ``ADMIN_CALL_TIMEOUT`` seconds, so a dead provider cannot hang
the admin. Staff see what the provider said (``LLMError.describe``, already
redacted by the llm package: a key never reaches the page), and a failure
becomes the provider's last error as it does for a chat turn.

Syncing also asks for LiteLLM's ``/model/info`` beside ``/v1/models``, at the
same time: LiteLLM tells there what each model is for and its limits, which
its listing does not. Other servers answer it with an error, which is ignored.
"""

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync

from conversations import catalog
from conversations.llm import LLMClient, LLMError, ProviderSettings
from conversations.models import ModelConfig, Provider
from conversations.upstream import provider_settings, record_provider_error

ADMIN_CALL_TIMEOUT = 20.0


@dataclass
class Outcome:
    """One call's result: the JSON it returned, or the error it ended with."""

    subject: Provider | ModelConfig
    ok: bool
    elapsed_ms: int = 0
    data: list | dict = field(default_factory=list)
    error_code: str = ""
    error_message: str = ""
    error: LLMError | None = None


def list_models(providers: list[Provider]) -> list[Outcome]:
    calls = [(p, _settings(p), _listing) for p in providers]
    return _recorded(async_to_sync(_run_all)(calls))


def list_models_with_info(providers: list[Provider]) -> list[Outcome]:
    """The listing, each entry with LiteLLM's model info when the server has it."""
    calls = [(p, _settings(p), _listing_with_info) for p in providers]
    return _recorded(async_to_sync(_run_all)(calls))


def retrieve_models(models: list[ModelConfig]) -> list[Outcome]:
    calls = [(m, _settings(m.provider), _retrieval(m.model_id)) for m in models]
    return _recorded(async_to_sync(_run_all)(calls))


async def _listing(client: LLMClient) -> list[dict]:
    return await client.list_models()


async def _listing_with_info(client: LLMClient) -> list[dict]:
    info = asyncio.create_task(_model_info(client))
    try:
        listing = await client.list_models()
    except BaseException:
        info.cancel()  # the client closes next: nothing may still be using it
        await asyncio.gather(info, return_exceptions=True)
        raise
    return catalog.with_model_info(listing, await info)


async def _model_info(client: LLMClient) -> dict[str, dict]:
    try:
        return catalog.litellm_model_info(await client.model_info())
    except LLMError:
        return {}  # not LiteLLM, or a key that may not read it: the listing still counts


def _retrieval(model_id: str):
    async def retrieve(client: LLMClient) -> dict:
        return await client.retrieve_model(model_id)

    return retrieve


def _recorded(outcomes: list[Outcome]) -> list[Outcome]:
    for outcome in outcomes:
        if outcome.error is not None:
            subject = outcome.subject
            provider = subject if isinstance(subject, Provider) else subject.provider
            record_provider_error(outcome.error, provider_id=provider.pk)
    return outcomes


def _settings(provider: Provider) -> ProviderSettings | ValueError:
    try:
        settings = provider_settings(provider)
    except ValueError as error:  # a base URL the client cannot use
        return error
    cap = min(settings.total_timeout, ADMIN_CALL_TIMEOUT)
    return dataclasses.replace(
        settings,
        max_retries=0,
        total_timeout=cap,
        first_byte_timeout=min(settings.first_byte_timeout, cap),
        idle_timeout=min(settings.idle_timeout, cap),
        connect_timeout=min(settings.connect_timeout, cap),
    )


async def _run_all(calls) -> list[Outcome]:
    return list(await asyncio.gather(*(_run(*call) for call in calls)))


async def _run(subject, settings, call) -> Outcome:
    if isinstance(settings, ValueError):
        return Outcome(subject, False, error_code="bad_settings", error_message=str(settings))
    started = time.monotonic()
    client = LLMClient(settings)
    try:
        data = await call(client)
    except LLMError as error:
        elapsed = _ms_since(started)
        code, text = error.code, error.describe()
        return Outcome(subject, False, elapsed, error_code=code, error_message=text, error=error)
    finally:
        await client.aclose()
    return Outcome(subject, True, _ms_since(started), data)


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
