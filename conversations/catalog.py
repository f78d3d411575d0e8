"""What we know about well-known model ids that /v1/models does not say.

OpenAI's model listing carries no context window, so a new model row starts
from this table; staff can correct any value in the admin.
"""

from typing import NamedTuple


class ModelFacts(NamedTuple):
    context_window: int
    max_output_tokens: int | None


# Longest matching prefix wins, so "gpt-4o" is found before "gpt-4".
KNOWN_PREFIXES: dict[str, ModelFacts] = {
    "gpt-5": ModelFacts(400_000, 128_000),
    "gpt-4.1": ModelFacts(1_047_576, 32_768),
    "gpt-4o": ModelFacts(128_000, 16_384),
    "gpt-4-turbo": ModelFacts(128_000, 4_096),
    "gpt-4-32k": ModelFacts(32_768, None),
    "gpt-4": ModelFacts(8_192, None),
    "gpt-3.5-turbo-16k": ModelFacts(16_385, 4_096),
    "gpt-3.5-turbo-0301": ModelFacts(4_096, None),
    "gpt-3.5-turbo-0613": ModelFacts(4_096, None),
    "gpt-3.5-turbo": ModelFacts(16_385, 4_096),
    "o1": ModelFacts(200_000, 100_000),
    "o3": ModelFacts(200_000, 100_000),
    "o4-mini": ModelFacts(200_000, 100_000),
}
DEFAULT_FACTS = ModelFacts(8_192, None)


def facts_for(model_id: str, listing: dict | None = None) -> ModelFacts:
    """Context window and output cap for a model id (and its /v1/models entry).

    vLLM reports ``max_model_len`` in its listing; that beats any guess.
    """
    listed = (listing or {}).get("max_model_len") or (listing or {}).get("context_length")
    if isinstance(listed, int) and listed > 16:
        return ModelFacts(listed, None)
    name = model_id.rsplit("/", 1)[-1].lower()
    for prefix in sorted(KNOWN_PREFIXES, key=len, reverse=True):
        if name.startswith(prefix):
            return KNOWN_PREFIXES[prefix]
    return DEFAULT_FACTS
