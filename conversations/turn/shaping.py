"""What we send: a turn's parameters in the words this model and its server take.

The product speaks of one answer-length parameter, ``max_tokens`` (the rules,
the panel, personas, the answers' records); on the wire it is
``max_completion_tokens`` for models that want it (OpenAI's reasoning models).
Streams ask for usage unless the provider refuses ``stream_options``. Both are
learnt from the server's refusal too (``llm.adapt``, remembered by ``quirks``).
"""

from conversations.models import ModelConfig
from conversations.upstream import upstream_user

# vLLM's way to extend the last assistant message instead of starting a new one.
PREFIX_CONTINUATION = {"continue_final_message": True, "add_generation_prompt": False}


def chat_body(model: ModelConfig, messages: list[dict], effective: dict, *, user_pk: int) -> dict:
    """The body of a chat request for ``model``, as its server takes it."""
    body = {
        "model": model.model_id,
        "messages": messages,
        **wire_params(model, effective),
        "user": upstream_user(user_pk),
    }
    if not model.provider.send_stream_usage:
        body["stream_options"] = {"include_usage": False}  # llm.wire then sends none
    return body


def wire_params(model: ModelConfig, effective: dict) -> dict:
    """The parameters under their wire names."""
    wired = dict(effective)
    if "max_tokens" in wired and model.token_limit_param != "max_tokens":
        wired[model.token_limit_param] = wired.pop("max_tokens")
    return wired


def capped(effective: dict, cap: int | None) -> dict:
    """``effective`` with ``cap`` as its answer length when it sets none: a budgeted
    turn reserved that much per answer, so the server must not write more."""
    if cap is None or effective.get("max_tokens"):
        return effective
    return {**effective, "max_tokens": cap}


def continuing_in_place(body: dict) -> dict:
    """The body asking the server to extend the last (assistant) message itself."""
    return {**body, **PREFIX_CONTINUATION}
