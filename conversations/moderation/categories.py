"""Human names for the moderation categories the endpoint reports."""

from django.utils.translation import gettext_lazy as _

NAMES = {
    "harassment": _("harassment"),
    "harassment/threatening": _("threatening harassment"),
    "hate": _("hate"),
    "hate/threatening": _("threatening hate"),
    "illicit": _("illicit activity"),
    "illicit/violent": _("violent illicit activity"),
    "self-harm": _("self-harm"),
    "self-harm/intent": _("intent of self-harm"),
    "self-harm/instructions": _("self-harm instructions"),
    "sexual": _("sexual content"),
    "sexual/minors": _("sexual content involving minors"),
    "violence": _("violence"),
    "violence/graphic": _("graphic violence"),
}


def name(code: str) -> str:
    """The category's name in the active language (an unknown one keeps its code)."""
    return str(NAMES.get(code, code))


def names() -> dict[str, str]:
    """The whole table in the active language, for the chat page."""
    return {code: str(text) for code, text in NAMES.items()}
