"""Helpers the fine-tuning admin pages share: permission checks and provider refusals."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext

from conversations.llm import LLMError

PERM = "conversations.%s"


def allowed(request, codename: str) -> None:
    if not request.user.has_perm(PERM % codename):
        raise PermissionDenied


def say_failure(request, error: Exception) -> None:
    text = error.describe() if isinstance(error, LLMError) else str(error)
    messages.error(request, gettext("The provider refused: %(error)s") % {"error": text})
