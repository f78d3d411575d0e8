"""The check itself, in the turn's task: async, before the upstream call and after the end.

Runs on the event loop without blocking it: the call goes through the async
llm client, the database work through ``database_sync_to_async``.
"""

import logging

from channels.db import database_sync_to_async

from conversations import frames, llm
from conversations.moderation import record
from conversations.moderation.policy import Check

logger = logging.getLogger(__name__)
CHECKED_STATUSES = {"complete", "truncated", "stopped"}


class Moderated(llm.LLMError):
    """The question was flagged: the turn ends `moderated`, nothing was sent."""

    code = "moderated"
    default_message = "The moderation check flagged the message; it was not sent."


class ModerationUnavailable(llm.LLMError):
    """The check failed and the setting says fail closed: the turn ends with this error."""

    code = "moderation_unavailable"
    default_message = "The moderation check failed; the message was not sent."


async def check_question(check: Check | None, hub) -> None:
    """Let the question go on to the model, or raise Moderated / ModerationUnavailable."""
    if check is None:
        return
    try:
        [result] = await _moderate(check, [check.text])
    except llm.LLMError as error:
        logger.warning("Moderation of %s failed: %s", check.conversation_id, error.describe())
        if not check.fail_open:
            raise ModerationUnavailable(detail=error.describe()) from None
        await database_sync_to_async(record.unchecked)(check=check, code=error.code)
        await _announce_flag(check, hub)
        return
    if not result.flagged:
        again = await database_sync_to_async(record.passed)(check=check, text=check.text)
        if again is not None:  # a question refused before passed this time
            await hub.announce(str(check.conversation_id), frames.message_frame(again))
        return
    question = await database_sync_to_async(record.refuse)(check=check, result=result)
    await hub.announce(str(check.conversation_id), frames.message_frame(question))
    await _announce_flag(check, hub)
    raise Moderated()


async def _announce_flag(check: Check, hub) -> None:
    """Tell the tabs the conversation is flagged now (its flag control, the sidebar)."""
    conversation = await database_sync_to_async(record.conversation_dict)(check.conversation_id)
    await hub.announce(
        str(check.conversation_id), {"type": "conversation", "conversation": conversation}
    )


async def check_answers(check: Check | None, messages: list[dict], hub) -> None:
    """With ``moderate_answers``: flag (never hide) a finished answer the endpoint flags."""
    if check is None or not check.check_answer:
        return
    answers = [m for m in messages if m["status"] in CHECKED_STATUSES and m["content"]]
    if not answers:
        return
    try:
        results = await _moderate(check, [m["content"] for m in answers])
    except llm.LLMError as error:  # the answer is shown already; the log says why
        logger.warning("Moderation of answers in %s failed: %s", check.conversation_id, error)
        return
    flagged = False
    for answer, result in zip(answers, results, strict=True):
        if result.flagged:
            await database_sync_to_async(record.answer_flagged)(
                check=check, answer_id=answer["id"], text=answer["content"], result=result
            )
            flagged = True
        else:
            await database_sync_to_async(record.charge)(check=check, text=answer["content"])
    if flagged:
        await _announce_flag(check, hub)


async def _moderate(check: Check, inputs: list[str]) -> list:
    return await llm.get_client(check.provider).moderate(inputs, check.model_name)
