"""The owner's notice of readings: dismissing it."""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from conversations import readings


@require_POST
def dismiss_readings(request: HttpRequest) -> HttpResponse:
    through = request.POST.get("through", "")
    if not through.isdigit() or len(through) > 19:
        return HttpResponseBadRequest()
    readings.dismiss(user=request.user, through=int(through))
    return redirect(_back(request))


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    allowed = {request.get_host()}
    if url_has_allowed_host_and_scheme(target, allowed, require_https=request.is_secure()):
        return target
    return "home"
