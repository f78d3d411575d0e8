"""What every JSON endpoint shares: reading bodies and answering errors."""

from functools import wraps

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

from conversations import json_input
from conversations.refusals import Refused

# The deepest body is {"messages": [{"role": …, "content": …}]}.
BODY_DEPTH_MAX = 8


class BadInput(Refused):
    """A body or query the endpoint cannot read."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request"):
        super().__init__(code, message)
        self.status = status


def error_response(code: str, message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)


def json_endpoint(view):
    """Every JSON view answers any refusal (refusals.py) the same way, here."""

    @wraps(view)
    def answer(request: HttpRequest, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Refused as refused:
            return error_response(status=refused.status, **refused.as_error())

    return answer


def json_body(request: HttpRequest, limit: int) -> dict:
    # Check the declared length first: reading an oversized body raises in Django.
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > limit:
        raise BadInput(_("The request is too large."), 413, "too_large")
    body = request.body or b"{}"  # a chunked body declares no length: its size counts
    if len(body) > limit:
        raise BadInput(_("The request is too large."), 413, "too_large")
    try:
        data = json_input.loads(body, depth_max=BODY_DEPTH_MAX)
    except ValueError:
        raise BadInput(_("The body must be JSON.")) from None
    if not isinstance(data, dict):
        raise BadInput(_("The body must be a JSON object."))
    return data
