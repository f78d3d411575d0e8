"""The prompt of a turn: system prompts, then the newest of the active branch that fits.

Each message's own token count is cached on its row (with the encoding it was
counted in), so building a context re-encodes only what is new.
"""

from typing import NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import connection

from conversations import tokens
from conversations.models import Conversation, Message, ModelConfig, Persona, SiteSettings


def build_prompt(branch, model, persona, effective):
    """The prompt: system prompts, then the newest of `branch` (oldest first) that fits."""
    encoding = tokens.encoding_name(model.model_id)
    uncached = {}
    history = []
    for message in branch:
        count = message.content_tokens
        if message.content_tokens_encoding != encoding or count is None:
            count = tokens.count_text(message.content, model.model_id).tokens
            if message.id is not None:  # an instruction of ours is no stored row
                uncached[message.id] = (count, encoding)
        history.append(tokens.HistoryItem(message.role, message.content, count, message.id))
    # A prompt that cannot fit is refused by tokens.build_context (a Refused).
    prompt = tokens.build_context(
        system=system_messages(persona, model.system_role),
        history=history,
        model=model.model_id,
        context_window=model.context_window,
        max_tokens=_reply_reserve(model, effective),
    )
    return prompt, uncached


def system_messages(persona: Persona | None, role: str = "system") -> list[dict]:
    """Prompt order is fixed: the site-wide prompt staff set, then the persona's
    (the conversation follows). See docs/admin.md.

    ``role``: the model config's ``system_role``; OpenAI's newer reasoning models
    take instructions as ``developer`` messages."""
    prompts = [SiteSettings.cached().system_prompt]
    if persona and persona.system_prompt:
        prompts.append(persona.system_prompt)
    return [{"role": role, "content": text} for text in prompts if text]


# Asked after the cut-off answer when the server cannot extend it in place; the
# join (turn.seam) mends what the model still gets wrong at the seam.
CONTINUE_INSTRUCTION = (
    "Your previous message was cut off by the length limit. Continue it from exactly "
    "where it stopped, even in the middle of a word or a sentence. Write only the rest: "
    "do not repeat anything already written, do not add any introduction or comment."
)


def continue_instruction() -> "BranchRow":
    """The request to go on, as the last message of a continuation's prompt."""
    return BranchRow(None, Message.Role.USER, CONTINUE_INSTRUCTION, None, "")


class BranchRow(NamedTuple):
    id: UUID | None  # None: a message of ours, not stored
    role: str
    content: str
    content_tokens: int | None
    content_tokens_encoding: str


# The branch ending at a message, walked up its parents in the database: one
# query that reads only the branch, however large the tree around it.
BRANCH_SQL = """
WITH RECURSIVE branch (id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM {table} WHERE id = %s AND conversation_id = %s
    UNION ALL
    SELECT m.id, m.parent_id, b.depth + 1
    FROM {table} m JOIN branch b ON m.id = b.parent_id
    WHERE b.depth < %s
)
SELECT m.id, m.role, m.content, m.content_tokens, m.content_tokens_encoding, m.status
FROM branch b JOIN {table} m ON m.id = b.id
ORDER BY b.depth DESC
"""
BRANCH_DEPTH_MAX = 100_000


def stored_branch(conversation: Conversation, leaf_id: UUID | None) -> list[BranchRow]:
    """The messages from the root to `leaf_id`, less answers that hold no text and
    questions the moderation check refused (never sent; `leaf_id` itself is kept:
    a regenerate asks the check again)."""
    if leaf_id is None:
        return []
    pk = Message._meta.pk
    sql = BRANCH_SQL.format(table=connection.ops.quote_name(Message._meta.db_table))
    ids = [pk.get_db_prep_value(value, connection) for value in (leaf_id, conversation.id)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids, BRANCH_DEPTH_MAX])
        rows = cursor.fetchall()
    refused = Message.Status.MODERATED
    return [
        BranchRow(pk.to_python(id_), role, content, count, encoding or "")
        for id_, role, content, count, encoding, status in rows
        if (content or role == Message.Role.USER)
        and (status != refused or pk.to_python(id_) == leaf_id)
    ]


def _reply_reserve(model: ModelConfig, effective: dict) -> int:
    if effective.get("max_tokens"):
        return effective["max_tokens"]
    cap = model.max_output_tokens or settings.CHATSITE_DEFAULT_REPLY_RESERVE
    return min(cap, settings.CHATSITE_DEFAULT_REPLY_RESERVE, model.context_window // 2)
