"""Reading import files into plain conversation trees (no database).

Here: what both formats share (the checks, the tree) and chatsite's own
export (one JSON object per conversation, alone, in the admin's
``{"conversations": [...]}`` document or in a user archive). ChatGPT's data
export is read in conversations.import_chatgpt.

Every check names the conversation (counted from 1 in the file) and the
message it is about, so a refusal says what to fix. ``ImportRefused`` is the
only exception that leaves this module for any input.
"""

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils.translation import gettext as _

from conversations.llm.text import clean_text

ROLES = ("system", "user", "assistant")
ANSWER_STATUSES = ("complete", "truncated", "filtered", "stopped", "interrupted", "error")
ID_LENGTH_MAX = 200
SHOWN_ID_MAX = 40  # an id in a refusal is cut to this


class ImportRefused(Exception):
    """The file cannot be imported; the message says why, for the person who sent it."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass
class Node:
    """One message as read from a file, before it has a row."""

    key: str
    parent: str | None
    role: str
    content: str
    status: str = "sent"
    created: datetime | None = None
    model_name: str = ""
    params: dict = field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_estimated: bool = False
    reasoning: str = ""


@dataclass
class Tree:
    """One conversation as read from a file."""

    source: str
    original_id: str
    title: str
    created: datetime | None
    nodes: list[Node]
    current: str | None
    persona: str = ""
    model: str = ""
    params: dict = field(default_factory=dict)


class Reader:
    """Checks shared by both formats; ``where`` names the conversation."""

    def __init__(self, number: int) -> None:
        self.where = _("conversation %(number)s") % {"number": number}

    def refuse(self, problem: str) -> ImportRefused:
        return ImportRefused(f"{self.where}: {problem}")

    def mapping(self, value, name: str) -> dict:
        if not isinstance(value, dict):
            raise self.refuse(_("“%(name)s” must be an object.") % {"name": name})
        return value

    def sequence(self, value, name: str) -> list:
        if not isinstance(value, list):
            raise self.refuse(_("“%(name)s” must be a list.") % {"name": name})
        return value

    def text(self, value, name: str, *, optional: bool = True) -> str:
        if value is None and optional:
            return ""
        if not isinstance(value, str):
            raise self.refuse(_("“%(name)s” must be text.") % {"name": name})
        return clean_text(value)

    def key(self, value, name: str) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value or len(value) > ID_LENGTH_MAX:
            raise self.refuse(_("“%(name)s” must be a non-empty id.") % {"name": name})
        return clean_text(value)  # stored as the import id: only what a database can hold

    def count(self, value, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
            raise self.refuse(_("“%(name)s” must be a whole number.") % {"name": name})
        return value

    def epoch(self, value, name: str) -> datetime | None:
        """ChatGPT's times: seconds since 1970 (a float), or null."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.refuse(_("“%(name)s” must be a time in seconds.") % {"name": name})
        if not math.isfinite(value) or not 0 <= value < 32503680000:  # before year 3000
            raise self.refuse(_("“%(name)s” is not a possible time.") % {"name": name})
        return datetime.fromtimestamp(value, tz=UTC)

    def iso_time(self, value, name: str) -> datetime | None:
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
            moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
        except (TypeError, ValueError, OverflowError):
            raise self.refuse(_("“%(name)s” must be an ISO 8601 time.") % {"name": name}) from None
        if not 1970 <= moment.year < 3000:
            raise self.refuse(_("“%(name)s” is not a possible time.") % {"name": name})
        return moment


def clean_json(value):
    """A JSON value with every string made safe to store (PostgreSQL's jsonb
    refuses NUL and unpaired surrogates)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_json(item) for key, item in value.items()}
    return value


def shown(key: str) -> str:
    return key[:SHOWN_ID_MAX]


def fallback_id(document) -> str:
    """A stable id for a conversation whose file gives none: its content's hash."""
    canonical = json.dumps(document, sort_keys=True, default=str, ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


# --- chatsite ------------------------------------------------------------------------


def chatsite_tree(document, number: int) -> Tree:
    reader = Reader(number)
    document = reader.mapping(document, "conversation")
    rows = reader.sequence(document.get("messages"), "messages")
    nodes = [_chatsite_node(reader, reader.mapping(row, "messages")) for row in rows]
    original = document.get("id")
    return Tree(
        source="chatsite",
        original_id=reader.key(original, "id") if original is not None else fallback_id(document),
        title=reader.text(document.get("title"), "title"),
        created=reader.iso_time(document.get("created"), "created"),
        nodes=nodes,
        current=_chatsite_current(reader, document, rows),
        persona=reader.text(document.get("persona"), "persona"),
        model=reader.text(document.get("model"), "model"),
        params=clean_json(reader.mapping(document.get("params") or {}, "params")),
    )


def _chatsite_node(reader: Reader, row: dict) -> Node:
    key = reader.key(row.get("id"), "id")
    role = row.get("role")
    if role not in ROLES:
        raise reader.refuse(
            _("message %(id)s has an unknown role.") % {"id": shown(key)},
        )
    parent = row.get("parent_id")
    status = row.get("status")
    if role == "assistant":
        status = status if status in ANSWER_STATUSES else "interrupted"
    return Node(
        key=key,
        parent=reader.key(parent, "parent_id") if parent is not None else None,
        role=role,
        content=reader.text(row.get("content"), "content"),
        status=status if role == "assistant" else "sent",
        created=reader.iso_time(row.get("created"), "created"),
        model_name=reader.text(row.get("model"), "model")[:200],
        params=clean_json(reader.mapping(row.get("params") or {}, "params")),
        prompt_tokens=reader.count(row.get("prompt_tokens"), "prompt_tokens"),
        completion_tokens=reader.count(row.get("completion_tokens"), "completion_tokens"),
        usage_estimated=bool(row.get("usage_estimated")),
        reasoning=reader.text(row.get("reasoning"), "reasoning"),
    )


def _chatsite_current(reader: Reader, document: dict, rows: list) -> str | None:
    """The saved current leaf, else the last message of the marked active branch."""
    if document.get("current_leaf") is not None:
        return reader.key(document["current_leaf"], "current_leaf")
    active = [row.get("id") for row in rows if isinstance(row, dict) and row.get("active_branch")]
    return str(active[-1]) if active else None
