"""A turn of images: an image model turns the message into pictures.

A ``TurnRequest`` of kind ``image`` (or a send, edit or regenerate whose
model is an image model) starts here from ``start_turn``: one answer row,
``streaming`` while the images endpoint works (the page shows it is
generating), the budget held for n images first. The endpoint does not
stream, so ``ImageTurn`` makes one request and, at its end, stores the images
as the product's own files (conversations.images) and charges them. Stop
cancels the request like a stream's.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations import budgets, errors, frames, images, llm, params
from conversations.llm import images as upstream_images
from conversations.models import Conversation, Message, ModelConfig, UsageDaily
from conversations.turn.plan import (
    ERROR_MESSAGE_MAX,
    Choice,
    Outcome,
    Status,
    TurnPlan,
    message_dicts,
)
from conversations.turn.stream import FINISH_ATTEMPTS, WORKER_STOPPED, Turn
from conversations.upstream import provider_settings, upstream_user

logger = logging.getLogger(__name__)


# --- Database side: the start ---------------------------------------------------


def start_images(
    *, user, worker: str, conversation, model, persona, question, asked, raw_params, client_id
) -> Message:
    """Check the parameters and the budget, write the rows; returns the answer row."""
    params.check_image_prompt(question.content)
    effective = params.validate_image_params(
        raw_params, sizes=params.image_sizes(model.image_sizes)
    )
    budgets.lock_team_budgets(user)
    held = budgets.hold_images(user, model=model, count=effective["n"])
    answer = Message(
        conversation=conversation,
        parent_id=question.id,
        role=Message.Role.ASSISTANT,
        status=Status.STREAMING,
        model=model,
        model_name=model.model_id,
        persona_version=persona.current_version() if persona else None,
        params=effective,
        client_id=client_id,
        worker=worker,
        heartbeat=timezone.now(),
    )
    Message.objects.bulk_create([*asked, answer])
    budgets.reserve(user=user, held=held, answers=[answer])
    return answer


def plan(*, user, conversation, model, prompt: str, answer: Message, announce: list) -> TurnPlan:
    body = {"model": model.model_id, "prompt": prompt, **answer.params}
    body["user"] = upstream_user(user.pk)  # never from the request, as for chat
    return TurnPlan(
        owner_id=user.pk,
        conversation_id=conversation.id,
        model_config_id=model.pk,
        model_name=model.model_id,
        provider=provider_settings(model.provider),
        body=body,
        choices=[Choice(answer.id)],
        prompt_tokens=0,
        prompt_exact=True,
        omitted=0,
        frames=[m.to_dict() for m in announce],
        images=True,
    )


# --- Streaming side ----------------------------------------------------------------


class ImageTurn(Turn):
    """One request to the images endpoint, owned by the worker like a stream."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.generated: list[upstream_images.Image] = []

    async def _stream(self) -> None:
        client = llm.get_client(self.plan.provider)
        try:
            self.generated = await upstream_images.generate(
                client, self.plan.body, max_bytes=settings.CHATSITE_IMAGE_MAX_BYTES
            )
        except llm.LLMError as error:
            await self._report(error)
            raise

    async def _finish(self, status: str | None, error: Exception | None) -> None:
        outcome = self._image_outcome(status, error)
        messages = await self._store_images(outcome)
        self.on_end(self)
        await self.remote.close()
        for message in messages or []:
            await self.hub.announce(self.conversation_id, frames.done_frame(message))
        if messages:
            await self._name_conversation()
            await self._warn_of_budget()

    def _image_outcome(self, status: str | None, error: Exception | None) -> Outcome:
        choice = self.choices[0]
        outcome = Outcome(choice.message_id, "", choice.seq, status or Status.COMPLETE)
        if status == Status.INTERRUPTED and error is None:
            error = llm.StreamInterrupted(WORKER_STOPPED)
        if error is not None:
            outcome.error_code = error.code if isinstance(error, llm.LLMError) else "internal_error"
            outcome.error_message = errors.user_message(outcome.error_code)
        return outcome

    async def _store_images(self, outcome: Outcome) -> list[dict] | None:
        kept = self.generated if outcome.status == Status.COMPLETE else []
        for attempt in range(FINISH_ATTEMPTS):
            try:
                return await database_sync_to_async(finish_images)(
                    plan=self.plan, outcome=outcome, generated=kept
                )
            except Exception:
                logger.exception("Storing the images of turn %s failed", self.conversation_id)
                await asyncio.sleep(0.5 * 2**attempt)
        return None  # the sweeper marks the row interrupted


# --- Database side: the end ----------------------------------------------------------


@transaction.atomic
def finish_images(
    *, plan: TurnPlan, outcome: Outcome, generated: list[upstream_images.Image]
) -> list[dict]:
    """Store the images and the answer's end, charge them and release the hold."""
    answer_id = outcome.message_id
    if not Message.objects.filter(pk=answer_id).exists():
        return []  # deleted while generating: nothing to keep or charge
    images.store(message_id=answer_id, images=generated)
    Message.objects.filter(pk=answer_id).update(
        status=outcome.status,
        error_code=outcome.error_code,
        error_message=outcome.error_message[:ERROR_MESSAGE_MAX],
        prompt_tokens=0,
        completion_tokens=0,
        usage_estimated=False,
        worker="",
        heartbeat=None,
    )
    if generated:
        model = _model(plan.model_config_id)
        UsageDaily.objects.charge(
            user_id=plan.owner_id, model=model, model_name=plan.model_name,
            prompt=0, completion=0, estimated=False, images=len(generated),
        )  # fmt: skip
    budgets.settle(first_answer_id=answer_id)
    Conversation.objects.filter(pk=plan.conversation_id).update(updated=timezone.now())
    return message_dicts([answer_id])


def _model(pk: int) -> ModelConfig | None:
    return ModelConfig.objects.filter(pk=pk).first()
