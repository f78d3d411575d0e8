"""The one refusal: what a request may not do, with a code people and programs act on.

Each rule raises a subclass where it lives (a malformed frame, someone else's
id, a parameter out of range, a busy conversation, a spent budget, a prompt
that cannot fit...). The socket consumer turns any of them into an `error`
frame and the JSON API into an error body, each in one place; nothing
converts one refusal into another on the way up. `message` is for people
(already translated); `extra` carries what a program needs (`fields`,
`retry_after`, `resets_at`...). docs/protocol.md lists the codes.
"""

from typing import Any


class Refused(Exception):
    # The HTTP status the JSON API answers with; the socket ignores it.
    status = 400

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        self.code, self.message, self.extra = code, message, extra
        super().__init__(message)

    def as_error(self) -> dict[str, Any]:
        """The body of an `error` frame or of a JSON error, without the client id."""
        return {"code": self.code, "message": self.message, **self.extra}
