"""System checks: problems an operator should hear about at start-up."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_browser_libraries(app_configs, **kwargs) -> list:
    """The chat page needs the npm packages; `make run` installs them."""
    missing = [
        str(path)
        for prefix, path in (d for d in settings.STATICFILES_DIRS if isinstance(d, tuple))
        if not path.exists()
    ]
    if not missing:
        return []
    return [
        Warning(
            "Browser libraries are not installed: " + ", ".join(missing),
            hint="Run `npm ci` in the project folder (make run does it for you).",
            id="chatsite.W001",
        )
    ]


WEAK_HASHERS = {"django.contrib.auth.hashers.MD5PasswordHasher"}


@register(deploy=True)
def check_password_hasher(app_configs, **kwargs) -> list:
    """The tests' fast hasher must never store a real user's password."""
    if settings.PASSWORD_HASHERS[0] not in WEAK_HASHERS:
        return []
    return [
        Error(
            "Passwords are hashed with a fast, weak hasher meant for tests only.",
            hint="Unset CHATSITE_FAST_PASSWORD_HASHER.",
            id="chatsite.E001",
        )
    ]
