"""What people read when a call to a provider fails: one short text per error code.

The llm package gives every failure a stable ``code`` and keeps what the
provider said in ``detail``; that detail is for the log and the provider's
admin page only (it can hold internal host names, HTML pages, passwords in a
traceback). Everything shown to people who are not staff goes through
``user_message``: the answer's stored ``error_message``, the `done` frame,
and the chat page, which gets the whole table in its own language
(``user_messages``) so a frame announced to every tab reads right in each.
"""

from django.utils.translation import gettext_lazy

MISCONFIGURED = gettext_lazy(
    "The model's provider is not set up correctly. Ask an administrator to check it."
)
UNAVAILABLE = gettext_lazy("The model's provider is unavailable right now. Try again in a moment.")

USER_MESSAGES = {
    "upstream_auth": MISCONFIGURED,
    "upstream_forbidden": MISCONFIGURED,
    "provider_address_refused": MISCONFIGURED,
    "model_not_found": gettext_lazy(
        "The provider does not offer this model. Pick another model or ask an administrator."
    ),
    "upstream_error": UNAVAILABLE,
    "upstream_unreachable": UNAVAILABLE,
    "rate_limited": gettext_lazy(
        "The model's provider is busy (rate limited). Try again in a moment."
    ),
    "insufficient_quota": gettext_lazy(
        "The provider account has run out of quota. Ask an administrator."
    ),
    "context_length_exceeded": gettext_lazy(
        "The conversation is too long for this model. Start a new conversation or pick "
        "a model with a larger context window."
    ),
    "upstream_timeout": gettext_lazy("The model's provider took too long to answer."),
    "interrupted": gettext_lazy(
        "The answer was cut off before it finished; the text so far is kept."
    ),
    "upstream_protocol": gettext_lazy("The model's provider sent an answer that cannot be read."),
    "upstream_stream_error": gettext_lazy(
        "The model's provider reported an error while answering."
    ),
    "bad_request": gettext_lazy(
        "The model's provider refused the request; a setting may not suit this model."
    ),
    "internal_error": gettext_lazy("Something went wrong on the server. Try again."),
    "answer_too_long": gettext_lazy(
        "The answer reached the size limit and was cut there; it cannot be continued."
    ),
    "worker_lost": gettext_lazy(
        "The server handling this answer stopped; the text so far is kept."
    ),
    "empty_answer": gettext_lazy(
        "The model returned nothing — the conversation may be too long for it."
    ),
    "n_unsupported": gettext_lazy(
        "This model gives one answer at a time: only the first answer was generated."
    ),
}
# Images the provider made that could not become the product's own files.
USER_MESSAGES |= {
    "image_not_an_image": gettext_lazy(
        "The provider sent something that is not a PNG, JPEG or WebP image; it was not kept."
    ),
    "image_too_large": gettext_lazy(
        "The provider's image is larger than allowed; it was not kept."
    ),
    "image_foreign_host": gettext_lazy(
        "The provider's image is on another address; it was not fetched."
    ),
    "image_refused": gettext_lazy("The provider's image could not be fetched."),
}
FALLBACK = gettext_lazy("The model's provider returned an error.")


# Moderation (conversations.moderation): the categories are shown beside this text.
USER_MESSAGES["moderated"] = gettext_lazy(
    "This message was not sent to the model: the moderation check flagged it as possibly "
    "against the site's content rules. It is kept, and the conversation was flagged for review."
)
USER_MESSAGES["moderation_unavailable"] = gettext_lazy(
    "The moderation check could not be done, so the message was not sent. Try again in a moment."
)


def user_message(code: str) -> str:
    """The text for ``code`` in the active language (never anything the provider sent)."""
    return str(USER_MESSAGES.get(code, FALLBACK))


def user_messages() -> dict[str, str]:
    """The table in the active language, for the chat page.

    Codes not in it keep their stored text.
    """
    return {code: str(text) for code, text in USER_MESSAGES.items()}
