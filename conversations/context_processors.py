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
    return {"theme": _theme_of(user)}


def _theme_of(user) -> str:
    # Read only: an error page seen by someone without a profile row must not write one.
    stored = Profile.objects.filter(user=user).values_list("theme", flat=True).first()
    return stored or "system"


def _open_signup() -> bool:
    return SiteSettings.cached().open_signup
