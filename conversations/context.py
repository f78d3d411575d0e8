"""The prompt of a turn: system prompts, then the newest of the active branch that fits.

Each message's own token count is cached on its row (with the encoding it was
counted in), so building a context re-encodes only what is new.
"""

from django.conf import settings
from django.utils.translation import gettext as _

from conversations import tokens
from conversations.models import Conversation, Message, ModelConfig, Persona, SiteSettings


class PromptRefused(Exception):
    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(message)


def build_prompt(conversation, leaf, model, persona, effective, *, branch=None):
    """The prompt: system prompts, then the newest of the branch ending at `leaf`
    (`branch`: that branch, when the caller already holds it)."""
    encoding = tokens.encoding_name(model.model_id)
    if branch is None:
        branch = _branch(conversation, leaf)
    uncached = {}
    history = []
    for message in branch:
        count = message.content_tokens
        if message.content_tokens_encoding != encoding or count is None:
            count = tokens.count_text(message.content, model.model_id).tokens
            uncached[message.id] = (count, encoding)
        history.append(tokens.HistoryItem(message.role, message.content, count, message.id))
    try:
        prompt = tokens.build_context(
            system=system_messages(persona),
            history=history,
            model=model.model_id,
            context_window=model.context_window,
            max_tokens=_reply_reserve(model, effective),
        )
    except tokens.ContextError as error:
        raise PromptRefused(error.code, _context_message(error)) from None
    return prompt, uncached


def system_messages(persona: Persona | None) -> list[dict]:
    """Prompt order is fixed: the site-wide prompt staff set, then the persona's
    (the conversation follows). See docs/admin.md."""
    prompts = [SiteSettings.cached().system_prompt]
    if persona and persona.system_prompt:
        prompts.append(persona.system_prompt)
    return [{"role": "system", "content": text} for text in prompts if text]


def _branch(conversation: Conversation, leaf: Message | None) -> list[Message]:
    if leaf is None:
        return []
    # "conversation": the related manager sets each row's conversation from its
    # id; without that column Django read it back with one query per message.
    rows = conversation.messages.only(
        "id", "conversation", "parent_id", "role", "content", "status",
        "content_tokens", "content_tokens_encoding",
    )  # fmt: skip
    by_id = {m.id: m for m in rows}
    branch, node = [], by_id.get(leaf.id)
    while node is not None:
        if node.content or node.role == Message.Role.USER:
            branch.append(node)
        node = by_id.get(node.parent_id)
    return branch[::-1]


def _reply_reserve(model: ModelConfig, effective: dict) -> int:
    if effective.get("max_tokens"):
        return effective["max_tokens"]
    cap = model.max_output_tokens or settings.CHATSITE_DEFAULT_REPLY_RESERVE
    return min(cap, settings.CHATSITE_DEFAULT_REPLY_RESERVE, model.context_window // 2)


def _context_message(error: tokens.ContextError) -> str:
    if isinstance(error, tokens.MessageTooLong):
        return _(
            "Your message is too long for this model: it needs %(needed)s tokens and "
            "%(available)s are available. Shorten it or choose a model with a larger window."
        ) % {"needed": error.needed, "available": error.available}
    return _(
        "The system prompt and answer length leave no room for the conversation "
        "(%(needed)s tokens needed, %(available)s available). Lower max_tokens."
    ) % {"needed": error.needed, "available": error.available}
