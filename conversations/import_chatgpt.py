"""Reading ChatGPT's data export (``conversations.json``) into conversation trees.

A list of conversations, each a ``mapping`` of nodes ``{id: {message, parent,
children}}`` with a ``current_node``. Nodes without a message (the root),
tool messages and what ChatGPT never showed are dropped and their children
join the nearest kept ancestor, so edits and regenerations stay siblings.
Parts that are not text become a visible note.
"""

from django.utils.translation import gettext as _

from conversations.import_formats import ROLES, Node, Reader, Tree, fallback_id, shown
from conversations.llm.text import clean_text

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
