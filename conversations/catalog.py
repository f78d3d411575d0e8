"""What we know about models: their kind, context window and reasoning habits.

Servers say different things in ``/v1/models``, or nothing at all. What a
server says about its own model wins (vLLM's ``max_model_len``, OpenRouter's
``context_length`` and ``architecture``, llama.cpp's ``meta``, LiteLLM's model
info); well-known names come next; anything else is a guess, marked as one so
staff check it. Listings are provider text: every value is type-checked here.

Pure Python (no Django): the model rows and the admin build on it, and its
strings are spelt as ModelConfig's choices.
"""

import re
from typing import Any, NamedTuple

CHAT, COMPLETION, IMAGE, EMBEDDING, OTHER = "chat", "completion", "image", "embedding", "other"
LISTED, KNOWN, GUESSED = "listed", "known", "guessed"

# Bounds for a number a server reports as a window or an output cap.
SMALLEST_WINDOW = 16
LARGEST_WINDOW = 100_000_000


class ModelFacts(NamedTuple):
    context_window: int
    max_output_tokens: int | None
    source: str = KNOWN


class ReasoningFacts(NamedTuple):
    """How a model wants to be asked; field names are ModelConfig's."""

    token_limit_param: str
    system_role: str
    takes_reasoning_effort: bool


# Longest matching prefix wins, so "gpt-4o" is found before "gpt-4".
KNOWN_PREFIXES: dict[str, ModelFacts] = {
    "gpt-5-chat": ModelFacts(128_000, 16_384),
    "gpt-5": ModelFacts(400_000, 128_000),
    "gpt-4.1": ModelFacts(1_047_576, 32_768),
    "gpt-4o": ModelFacts(128_000, 16_384),
    "chatgpt-4o": ModelFacts(128_000, 16_384),
    "gpt-4-turbo": ModelFacts(128_000, 4_096),
    "gpt-4-32k": ModelFacts(32_768, None),
    "gpt-4": ModelFacts(8_192, None),
    "gpt-3.5-turbo-16k": ModelFacts(16_385, 4_096),
    "gpt-3.5-turbo-0301": ModelFacts(4_096, None),
    "gpt-3.5-turbo-0613": ModelFacts(4_096, None),
    "gpt-3.5-turbo": ModelFacts(16_385, 4_096),
    "o1-mini": ModelFacts(128_000, 65_536),
    "o1-preview": ModelFacts(128_000, 32_768),
    "o1": ModelFacts(200_000, 100_000),
    "o3": ModelFacts(200_000, 100_000),
    "o4-mini": ModelFacts(200_000, 100_000),
}
DEFAULT_FACTS = ModelFacts(8_192, None, GUESSED)

# Reasoning models take max_completion_tokens; all but the first two also the
# developer role and reasoning_effort (the same rule as migration 0007).
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
NO_DEVELOPER_ROLE = ("o1-preview", "o1-mini")

# Names that say what a model is not, checked in order against the id's last
# part at the start of a word ("embed" finds "text-embedding-3-small").
NAME_KINDS: tuple[tuple[str, str], ...] = (
    (r"rerank", OTHER),
    (r"embed|text-similarity|text-search|code-search", EMBEDDING),
    (r"dall-e|gpt-image|chatgpt-image|stable-diffusion|sdxl|flux\.1", IMAGE),
    (r"whisper|tts|transcribe|moderation|realtime|audio|sora", OTHER),
    # Served by OpenAI's Responses API only, never by chat completions.
    (r"o1-pro|o3-pro|gpt-5-pro|gpt-5-codex|codex-mini|computer-use|deep-research", OTHER),
)
NAME_PATTERNS = [(re.compile(rf"(?<![a-z0-9])(?:{words})"), kind) for words, kind in NAME_KINDS]
# OpenAI's text-completion models, by their whole name. Other "…-Instruct"
# models (Llama, Qwen, SmolLM…) are chat models with a chat template.
COMPLETION_NAMES = re.compile(
    r"gpt-3\.5-turbo-instruct(?:-\d+)?|(?:text-)?(?:davinci|curie|babbage|ada)(?:-\d{3})?"
    r"|code-(?:davinci|cushman)-\d{3}"
)

