"""The fake upstream's moderations endpoint (``POST /v1/moderations``, see ``FakeUpstream``).

Takes ``input`` (a string or a list of strings) and an optional ``model``
and answers in OpenAI's shape: ``{"id", "model", "results": [...]}``, one
result per input with ``flagged``, every ``categories`` boolean and every
``category_scores`` number. Markers in an input decide the verdict:

- ``FLAGME`` → flagged for harassment and violence; ``FLAGME:hate`` (any
  category name after the colon) → flagged for that one;
- ``MODFAIL`` → HTTP 500 with OpenAI's server_error body;
- ``MODGARBLE`` → HTTP 200 with a body that is not a moderation (no results);
- ``MODNOTJSON`` → HTTP 200 with an HTML page;
- ``MODHANG`` → no answer for 30 seconds (a timeout).

The model ``lenient-moderation`` flags nothing (a site that changed its model).

A request without ``input`` gets OpenAI's 400 invalid_request_error.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

from aiohttp import web

CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)  # fmt: skip
DEFAULT_FLAGGED = ("harassment", "violence")
FLAG = re.compile(r"FLAGME(?::([a-z/-]+))?")
_ids = itertools.count(1)


def error_body(message: str, kind: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def result_for(text: str) -> dict:
    """One result as the API shapes it."""
    match = FLAG.search(text)
    flagged = set()
    if match is not None:
        flagged = {match.group(1)} if match.group(1) else set(DEFAULT_FLAGGED)
    return {
        "flagged": bool(flagged),
        "categories": {name: name in flagged for name in CATEGORIES},
        "category_scores": {name: 0.91 if name in flagged else 0.000123 for name in CATEGORIES},
        "category_applied_input_types": {name: ["text"] for name in CATEGORIES},
    }


def routes(app: web.Application, reply: Any) -> None:
    """Add the endpoint; ``reply(record, body, status)`` is the fake's JSON response."""

    async def moderations(request: web.Request) -> web.StreamResponse:
        from tests.fakeupstream import RECORD

        record, body = request[RECORD], request[RECORD].body
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if not (isinstance(inputs, list) and inputs and all(isinstance(i, str) for i in inputs)):
            message = "'input' is a required property and must be a string or array of strings"
            return reply(record, error_body(message, "invalid_request_error", "input"), 400)
        joined = "\n".join(inputs)
        if "MODHANG" in joined:
            await asyncio.sleep(30)
        if "MODFAIL" in joined:
            message = "The server had an error while processing your request. Sorry about that!"
            return reply(record, error_body(message, "server_error"), 500)
        if "MODGARBLE" in joined:
            return reply(record, {"object": "list", "data": []}, 200)
        if "MODNOTJSON" in joined:
            record.status = 200
            record.end("completed")
            return web.Response(text="<html>gateway</html>", content_type="text/html")
        model = body.get("model") or "omni-moderation-latest"
        results = [result_for("" if model == "lenient-moderation" else text) for text in inputs]
        answer = {"id": f"modr-{next(_ids)}", "model": model, "results": results}
        return reply(record, answer, 200)

    app.router.add_post("/v1/moderations", moderations)
