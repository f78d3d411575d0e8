"""The moderations endpoint's wire format: the request body and the checked result.

``POST /moderations`` takes ``input`` (a string or a list of strings) and
``model``; it answers ``{"id", "model", "results": [{"flagged", "categories",
"category_scores"}, ...]}``, one result per input. Anything else is a
ProtocolError, so a caller can treat a malformed body like any failed call.
"""

from dataclasses import dataclass, field
from typing import Any

from .errors import ProtocolError


@dataclass(frozen=True)
class ModerationResult:
    """What the endpoint said of one input."""

    flagged: bool
    categories: list[str] = field(default_factory=list)  # the flagged ones, by API name
    scores: dict[str, float] = field(default_factory=dict)


def moderation_body(inputs: list[str], model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"input": inputs[0] if len(inputs) == 1 else inputs}
    if model:
        body["model"] = model
    return body


def moderation_results(payload: Any, count: int) -> list[ModerationResult]:
    """The results of a moderations response for ``count`` inputs (ProtocolError if unreadable)."""
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list) or len(results) != count:
        raise ProtocolError("The moderations response has no results for the input.")
    return [_result(item) for item in results]


def _result(item: Any) -> ModerationResult:
    if not isinstance(item, dict) or not isinstance(item.get("flagged"), bool):
        raise ProtocolError("A moderation result has no flagged field.")
    categories = item.get("categories") or {}
    scores = item.get("category_scores") or {}
    if not isinstance(categories, dict) or not isinstance(scores, dict):
        raise ProtocolError("A moderation result's categories are not objects.")
    flagged = sorted(str(name) for name, on in categories.items() if on is True)
    kept = {str(k): float(v) for k, v in scores.items() if isinstance(v, int | float)}
    return ModerationResult(item["flagged"], flagged, kept)
