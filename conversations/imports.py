"""Importing conversations: one file, checked whole, written in one transaction.

A file is read within CHATSITE_IMPORT_MAX_BYTES (an archive's members too,
whatever their headers claim), every conversation in it is checked as a tree
(parents exist, no cycles, every answer answers something, the current
message exists) and the file's messages are counted against
CHATSITE_IMPORT_MAX_MESSAGES, all before the first row is written. Then
everything is written in one transaction: a file with one bad conversation
imports nothing.

Importing is idempotent: each conversation keeps its source and its id there
(unique per owner), and one already imported is skipped.
"""

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import json_input, params
from conversations.import_chatgpt import chatgpt_tree
from conversations.import_formats import (
    ImportRefused,
    Node,
    Reader,
    Tree,
    chatsite_tree,
    shown,
)
from conversations.models import Conversation, Message, ModelConfig, Persona
from conversations.models.chats import TITLE_LENGTH_MAX

__all__ = ["ImportRefused", "ImportResult", "import_file", "read_trees"]
ZIP_MAGIC = b"PK\x03\x04"
# Deeper than any export nests (ChatGPT's tree is a flat mapping of nodes); deeper
# JSON is refused before decoding, never a RecursionError while cleaning it.
IMPORT_DEPTH_MAX = 64
CHATGPT_NAME = "conversations.json"


@dataclass(frozen=True)
class ImportResult:
    created: list[Conversation]
    already_there: int


# --- Reading -------------------------------------------------------------------------


def read_trees(upload) -> list[Tree]:
    """Every conversation in an uploaded file, checked; or ImportRefused."""
    limit = settings.CHATSITE_IMPORT_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise _too_large(limit)
    raw = upload.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(limit)
    documents = _archive_documents(raw) if raw.startswith(ZIP_MAGIC) else [_json(raw)]
    trees = [tree for document in documents for tree in _trees(document, start=1)]
    return _numbered_and_checked(trees)