# The rule sync used before it read listings: "instruct" anywhere meant a
# completion model. A row it classified is corrected by the next sync unless
# staff changed its kind (see ModelConfigQuerySet.sync_listing).
OLD_KIND_HINTS = (
    ("embed", EMBEDDING),
    ("dall-e", IMAGE),
    ("gpt-image", IMAGE),
    ("whisper", OTHER),
    ("tts", OTHER),
    ("transcribe", OTHER),
    ("moderation", OTHER),
    ("realtime", OTHER),
    ("audio", OTHER),
    ("davinci-002", COMPLETION),
    ("babbage-002", COMPLETION),
    ("instruct", COMPLETION),
)

# What servers call their kinds: LiteLLM's model_info.mode, the "type" of
# Together and LM Studio, OpenRouter's output modalities.
LISTED_KINDS = {
    "chat": CHAT,
    "llm": CHAT,
    "vlm": CHAT,
    "text": CHAT,
    # LiteLLM bridges chat completions to the Responses API for these.
    "responses": CHAT,
    "completion": COMPLETION,
    "language": COMPLETION,
    "embedding": EMBEDDING,
    "embeddings": EMBEDDING,
    "image": IMAGE,
    "image_generation": IMAGE,
    "audio": OTHER,
    "audio_speech": OTHER,
    "audio_transcription": OTHER,
    "moderation": OTHER,
    "moderations": OTHER,
    "rerank": OTHER,
    "video_generation": OTHER,
}


def short_name(model_id: str) -> str:
    """The id's last part, lower-cased: "meta-llama/Llama-3.1-8B" → "llama-3.1-8b"."""
    return model_id.rsplit("/", 1)[-1].strip().lower()


# --- Kind --------------------------------------------------------------------------


def kind_for(model_id: str, listing: dict | None = None) -> str:
    """What a model is for: what its server says, else its name, else chat."""
    return listed_kind(listing or {}) or kind_by_name(model_id)


def kind_by_name(model_id: str) -> str:
    name = short_name(model_id)
    if COMPLETION_NAMES.fullmatch(name):
        return COMPLETION
    return next((kind for pattern, kind in NAME_PATTERNS if pattern.search(name)), CHAT)


def kind_by_old_rule(model_id: str) -> str:
    name = model_id.lower()
    return next((kind for hint, kind in OLD_KIND_HINTS if hint in name), CHAT)


def listed_kind(item: dict) -> str | None:
    """The kind a listing entry states, if it states one we know."""
    modalities = _dict(item.get("architecture"))
    stated = (
        _output_modality_kind(modalities)
        or _known_kind(_dict(item.get("model_info")).get("mode"))
        or _known_kind(item.get("type"))
    )
    if stated is None and _dict(item.get("capabilities")).get("completion_chat") is True:
        stated = CHAT  # Mistral
    return stated


def _output_modality_kind(architecture: dict) -> str | None:
    """OpenRouter: ``output_modalities`` (["text"], ["image"]), or "text->image"."""
    outputs = architecture.get("output_modalities")
    if not isinstance(outputs, list):
        modality = architecture.get("modality")
        outputs = modality.rsplit("->", 1)[-1].split("+") if isinstance(modality, str) else []
    names = {str(output).strip().lower() for output in outputs}
    if "text" in names:
        return CHAT  # text out (with images or audio, maybe): a chat completion
    return next((_known_kind(name) for name in sorted(names) if _known_kind(name)), None)


def _known_kind(value: Any) -> str | None:
    return LISTED_KINDS.get(value.strip().lower()) if isinstance(value, str) else None


# --- Context window and output cap -------------------------------------------------


