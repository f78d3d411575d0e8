"""The one set of rules for chat-completion parameters.

The socket, the forms, the admin and any API validate through
``validate_params``; ranges follow the chat-completions reference in
../shared/seeds. ``user`` is never accepted from outside: the server sets it.

Some parameters only apply to some models (``ModelLimits``): a reasoning
effort to models that take one, sampling settings (temperature, top_p, the
penalties, logit_bias) to models that are not reasoning models, ``n`` above 1
to models whose server gives several answers. A value set for this very
request or in this model's own settings that does not apply is refused, naming
the parameter. A value inherited from elsewhere (a persona's default chosen for
another model, a conversation's settings from before its model changed) is
left out instead (``applicable``): it was right where it was set, and the
answer records the parameters it really used.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from conversations import tokens
from conversations.llm.text import clean_text
from conversations.refusals import Refused

N_MAX = 4  # each choice is a full generation, billed as such
STOP_SEQUENCES_MAX = 4
STOP_SEQUENCE_LENGTH_MAX = 256
LOGIT_BIAS_ENTRIES_MAX = 300
LOGIT_BIAS_RANGE = (-100, 100)
# Token ids are 32-bit on every server we know; a bound holds when no tokenizer does.
TOKEN_ID_LIMIT = 2**31
# (low, high, the API's default) of the numeric parameters.
RANGES = {
    "temperature": (0, 2, 1),
    "top_p": (0, 1, 1),
    "presence_penalty": (-2, 2, 0),
    "frequency_penalty": (-2, 2, 0),
}

# The values of the current chat-completions reference; which a model takes
# varies (o-series: low to high; gpt-5: minimal to high; later ones none and
# xhigh), so the provider has the last word.
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
# Reasoning models sample with fixed settings and refuse these.
SAMPLING_PARAMS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "logit_bias")

PARAM_NAMES = (
    "temperature",
    "top_p",
    "n",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "logit_bias",
    "reasoning_effort",
)


@dataclass(frozen=True)
class ModelLimits:
    """What a parameter may be for one model (the defaults: no model chosen, anything goes)."""

    model: str = ""
    context_window: int | None = None
    max_output_tokens: int | None = None
    takes_reasoning_effort: bool | None = None  # None: not known (no model chosen)
    reasoning_model: bool = False  # samples with fixed settings: SAMPLING_PARAMS do not apply
    supports_n: bool = True

    @property
    def max_tokens_ceiling(self) -> int | None:
        if self.max_output_tokens:
            return self.max_output_tokens
        return self.context_window - 1 if self.context_window else None


class ParamsInvalid(Refused, ValueError):
    """One or more parameters broke the rules; ``errors`` maps name to message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("invalid_params", _("Some parameters are not valid."), fields=errors)

    def __str__(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.errors.items())


class _Invalid(ValueError):
    pass


def _number(value: Any, low: float, high: float) -> float | int:
    # JSON true/false are ints in Python; a boolean is never a valid number here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(_("must be a number from %(low)s to %(high)s.") % {"low": low, "high": high})
    if not low <= value <= high:
        raise _Invalid(_("must be from %(low)s to %(high)s.") % {"low": low, "high": high})
    return value


