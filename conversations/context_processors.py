"""Values every page template needs."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from conversations.models import Profile, SiteSettings


def interface(request: HttpRequest) -> dict:
    """The user's theme, so the page paints in it from the first frame; and for
    visitors, whether anyone may sign up (read only by pages that ask)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": "system", "open_signup": SimpleLazyObject(_open_signup)}
    return {"theme": Profile.for_user(user).theme}


def _open_signup() -> bool:
    return SiteSettings.cached().open_signup
