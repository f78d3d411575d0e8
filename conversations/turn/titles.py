"""Automatic conversation titles: a short upstream call after the first answer.

When the call fails (or titles by model are turned off), the title is the
first words of the question. A title the user set is never replaced.

The call is shaped like the turn's (``shaping``: the answer-length parameter
the model takes, its role for instructions, what its server refused before).
A reasoning model spends completion tokens thinking before it writes the
title, so it gets ``REASONING_TITLE_TOKENS`` and, where it takes one, the
lowest reasoning effort every reasoning model accepts ("low"); a title that
still does not come (all spent thinking) is the question's first words.

A title request is held against its owner's budgets like a turn
(``budgets.hold_title``: its prompt and answer-length cap) and charged apart
from answers; when that does not fit, the title is the first words, free.
"""

import asyncio
import logging
import re

from channels.db import database_sync_to_async
from django.conf import settings

from conversations import budgets, llm
from conversations.models import Conversation, Message, ModelConfig
from conversations.turn import quirks, shaping

logger = logging.getLogger(__name__)

TITLE_PROMPT = (
    "Write a title of at most six words for this conversation. Use the language of "
    "the conversation. Answer with the title only: no quotes, no final full stop."
)
TITLE_TIMEOUT = 15.0
EXCERPT = 1500
FALLBACK_WORDS = 8
MODEL_TITLE_MAX = 80
TITLE_TOKENS = 24
REASONING_TITLE_TOKENS = 1024  # thinking included; "low" effort rarely needs half


async def name_conversation(plan, hub) -> None:
    """At the end of a turn: title a conversation that has none yet, and tell its tabs."""
    exchange = await database_sync_to_async(_untitled_exchange)(plan.conversation_id)
    if exchange is None:
        return
    question, answer, answer_id = exchange
    title = ""
    if answer and settings.CHATSITE_AUTO_TITLES == "model":
        title = await _ask_model(plan, question, answer, answer_id)
    title = title or first_words(question)
    stored = await database_sync_to_async(_store)(plan.conversation_id, title)
    if stored:
        frame = {"type": "conversation", "conversation": stored}
        await hub.announce(str(plan.conversation_id), frame)


def _untitled_exchange(conversation_id) -> tuple[str, str, object] | None:
    conversation = Conversation.objects.filter(pk=conversation_id, title="").first()
    if conversation is None:
        return None
    first = conversation.messages.filter(role=Message.Role.USER).order_by("created").first()
    if first is None:
        return None
    answer = first.children.filter(status=Message.Status.COMPLETE).first()
    return first.content, answer.content if answer else "", answer.pk if answer else None


async def _ask_model(plan, question: str, answer: str, answer_id) -> str:
    model = await database_sync_to_async(_model)(plan.model_config_id)
    if model is None:
        return ""
    body = {**title_body(model, question, answer), "user": plan.body.get("user", "")}
    held = await database_sync_to_async(budgets.hold_title)(
        conversation_id=plan.conversation_id, answer_id=answer_id, model=model, body=body
    )
    if not held:  # no room in a budget (or asked already): the question's first words
        logger.info(
            "No title from the model for conversation %s: no budget room", plan.conversation_id
        )
        return ""
    result = await _complete(plan, model, body)
    if result is None:
        await database_sync_to_async(budgets.release_title)(answer_id=answer_id)
        return ""
    await database_sync_to_async(budgets.charge_title)(
        conversation_id=plan.conversation_id,
        answer_id=answer_id,
        model=model,
        body=body,
        result=result,
    )
    return clean_title(result.text)


async def _complete(plan, model: ModelConfig, body: dict) -> llm.ChatResult | None:
    """The title call; None when it failed or took too long."""

    def remember(learnt: llm.Learnt):
        return database_sync_to_async(quirks.remember)(learnt, model_config_id=model.pk)

    try:
        async with asyncio.timeout(TITLE_TIMEOUT):
            return await llm.get_client(plan.provider).complete_chat(body, on_learn=remember)
    except llm.LLMError as error:  # the detail is for the log only, never the title
        logger.info(
            "No title from the model for conversation %s (%s); using the first words",
            plan.conversation_id,
            error.describe(),
        )
    except TimeoutError:
        logger.info("No title from the model for conversation %s in time", plan.conversation_id)
    return None


def _model(model_config_id) -> ModelConfig | None:
    return ModelConfig.objects.select_related("provider").filter(pk=model_config_id).first()


def title_body(model: ModelConfig, question: str, answer: str) -> dict:
    """The request for a title of this exchange, shaped for ``model``."""
    limits = model.limits
    thinks = limits.reasoning_model or model.takes_reasoning_effort
    wanted = {"max_tokens": REASONING_TITLE_TOKENS if thinks else TITLE_TOKENS}
    if not limits.reasoning_model:
        wanted["temperature"] = 0.3
    if model.takes_reasoning_effort:
        wanted["reasoning_effort"] = "low"
    messages = [
        {"role": model.system_role, "content": TITLE_PROMPT},
        {"role": "user", "content": f"{question[:EXCERPT]}\n\n---\n\n{answer[:EXCERPT]}"},
    ]
    return {"model": model.model_id, "messages": messages, **shaping.wire_params(model, wanted)}


def clean_title(text: str) -> str:
    line = next((part for part in text.strip().splitlines() if part.strip()), "")
    line = re.sub(r"^(title|标题)\s*[:：]\s*", "", line.strip(), flags=re.IGNORECASE)
    line = line.strip().strip("\"'“”‘’「」*#").rstrip("。.!！")
    return line[:MODEL_TITLE_MAX].strip()


def first_words(text: str) -> str:
    words = text.split()
    title = " ".join(words[:FALLBACK_WORDS])
    if len(words) > FALLBACK_WORDS or len(title) > 60:
        title = title[:60].rstrip() + "…"
    return title


def _store(conversation_id, title: str) -> dict | None:
    updated = Conversation.objects.filter(pk=conversation_id, title="").update(title=title)
    if not updated:
        return None
    return Conversation.objects.select_related("persona").get(pk=conversation_id).to_dict()
