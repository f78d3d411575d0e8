"""The only code in chatsite that speaks the OpenAI chat-completions wire format.

Pure asyncio + httpx, no Django: the service layer turns a Provider row into
``ProviderSettings`` and calls ``get_client(settings)``.
"""

from .adapt import Learnt
from .client import LLMClient
from .config import MAX_RETRIES_LIMIT, ProviderSettings
from .errors import (
    AuthenticationFailed,
    BadRequest,
    ContextLengthExceeded,
    EmptyAnswer,
    LLMError,
    ModelNotFound,
    PermissionDenied,
    ProtocolError,
    ProviderAddressRefused,
    QuotaExceeded,
    RateLimited,
    ServerError,
    StreamErrorEvent,
    StreamInterrupted,
    UpstreamConnectError,
    UpstreamTimeout,
    redact,
)
from .events import ChatResult, Delta, Finish, Logprobs, Reasoning, StreamEvent, Usage
from .pool import close_all, get_client

__all__ = [
    "MAX_RETRIES_LIMIT",
    "AuthenticationFailed",
    "BadRequest",
    "ChatResult",
    "ContextLengthExceeded",
    "Delta",
    "EmptyAnswer",
    "Finish",
    "LLMClient",
    "LLMError",
    "Learnt",
    "Logprobs",
    "ModelNotFound",
    "PermissionDenied",
    "ProtocolError",
    "ProviderAddressRefused",
    "ProviderSettings",
    "QuotaExceeded",
    "RateLimited",
    "Reasoning",
    "ServerError",
    "StreamErrorEvent",
    "StreamEvent",
    "StreamInterrupted",
    "UpstreamConnectError",
    "UpstreamTimeout",
    "Usage",
    "close_all",
    "get_client",
    "redact",
]
