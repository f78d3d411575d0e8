"""GET /healthz for load balancers: database, channel layer, upstream reachability.

The view is answered by its middleware at the front of the stack, not through
the URLconf, so before host validation and the HTTPS redirect: balancers
probe workers by address over plain HTTP.
A worker whose database or channel layer fails answers 503 and is taken out of
rotation; an unreachable upstream is reported ("degraded") but answers 200,
since every worker shares it and removing them all would help nobody.
"""

import asyncio
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from conversations import llm
from conversations.models import Provider
from conversations.upstream import provider_settings

PATH = "/healthz"
UPSTREAM_CACHE_KEY = "chatsite:health:upstream"
UPSTREAM_CACHE_SECONDS = 30
UPSTREAM_TIMEOUT = 3.0


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != PATH:
            return self.get_response(request)
        return health(request)


def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _timed(_database), "channel_layer": _timed(_channel_layer)}
    checks["upstream"] = _upstream()
    healthy = checks["database"]["ok"] and checks["channel_layer"]["ok"]
    status = "ok" if healthy and checks["upstream"]["ok"] else "degraded"
    return JsonResponse(
        {"status": status if healthy else "fail", "checks": checks},
        status=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )


def _timed(check) -> dict:
    start = time.perf_counter()
    try:
        check()
        result = {"ok": True}
    except Exception as error:  # a health check reports failures, it never raises
        result = {"ok": False, "error": type(error).__name__}
    result["ms"] = round((time.perf_counter() - start) * 1000, 1)
    return result


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _channel_layer() -> None:
    async_to_sync(_round_trip)()


async def _round_trip() -> None:
    layer = get_channel_layer()
    # The default prefix, as the runtime's: channels_redis reads all of a
    # process's specific channels from one list under one receive lock, and a
    # channel with another prefix waits for that lock behind the runtime's
    # 5-second reads (the check then always timed out on a running worker).
    channel = await layer.new_channel()
    async with asyncio.timeout(2):  # the send too: an unreachable Redis host hangs a connect
        await layer.send(channel, {"type": "health.ping"})
        await layer.receive(channel)


def _upstream() -> dict:
    """Each enabled provider's /models, at most every 30 s (cached across workers)."""
    try:
        result = cache.get(UPSTREAM_CACHE_KEY)
        if result is None:
            result = _check_providers()
            cache.set(UPSTREAM_CACHE_KEY, result, UPSTREAM_CACHE_SECONDS)
    except Exception as error:  # the cache (Redis) or the database is down: reported above
        return {"ok": False, "error": type(error).__name__}
    return result


def _check_providers() -> dict:
    # Counts only: this answer is public, provider names and errors are not.
    checks = [_timed(lambda p=p: _list_models(p)) for p in Provider.objects.filter(enabled=True)]
    failing = sum(not check["ok"] for check in checks)
    return {"ok": failing == 0, "providers": len(checks), "failing": failing}


def _list_models(provider: Provider) -> None:
    async_to_sync(_fetch_models)(provider_settings(provider))


async def _fetch_models(settings: llm.ProviderSettings) -> None:
    client = llm.LLMClient(settings)  # its own pool: this runs on a short-lived loop
    try:
        async with asyncio.timeout(UPSTREAM_TIMEOUT):
            await client.list_models()
    finally:
        await client.aclose()
