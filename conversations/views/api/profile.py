"""PATCH /api/profile: the user's theme and default persona/model, kept across devices."""

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from conversations import access
from conversations.models import Profile
from conversations.views.api.common import BadInput, json_body, json_endpoint

BODY_MAX = 4 * 1024


@require_http_methods(["GET", "PATCH"])
@json_endpoint
def profile(request: HttpRequest) -> JsonResponse:
    mine = Profile.for_user(request.user)
    if request.method == "PATCH":
        _change(request.user, mine, json_body(request, BODY_MAX))
    return JsonResponse(
        {
            "theme": mine.theme,
            "default_model": mine.default_model_id,
            "default_persona": str(mine.default_persona_id) if mine.default_persona_id else None,
        }
    )


def _change(user, mine: Profile, changes: dict) -> None:
    unknown = set(changes) - {"theme", "default_model", "default_persona"}
    if unknown:
        raise BadInput(_("These fields cannot be changed: %s") % ", ".join(sorted(unknown)))
    if "theme" in changes:
        if changes["theme"] not in Profile.Theme.values:
            raise BadInput(_("Unknown theme."))
        mine.theme = changes["theme"]
    if "default_model" in changes:
        model = changes["default_model"]
        mine.default_model = access.model_usable_by(user, model) if model is not None else None
    if "default_persona" in changes:
        persona = changes["default_persona"]
        mine.default_persona = access.persona_usable_by(user, persona) if persona else None
    mine.save()