def facts_for(model_id: str, listing: dict | None = None) -> ModelFacts:
    """Context window and output cap for a model id and its /v1/models entry.

    What the server serves with beats the model's well-known name; a length a
    model was trained for (llama.cpp's ``n_ctx_train``) is only an upper
    bound, since the server may serve less: it stays a guess.
    """
    item = listing or {}
    window = listed_window(item)
    if window is not None:
        return ModelFacts(window, _below(listed_output_cap(item), window), LISTED)
    known = known_facts(model_id)
    trained = _tokens(_dict(item.get("meta")).get("n_ctx_train"))
    if known.source == GUESSED and trained is not None:
        return ModelFacts(trained, None, GUESSED)
    return known


def known_facts(model_id: str) -> ModelFacts:
    name = short_name(model_id)
    for prefix in sorted(KNOWN_PREFIXES, key=len, reverse=True):
        if name.startswith(prefix):
            return KNOWN_PREFIXES[prefix]
    return DEFAULT_FACTS


def listed_window(item: dict) -> int | None:
    """The window a server says it serves the model with, if it says."""
    meta, info = _dict(item.get("meta")), _dict(item.get("model_info"))
    top = _dict(item.get("top_provider"))
    candidates = (
        _tokens(meta.get("n_ctx")),  # llama.cpp (builds that report the served context)
        _tokens(item.get("max_model_len")),  # vLLM
        _smallest(_tokens(item.get("context_length")), _tokens(top.get("context_length"))),
        _litellm_window(info),
        _tokens(item.get("max_context_length")),  # Mistral
        _tokens(item.get("context_window")),  # Groq
    )
    return next((value for value in candidates if value is not None), None)


def listed_output_cap(item: dict) -> int | None:
    top, info = _dict(item.get("top_provider")), _dict(item.get("model_info"))
    candidates = (
        _tokens(top.get("max_completion_tokens")),  # OpenRouter
        _tokens(info.get("max_output_tokens")),  # LiteLLM
        _tokens(item.get("max_completion_tokens")),  # Groq
    )
    return next((value for value in candidates if value is not None), None)


def _litellm_window(info: dict) -> int | None:
    """LiteLLM: ``max_input_tokens``; its legacy ``max_tokens`` only when alone.

    LiteLLM sets ``max_tokens`` to the output cap when the provider gives one,
    so it is a window only when no output cap is known.
    """
    window = _tokens(info.get("max_input_tokens"))
    if window is None and _tokens(info.get("max_output_tokens")) is None:
        window = _tokens(info.get("max_tokens"))
    return window


def litellm_model_info(payload: Any) -> dict[str, dict]:
    """LiteLLM's ``/model/info`` answer as {model name: model_info}."""
    entries = payload.get("data") if isinstance(payload, dict) else None
    found: dict[str, dict] = {}
    for entry in entries if isinstance(entries, list) else []:
        entry = _dict(entry)
        name, info = entry.get("model_name"), _dict(entry.get("model_info"))
        if isinstance(name, str) and info and name not in found:
            found[name] = info
    return found


def with_model_info(listing: list[dict], info_by_name: dict[str, dict]) -> list[dict]:
    """The listing with each entry's LiteLLM model info (when it has one) attached."""
    return [
        {**item, "model_info": info_by_name[item["id"]]}
        if isinstance(item.get("id"), str) and item["id"] in info_by_name
        else item
        for item in listing
    ]


def _tokens(value: Any) -> int | None:
    """A token count a server reports, or None for anything that is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    value = int(value)
    return value if SMALLEST_WINDOW <= value <= LARGEST_WINDOW else None


def _smallest(*values: int | None) -> int | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _below(cap: int | None, window: int) -> int | None:
    return cap if cap is not None and cap < window else None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


# --- Reasoning ---------------------------------------------------------------------


def reasoning_facts(model_id: str) -> ReasoningFacts:
    name = short_name(model_id)
    if not name.startswith(REASONING_PREFIXES):
        return ReasoningFacts("max_tokens", "system", False)
    if name.startswith(NO_DEVELOPER_ROLE):
        return ReasoningFacts("max_completion_tokens", "system", False)
    return ReasoningFacts("max_completion_tokens", "developer", True)
