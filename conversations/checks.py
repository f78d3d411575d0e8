"""System checks: problems an operator should hear about at start-up."""

from django.conf import settings
from django.core.checks import Warning, register


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