def _integer(value: Any, low: int, high: int | None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(_("must be a whole number."))
    if value < low or (high is not None and value > high):
        if high is None:
            raise _Invalid(_("must be at least %(low)s.") % {"low": low})
        raise _Invalid(_("must be from %(low)s to %(high)s.") % {"low": low, "high": high})
    return value


def _ranged(name: str) -> Callable[[Any, ModelLimits], float | int]:
    low, high, _default = RANGES[name]
    return lambda value, limits: _number(value, low, high)


def _n(value: Any, limits: ModelLimits) -> int:
    return _integer(value, 1, N_MAX)


def _reasoning_effort(value: Any, limits: ModelLimits) -> str:
    if value not in REASONING_EFFORTS:
        raise _Invalid(_("must be one of %(values)s.") % {"values": ", ".join(REASONING_EFFORTS)})
    return value


def _max_tokens(value: Any, limits: ModelLimits) -> int:
    return _integer(value, 1, limits.max_tokens_ceiling)


def _stop(value: Any, limits: ModelLimits) -> str | list[str]:
    sequences = [value] if isinstance(value, str) else value
    if not isinstance(sequences, list) or not all(isinstance(s, str) for s in sequences):
        raise _Invalid(_("must be a text or a list of texts."))
    if len(sequences) > STOP_SEQUENCES_MAX:
        raise _Invalid(_("allows at most %(max)s sequences.") % {"max": STOP_SEQUENCES_MAX})
    sequences = [clean_text(s) for s in sequences]
    if any(not s or len(s) > STOP_SEQUENCE_LENGTH_MAX for s in sequences):
        raise _Invalid(
            _("sequences must be 1 to %(max)s characters long.") % {"max": STOP_SEQUENCE_LENGTH_MAX}
        )
    return sequences[0] if isinstance(value, str) else sequences


def _token_id(key: Any, model: str) -> int:
    try:
        token_id = int(key)
    except (TypeError, ValueError):
        raise _Invalid(
            _("keys must be token ids (whole numbers), not %(key)r.") % {"key": key}
        ) from None
    if str(token_id) != str(key).strip() or token_id < 0:
        raise _Invalid(_("keys must be token ids (whole numbers), not %(key)r.") % {"key": key})
    if token_id >= TOKEN_ID_LIMIT:
        raise _Invalid(
            _("%(id)s is not a token id: they go from 0 to %(max)s.")
            % {"id": token_id, "max": TOKEN_ID_LIMIT - 1}
        )
    if tokens.is_valid_token_id(token_id, model) is False:
        raise _Invalid(_("%(id)s is not a token id of this model's tokenizer.") % {"id": token_id})
    return token_id


def _logit_bias(value: Any, limits: ModelLimits) -> dict[str, float | int]:
    if not isinstance(value, Mapping):
        raise _Invalid(_("must map token ids to a bias from -100 to 100."))
    if len(value) > LOGIT_BIAS_ENTRIES_MAX:
        raise _Invalid(_("allows at most %(max)s entries.") % {"max": LOGIT_BIAS_ENTRIES_MAX})
    cleaned = {}
    for key, bias in value.items():
        token_id = _token_id(key, limits.model)
        try:
            cleaned[str(token_id)] = _number(bias, *LOGIT_BIAS_RANGE)
        except _Invalid as error:
            message = _("bias for %(id)s %(error)s") % {"id": token_id, "error": error}
            raise _Invalid(message) from None
    return cleaned


RULES: dict[str, Callable[[Any, ModelLimits], Any]] = {
    "temperature": _ranged("temperature"),
    "top_p": _ranged("top_p"),
    "n": _n,
    "max_tokens": _max_tokens,
    "presence_penalty": _ranged("presence_penalty"),
    "frequency_penalty": _ranged("frequency_penalty"),
    "stop": _stop,
    "logit_bias": _logit_bias,
    "reasoning_effort": _reasoning_effort,
}


def inapplicable(name: str, value: Any, limits: ModelLimits) -> str | None:
    """Why ``name`` does not apply to this model, or None when it does."""
    if name == "reasoning_effort" and limits.takes_reasoning_effort is False:
        return _("does not apply: this model takes no reasoning effort.")
    if name in SAMPLING_PARAMS and limits.reasoning_model:
        return _("does not apply: reasoning models sample with fixed settings.")
    if name == "n" and not limits.supports_n and value != 1:
        return _("must be 1: this model gives one answer at a time.")
    return None


def applicable(raw: Any, limits: ModelLimits) -> Any:
    """``raw`` less the parameters that do not apply to this model (see the module doc)."""
    if not isinstance(raw, Mapping):
        return raw
    return {name: v for name, v in raw.items() if inapplicable(name, v, limits) is None}


def describe(limits: ModelLimits | None = None) -> dict[str, dict]:
    """The rules as data, for the browser's parameters panel (the server still decides)."""
    limits = limits or ModelLimits()
    rules = {
        name: {"kind": "number", "min": low, "max": high, "default": default}
        for name, (low, high, default) in RANGES.items()
    }
    rules["n"] = {"kind": "integer", "min": 1, "max": N_MAX if limits.supports_n else 1}
    rules["n"]["default"] = 1
    rules["max_tokens"] = {"kind": "integer", "min": 1, "max": limits.max_tokens_ceiling}
    rules["stop"] = {
        "kind": "stop",
        "max_items": STOP_SEQUENCES_MAX,
        "max_length": STOP_SEQUENCE_LENGTH_MAX,
    }
    low, high = LOGIT_BIAS_RANGE
    rules["logit_bias"] = {
        "kind": "logit_bias",
        "min": low,
        "max": high,
        "max_entries": LOGIT_BIAS_ENTRIES_MAX,
    }
    rules["reasoning_effort"] = {"kind": "choice", "choices": list(REASONING_EFFORTS)}
    for name, rule in rules.items():
        reason = inapplicable(name, None, limits)
        rule["applies"] = reason is None
        if reason:  # shown beside the disabled field
            rule["note"] = _sentence(reason)
    return rules


def _sentence(reason: str) -> str:
    """A reason as a sentence of its own ("Does not apply: …")."""
    return reason[:1].upper() + reason[1:]


def validate_params(raw: Any, limits: ModelLimits | None = None) -> dict[str, Any]:
    """Cleaned parameters, or ParamsInvalid naming every bad one.

    ``None`` values mean "not set" and are dropped, so a form can clear a field.
    """
    return _cleaned_by(RULES, raw, limits or ModelLimits(), refuse=_refusal)


def _cleaned_by(rules: Mapping, raw: Any, limits: ModelLimits, *, refuse=None) -> dict[str, Any]:
    """Each value by its rule (``refuse``: what else the model refuses), or ParamsInvalid."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ParamsInvalid({"params": _("must be an object of parameter names to values.")})
    cleaned, errors = {}, {}
    for name, value in raw.items():
        if name not in rules:
            errors[clean_text(str(name))] = _("is not a parameter you can set.")
        elif value is not None:
            try:
                cleaned[name] = rules[name](value, limits)
            except _Invalid as error:
                errors[name] = str(error)
            else:
                errors.update(refuse(name, cleaned[name], limits) if refuse else {})
    if errors:
        raise ParamsInvalid(errors)
    return cleaned


def _refusal(name: str, value: Any, limits: ModelLimits) -> dict[str, str]:
    reason = inapplicable(name, value, limits)
    return {name: reason} if reason else {}


def check_overridable(overrides: Mapping[str, Any], overridable: Iterable[str] | None) -> None:
    """Refuse overrides of parameters the persona locks (None means all are open)."""
    if overridable is None:
        return
    allowed = set(overridable)
    locked = {name: _("is fixed by the persona.") for name in overrides if name not in allowed}
    if locked:
        raise ParamsInvalid(locked)


def effective_params(
    *,
    overrides: Mapping[str, Any],
    persona_defaults: Mapping[str, Any],
    model_defaults: Mapping[str, Any],
    overridable: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Request override (where allowed) → persona default → model default.

    What none of them sets is left out, so the API's own default applies.
    """
    check_overridable(overrides, overridable)
    return {**model_defaults, **persona_defaults, **overrides}


# --- Text completions (completion models) --------------------------------------
# The seeds' /v1/completions table. Shared rules (temperature, top_p, the
# penalties, stop, logit_bias, n) are the chat ones above; what only the
# completions endpoint takes is here. ``prompt`` is the document itself and
# ``user`` is set by the server, as for chat.

COMPLETION_MAX_TOKENS_DEFAULT = 16  # the API's own default
LOGPROBS_MAX = 5
BEST_OF_MAX = 20  # each candidate is a full generation, billed as such
SUFFIX_LENGTH_MAX = 100_000


def _boolean(value: Any, limits: ModelLimits) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(_("must be true or false."))
    return value


def _logprobs(value: Any, limits: ModelLimits) -> int:
    return _integer(value, 0, LOGPROBS_MAX)


def _best_of(value: Any, limits: ModelLimits) -> int:
    return _integer(value, 1, BEST_OF_MAX)


def _suffix(value: Any, limits: ModelLimits) -> str:
    if not isinstance(value, str):
        raise _Invalid(_("must be a text."))
    if len(value) > SUFFIX_LENGTH_MAX:
        raise _Invalid(_("must be at most %(max)s characters.") % {"max": SUFFIX_LENGTH_MAX})
    return clean_text(value)


COMPLETION_RULES: dict[str, Callable[[Any, ModelLimits], Any]] = {
    "suffix": _suffix,
    "max_tokens": _max_tokens,
    "temperature": _ranged("temperature"),
    "top_p": _ranged("top_p"),
    "n": _n,
    "stream": _boolean,
    "logprobs": _logprobs,
    "echo": _boolean,
    "stop": _stop,
    "presence_penalty": _ranged("presence_penalty"),
    "frequency_penalty": _ranged("frequency_penalty"),
    "best_of": _best_of,
    "logit_bias": _logit_bias,
}
COMPLETION_PARAM_NAMES = tuple(COMPLETION_RULES)


def validate_completion_params(raw: Any, limits: ModelLimits | None = None) -> dict[str, Any]:
    """Cleaned completion parameters, or ParamsInvalid naming every bad one.

    Each alone by COMPLETION_RULES, then together: ``best_of`` must be greater
    than ``n`` and cannot stream.
    """
    cleaned = _cleaned_by(COMPLETION_RULES, raw, limits or ModelLimits())
    check_completion_combination(cleaned)
    return cleaned


def check_completion_combination(values: Mapping[str, Any]) -> None:
    """The rules between parameters (run again on the effective parameters of a turn)."""
    best_of = values.get("best_of")
    if best_of is None:
        return
    if best_of <= values.get("n", 1):
        raise ParamsInvalid({"best_of": _("must be greater than n.")})
    if values.get("stream"):
        raise ParamsInvalid({"best_of": _("cannot be used with stream: the result comes whole.")})


def check_completion_fits(prompt_tokens: int, max_tokens: int, limits: ModelLimits) -> None:
    """The prompt's tokens plus max_tokens must fit the model's context window."""
    window = limits.context_window
    if window and prompt_tokens + max_tokens > window:
        message = _(
            "with a prompt of %(prompt)s tokens, must be at most %(room)s "
            "(the model's context window is %(window)s tokens)."
        ) % {"prompt": prompt_tokens, "room": max(0, window - prompt_tokens), "window": window}
        raise ParamsInvalid({"max_tokens": message})


def describe_completion(limits: ModelLimits | None = None) -> dict[str, dict]:
    """The completion rules as data, for the document page's parameters panel."""
    limits = limits or ModelLimits()
    shared = describe(ModelLimits(limits.model, limits.context_window, limits.max_output_tokens))
    rules = {name: shared[name] for name in COMPLETION_RULES if name in shared}
    rules["max_tokens"]["default"] = COMPLETION_MAX_TOKENS_DEFAULT
    rules["suffix"] = {"kind": "text", "max_length": SUFFIX_LENGTH_MAX}
    rules["stream"] = {"kind": "boolean", "default": True}
    rules["echo"] = {"kind": "boolean", "default": False}
    rules["logprobs"] = {"kind": "integer", "min": 0, "max": LOGPROBS_MAX}
    rules["best_of"] = {"kind": "integer", "min": 1, "max": BEST_OF_MAX, "default": 1}
    return rules


# --- Image generation (the images endpoint of the seeds) ------------------------
# A turn on an image model takes these instead of the chat parameters above; the
# prompt is the message itself and ``user`` is set by the server, as for chat.

IMAGE_N_MAX = 10
IMAGE_SIZES = ("256x256", "512x512", "1024x1024")
IMAGE_DEFAULT_SIZE = "1024x1024"
IMAGE_FORMATS = ("url", "b64_json")
IMAGE_PROMPT_MAX = 1000
IMAGE_PARAM_NAMES = ("n", "size", "response_format")


def image_sizes(extra: Any) -> tuple[str, ...]:
    """The API's three sizes, then those a model's config adds (ModelConfig.image_sizes)."""
    added = [s for s in extra or [] if is_image_size(s)]
    return IMAGE_SIZES + tuple(s for s in added if s not in IMAGE_SIZES)


def is_image_size(value: Any) -> bool:
    """WIDTHxHEIGHT in pixels, e.g. 1792x1024."""
    if not isinstance(value, str):
        return False
    width, _x, height = value.partition("x")
    return width.isdigit() and height.isdigit() and 0 < int(width) <= 8192 >= int(height) > 0


def validate_image_params(raw: Any, *, sizes: tuple[str, ...] = IMAGE_SIZES) -> dict[str, Any]:
    """``n``, ``size`` and ``response_format`` with their defaults, or ParamsInvalid."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ParamsInvalid({"params": _("must be an object of parameter names to values.")})
    cleaned = {"n": 1, "size": IMAGE_DEFAULT_SIZE, "response_format": "url"}
    errors = {}
    for name, value in raw.items():
        if name not in IMAGE_PARAM_NAMES:
            if name not in RULES:  # chat settings a conversation kept do not apply here
                errors[clean_text(str(name))] = _("is not a parameter you can set.")
            continue
        if value is None:
            continue
        try:
            cleaned[name] = _image_rule(name, value, sizes)
        except _Invalid as error:
            errors[name] = str(error)
    if errors:
        raise ParamsInvalid(errors)
    return cleaned


def _image_rule(name: str, value: Any, sizes: tuple[str, ...]) -> Any:
    if name == "n":
        return _integer(value, 1, IMAGE_N_MAX)
    choices = sizes if name == "size" else IMAGE_FORMATS
    if value not in choices:
        raise _Invalid(_("must be one of %(values)s.") % {"values": ", ".join(choices)})
    return value


def check_image_prompt(prompt: str) -> None:
    if len(prompt) > IMAGE_PROMPT_MAX:
        message = _("must be at most %(max)s characters long.") % {"max": IMAGE_PROMPT_MAX}
        raise ParamsInvalid({"prompt": message})


def describe_images(sizes: tuple[str, ...] = IMAGE_SIZES) -> dict[str, dict]:
    """The image rules as data, for the parameters panel of an image model."""
    return {
        "n": {"kind": "integer", "min": 1, "max": IMAGE_N_MAX, "default": 1, "applies": True},
        "size": {
            "kind": "choice",
            "choices": list(sizes),
            "default": IMAGE_DEFAULT_SIZE,
            "applies": True,
        },
        "response_format": {
            "kind": "choice",
            "choices": list(IMAGE_FORMATS),
            "default": "url",
            "applies": True,
        },
    }