def _too_large(limit: int) -> ImportRefused:
    megabytes = max(1, limit // (1024 * 1024))
    return ImportRefused(_("The file is too large: at most %(mb)s MB.") % {"mb": megabytes})


def _json(raw: bytes):
    try:
        return json_input.loads(raw.decode("utf-8-sig"), depth_max=IMPORT_DEPTH_MAX)
    except json_input.TooDeep:
        message = _("The file nests its data deeper than %(depth)s levels.")
        raise ImportRefused(message % {"depth": IMPORT_DEPTH_MAX}) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ImportRefused(_("The file is not JSON (nor a zip archive).")) from None


def _archive_documents(raw: bytes) -> list:
    """chatsite's archive (json/*.json) or ChatGPT's (conversations.json)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        names = [n for n in archive.namelist() if not n.endswith("/")]
        ours = sorted(n for n in names if n.startswith("json/") and n.endswith(".json"))
        theirs = [n for n in names if n.rsplit("/", 1)[-1] == CHATGPT_NAME]
        wanted = ours or theirs[:1]
        if not wanted:
            raise ImportRefused(
                _("The archive holds neither json/*.json (chatsite) nor conversations.json.")
            )
        return _read_members(archive, wanted)
    # RuntimeError: an encrypted member ("password required").
    except (
        zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError,
        RuntimeError,
    ):  # fmt: skip
        raise ImportRefused(_("The zip archive cannot be read.")) from None


def _read_members(archive: zipfile.ZipFile, names: list[str]) -> list:
    """The members' JSON, never unpacking more than the byte limit in all."""
    budget = settings.CHATSITE_IMPORT_MAX_BYTES
    documents = []
    for name in names:
        with archive.open(name) as member:
            data = member.read(budget + 1)
        budget -= len(data)
        if budget < 0:
            raise _too_large(settings.CHATSITE_IMPORT_MAX_BYTES)
        documents.append(_json(data))
    return documents


def _trees(document, start: int) -> list[Tree]:
    """The conversations of one JSON document, whichever shape it has."""
    if isinstance(document, list):
        return [chatgpt_tree(item, start + i) for i, item in enumerate(document)]
    if not isinstance(document, dict):
        raise ImportRefused(_("The file has the wrong shape: expected a list or an object."))
    if isinstance(document.get("conversations"), list):
        items = document["conversations"]
        return [chatsite_tree(item, start + i) for i, item in enumerate(items)]
    if "mapping" in document:
        return [chatgpt_tree(document, start)]
    if "messages" in document:
        return [chatsite_tree(document, start)]
    raise ImportRefused(
        _("The file has the wrong shape: no conversations, mapping or messages in it.")
    )


def _numbered_and_checked(trees: list[Tree]) -> list[Tree]:
    total = sum(len(tree.nodes) for tree in trees)
    most = settings.CHATSITE_IMPORT_MAX_MESSAGES
    if total > most:
        raise ImportRefused(
            _("The file holds %(count)s messages; at most %(most)s can be imported at once.")
            % {"count": total, "most": most}
        )
    if not trees:
        raise ImportRefused(_("The file holds no conversation."))
    for number, tree in enumerate(trees, start=1):
        tree.nodes = _tree_order(Reader(number), tree)
    return trees


def _tree_order(reader: Reader, tree: Tree) -> list[Node]:
    """The nodes parents first, after checking that they form a usable tree."""
    by_key: dict[str, Node] = {}
    for node in tree.nodes:
        if node.key in by_key:
            raise reader.refuse(_("message %(id)s appears twice.") % {"id": shown(node.key)})
        by_key[node.key] = node
    for node in tree.nodes:
        _check_node(reader, node, by_key)
    if tree.current is not None and tree.current not in by_key:
        raise reader.refuse(
            _("the current message %(id)s does not exist.") % {"id": shown(tree.current)}
        )
    return _parents_first(reader, tree.nodes)


def _check_node(reader: Reader, node: Node, by_key: dict) -> None:
    if node.parent is not None and node.parent not in by_key:
        raise reader.refuse(
            _("message %(id)s has a parent that does not exist.") % {"id": shown(node.key)}
        )
    if node.role == "assistant" and node.parent is None:
        raise reader.refuse(
            _("message %(id)s is an answer with no message before it.") % {"id": shown(node.key)}
        )
    if len(node.content) > settings.CHATSITE_MAX_ANSWER_CHARS:
        raise reader.refuse(_("message %(id)s is too long.") % {"id": shown(node.key)})


def _parents_first(reader: Reader, nodes: list[Node]) -> list[Node]:
    children: dict[str | None, list[Node]] = {}
    for node in nodes:
        children.setdefault(node.parent, []).append(node)
    ordered, level = [], children.get(None, [])
    while level:
        ordered += level
        level = [child for node in level for child in children.get(node.key, [])]
    if len(ordered) != len(nodes):
        raise reader.refuse(_("its messages form a cycle."))
    return ordered


# --- Writing -------------------------------------------------------------------------


def import_file(*, owner, upload) -> ImportResult:
    """Read, check and import one file for ``owner``: all of it, or nothing."""
    trees = read_trees(upload)
    try:
        with transaction.atomic():
            return _write(owner, trees)
    except IntegrityError:
        # Only a concurrent import of the same conversations gets here.
        raise ImportRefused(_("This file is being imported already; try again.")) from None


def _write(owner, trees: list[Tree]) -> ImportResult:
    created, already = [], 0
    for tree in trees:
        exists = Conversation.objects.filter(
            owner=owner, import_source=tree.source, import_id=tree.original_id
        ).exists()
        if exists:
            already += 1
        else:
            created.append(_write_tree(owner, tree))
    return ImportResult(created, already)


def _write_tree(owner, tree: Tree) -> Conversation:
    start = tree.created or timezone.now()
    conversation = Conversation.objects.create(
        owner=owner,
        title=tree.title[:TITLE_LENGTH_MAX],
        persona=_persona(owner, tree.persona),
        model=_model(owner, tree.model),
        param_overrides=_usable_params(tree.params),
        import_source=tree.source,
        import_id=tree.original_id,
        created=start,
    )
    rows = _message_rows(conversation, tree.nodes, start)
    Message.objects.bulk_create(rows.values())
    leaf = rows.get(tree.current) if tree.current else None
    conversation.current_leaf = leaf or _newest_leaf(rows)
    conversation.updated = max((row.created for row in rows.values()), default=start)
    conversation.save(update_fields=["current_leaf", "updated"])
    return conversation


def _message_rows(conversation: Conversation, nodes: list[Node], start: datetime) -> dict:
    """Rows keyed by the file's ids; a message without a time follows the one before it."""
    rows, moment = {}, start
    for node in nodes:
        parent = rows.get(node.parent) if node.parent else None
        moment = node.created or moment + timedelta(microseconds=1)
        rows[node.key] = Message(
            conversation=conversation,
            parent=parent,
            role=node.role,
            content=node.content,
            status=node.status,
            model_name=node.model_name,
            params=node.params,
            prompt_tokens=node.prompt_tokens,
            completion_tokens=node.completion_tokens,
            usage_estimated=node.usage_estimated,
            reasoning=node.reasoning,
            created=moment,
        )
    return rows


def _newest_leaf(rows: dict) -> Message | None:
    parents = {row.parent_id for row in rows.values()}
    leaves = [row for row in rows.values() if row.id not in parents]
    return max(leaves, key=lambda row: (row.created, row.id), default=None)


def _persona(owner, name: str) -> Persona | None:
    if not name:
        return None
    return Persona.objects.visible_to(owner).filter(name=name).order_by("pk").first()


def _usable_params(raw: dict) -> dict:
    """The file's parameter overrides if they pass today's rules, else none:
    the next turn must not be refused for a setting no one chose here."""
    try:
        return params.validate_params(raw)
    except (params.ParamsInvalid, ValueError, TypeError):
        return {}


def _model(owner, name: str) -> ModelConfig | None:
    if not name:
        return None
    usable = list(ModelConfig.objects.usable_by(owner).select_related("provider"))
    return next((m for m in usable if name in (str(m), m.model_id)), None)
