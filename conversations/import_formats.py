"""Reading other people's files into plain conversation trees (no database).

Two formats: chatsite's own export (one JSON object per conversation, alone,
in the admin's ``{"conversations": [...]}`` document or in a user archive)
and ChatGPT's data export (``conversations.json``: a list of conversations,
each a ``mapping`` of nodes with ``parent`` and ``children``).

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


# --- ChatGPT -------------------------------------------------------------------------

SKIPPED_ROLES = ("tool",)  # browsing and plug-in results: their children join the parent


def chatgpt_tree(document, number: int) -> Tree:
    reader = Reader(number)
    document = reader.mapping(document, "conversation")
    mapping = reader.mapping(document.get("mapping"), "mapping")
    parents, kept = {}, {}
    for key, node in mapping.items():
        node = reader.mapping(node, "mapping")
        key = reader.key(key, "mapping")
        parent = node.get("parent")
        parents[key] = reader.key(parent, "parent") if parent is not None else None
        message = _chatgpt_message(reader, key, node.get("message"))
        if message is not None:
            kept[key] = message
    _check_parents(reader, parents)
    nodes = [_reparented(node, parents, kept) for node in kept.values()]
    original = document.get("conversation_id", document.get("id"))
    current = document.get("current_node")
    if current is not None and reader.key(current, "current_node") not in parents:
        raise reader.refuse(
            _("the current message %(id)s does not exist.") % {"id": shown(str(current))}
        )
    return Tree(
        source="chatgpt",
        original_id=reader.key(original, "id") if original is not None else fallback_id(document),
        title=reader.text(document.get("title"), "title"),
        created=reader.epoch(document.get("create_time"), "create_time"),
        nodes=nodes,
        current=_nearest_kept(reader.key(current, "current_node"), parents, kept)
        if current is not None
        else None,
    )


def _check_parents(reader: Reader, parents: dict) -> None:
    for key, parent in parents.items():
        if parent is not None and parent not in parents:
            raise reader.refuse(
                _("message %(id)s has a parent that does not exist.") % {"id": shown(key)}
            )


def _nearest_kept(key: str | None, parents: dict, kept: dict) -> str | None:
    """The node itself if kept, else its nearest kept ancestor (cycles end the walk)."""
    seen = set()
    while key is not None and key not in kept and key not in seen:
        seen.add(key)
        key = parents.get(key)
    return key if key in kept else None


def _reparented(node: Node, parents: dict, kept: dict) -> Node:
    node.parent = _nearest_kept(parents.get(node.key), parents, kept)
    return node


def _chatgpt_message(reader: Reader, key: str, message) -> Node | None:
    """The node's message, or None for the empty root and skipped kinds."""
    if message is None:
        return None
    message = reader.mapping(message, "message")
    author = reader.mapping(message.get("author"), "author")
    role = author.get("role")
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    if role in SKIPPED_ROLES or _behind_the_scenes(message, metadata):
        return None
    if role not in ROLES:
        raise reader.refuse(_("message %(id)s has an unknown role.") % {"id": shown(key)})
    content = _chatgpt_content(reader, reader.mapping(message.get("content"), "content"))
    if role == "system" and not content.strip():
        return None  # ChatGPT's hidden empty system message: nothing to keep
    model = metadata.get("model_slug")
    return Node(
        key=key,
        parent=None,
        role=role,
        content=content,
        status="complete" if role == "assistant" else "sent",
        created=reader.epoch(message.get("create_time"), "create_time"),
        model_name=model[:200] if isinstance(model, str) else "",
    )


def _behind_the_scenes(message: dict, metadata: dict) -> bool:
    """What ChatGPT itself never showed: a model's call to a tool (its
    recipient is the tool) and hidden context such as custom instructions."""
    recipient = message.get("recipient")
    return (recipient is not None and recipient != "all") or bool(
        metadata.get("is_visually_hidden_from_conversation")
    )


def _chatgpt_content(reader: Reader, content: dict) -> str:
    kind = content.get("content_type")
    if kind == "code":
        code = reader.text(content.get("text"), "text")
        return f"```\n{code}\n```" if code else ""
    if kind in ("text", "multimodal_text"):
        parts = reader.sequence(content.get("parts", []), "parts")
        return "\n\n".join(_chatgpt_part(reader, part) for part in parts if part != "")
    return skipped_note(str(kind)[:40])


def _chatgpt_part(reader: Reader, part) -> str:
    if isinstance(part, str):
        return clean_text(part)
    kind = part.get("content_type") if isinstance(part, dict) else None
    return skipped_note(str(kind or type(part).__name__)[:40])


def skipped_note(kind: str) -> str:
    """What stands where a part could not be imported (an image, a browsing result...)."""
    kind = "`" + kind.replace("`", "") + "`"
    return _("[Not imported: a part of type %(kind)s.]") % {"kind": kind}
