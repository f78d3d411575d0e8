"""Conversations as files: OpenAI fine-tuning JSONL, Markdown and JSON, streamed.

A large export never sits in memory: conversations are read in batches by
primary key (keyset, not OFFSET) and each batch is written out before the
next is read. Under ASGI (Daphne) the body is an async iterator that reads
each batch in a worker thread; a sync iterator would make Django buffer the
whole file first. Before a batch's text is sent, ``on_batch`` runs (the
admin writes the audit rows there).

- ``jsonl``: one ``{"messages": [...]}`` per line, the fine-tuning format:
  the system prompt (site-wide, then the persona's) as one system message,
  then the active branch up to its last answer. Failed, interrupted and
  empty answers are left out (two questions left in a row are joined, so
  roles alternate), and conversations without any answer are skipped. A
  reasoning model's reasoning is left out: the model never saw it in later
  prompts either, and an example teaches answers.
- ``markdown``: the active branch of each conversation, readable, reasoning
  quoted above the answer it led to.
- ``json``: everything, the whole tree with statuses, parameters, usage and
  reasoning.
"""

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone

from conversations import images
from conversations.models import Conversation, Message, SiteSettings

BATCH_SIZE = 200
MESSAGE_FIELDS = (
    "id", "conversation", "parent", "role", "content", "status", "finish_reason",
    "error_code", "model_name", "persona_version", "params", "prompt_tokens",
    "completion_tokens", "usage_estimated", "ttft_ms", "created",
    "reasoning", "reasoning_tokens", "reasoning_ms", "logprobs",
)  # fmt: skip


@dataclass
class Thread:
    """One conversation with all of its messages, as an export needs it."""

    conversation: Conversation
    messages: list[Message]
    by_id: dict = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {message.id: message for message in self.messages}

    def active_branch(self) -> list[Message]:
        branch, node = [], self.by_id.get(self.conversation.current_leaf_id)
        while node is not None:
            branch.append(node)
            node = self.by_id.get(node.parent_id)
        return branch[::-1]

    def persona_prompt(self) -> str:
        """The prompt of the persona version that answered last, else the persona's."""
        for message in reversed(self.active_branch()):
            if message.persona_version is not None:
                return message.persona_version.system_prompt
        persona = self.conversation.persona
        return persona.system_prompt if persona else ""


# --- Formats -----------------------------------------------------------------------


def fine_tuning_line(thread: Thread, site_prompt: str) -> str:
    messages: list[dict] = []
    for message in thread.active_branch():
        if message.role not in ("user", "assistant") or not message.content:
            continue
        if message.status not in _USABLE:
            continue  # a failed, cut or stopped answer is no example to learn from
        if messages and messages[-1]["role"] == message.role:
            # Left by a dropped answer: the model saw both questions in a row.
            messages[-1]["content"] += "\n\n" + message.content
        else:
            messages.append({"role": message.role, "content": message.content})
    while messages and messages[-1]["role"] != "assistant":
        messages.pop()  # train on answers: the example ends with one
    if not messages:
        return ""
    system = "\n\n".join(p for p in (site_prompt, thread.persona_prompt()) if p)
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return json.dumps({"messages": messages}, ensure_ascii=False) + "\n"


# Questions, and answers that ended normally: a cut, stopped or filtered answer is partial.
_USABLE = frozenset({Message.Status.SENT, Message.Status.COMPLETE})


def markdown_section(thread: Thread, site_prompt: str) -> str:
    conversation = thread.conversation
    title = " ".join(str(conversation).split())
    lines = [f"# {title}", "", _markdown_facts(conversation), ""]
    system = "\n\n".join(p for p in (site_prompt, thread.persona_prompt()) if p)
    if system:
        lines += ["## System", "", system, ""]
    pictures = images.counted(thread.messages)
    for message in thread.active_branch():
        lines += [f"## {_markdown_heading(message)}", ""]
        if message.reasoning:
            lines += [*_markdown_reasoning(message), ""]
        lines += [message.content or ("" if message.id in pictures else "_(empty)_"), ""]
        if message.id in pictures:  # the files are in a user's zip; the JSON lists them
            lines += [f"_({pictures[message.id]} generated images)_", ""]
    return "\n".join(lines) + "\n---\n\n"


def _markdown_reasoning(message: Message) -> list[str]:
    """The reasoning as a quote, so it reads apart from the answer."""
    seconds = f" ({message.reasoning_ms / 1000:.0f} s)" if message.reasoning_ms is not None else ""
    quoted = [f"> {line}" if line else ">" for line in message.reasoning.splitlines()]
    return [f"> **Reasoning**{seconds}", ">", *quoted]


def _markdown_facts(conversation: Conversation) -> str:
    facts = [
        f"owner: {conversation.owner.get_username()}",
        f"persona: {conversation.persona.name}" if conversation.persona else "",
        f"model: {conversation.model}" if conversation.model else "",
        f"started: {conversation.created:%Y-%m-%d %H:%M} UTC",
        f"id: {conversation.pk}",
    ]
    return "_" + " · ".join(f for f in facts if f) + "_"


def _markdown_heading(message: Message) -> str:
    if message.role != Message.Role.ASSISTANT:
        return message.role.capitalize()
    details = [message.model_name, message.status]
    if message.persona_version is not None:
        details.insert(0, str(message.persona_version))
    return f"Assistant ({', '.join(d for d in details if d)})"


def json_object(thread: Thread, site_prompt: str) -> str:
    conversation = thread.conversation
    active = {m.id for m in thread.active_branch()}
    document = {
        "id": str(conversation.pk),
        "title": conversation.title,
        "owner": conversation.owner.get_username(),
        "persona": conversation.persona.name if conversation.persona else None,
        "model": str(conversation.model) if conversation.model else None,
        "flagged": conversation.flagged,
        "created": conversation.created.isoformat(),
        "updated": conversation.updated.isoformat(),
        "system_prompt": "\n\n".join(p for p in (site_prompt, thread.persona_prompt()) if p),
        "messages": [_message_object(m, m.id in active) for m in thread.messages],
        "mode": conversation.mode,  # "completion": a completion document
        "images": images.listed(thread.messages),  # generated images, by answer
    }
    return json.dumps(document, ensure_ascii=False, indent=1)


def _message_object(message: Message, active: bool) -> dict:
    version = message.persona_version
    return {
        "id": str(message.id),
        "parent_id": str(message.parent_id) if message.parent_id else None,
        "active_branch": active,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "finish_reason": message.finish_reason,
        "error_code": message.error_code,
        "model": message.model_name,
        "persona_version": {"name": version.name, "version": version.version} if version else None,
        "params": message.params,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "usage_estimated": message.usage_estimated,
        "ttft_ms": message.ttft_ms,
        "reasoning": message.reasoning,
        "reasoning_tokens": message.reasoning_tokens,
        "reasoning_ms": message.reasoning_ms,
        "created": message.created.isoformat(),
        **({"logprobs": message.logprobs} if message.logprobs is not None else {}),
    }


@dataclass(frozen=True)
class Format:
    name: str
    content_type: str
    extension: str
    render: Callable[[Thread, str], str]
    head: str = ""
    separator: str = ""
    tail: str = ""


FORMATS = {
    "jsonl": Format("jsonl", "application/jsonl; charset=utf-8", "jsonl", fine_tuning_line),
    "markdown": Format("markdown", "text/markdown; charset=utf-8", "md", markdown_section),
    "json": Format(
        "json",
        "application/json; charset=utf-8",
        "json",
        json_object,
        head='{"format": "chatsite.conversations.v1", "conversations": [\n',
        separator=",\n",
        tail="\n]}\n",
    ),
}


# --- Streaming -----------------------------------------------------------------------


class Export:
    """Reads the conversations batch by batch and renders each batch as text."""

    def __init__(self, queryset, export_format: Format, on_batch: Callable[[list], None]):
        self.ids = queryset.order_by("pk").values_list("pk", flat=True)
        self.format = export_format
        self.on_batch = on_batch
        self.after = None
        self.started = False
        self.site_prompt = SiteSettings.cached().system_prompt

    def next_chunk(self) -> str | None:
        """The text of the next batch; None when every conversation is out."""
        threads = self._next_batch()
        if not threads:
            return None
        self.on_batch([t.conversation for t in threads])
        parts = [
            text for thread in threads if (text := self.format.render(thread, self.site_prompt))
        ]
        if not parts:
            return ""
        text = self.format.separator.join(parts)
        if self.started:
            text = self.format.separator + text
        self.started = True
        return text

    def next_threads(self) -> list[Thread]:
        """The next batch, for writers with a format of their own (user_export)."""
        return self._next_batch()

    def _next_batch(self) -> list[Thread]:
        ids = self.ids.filter(pk__gt=self.after) if self.after else self.ids
        batch = list(ids[:BATCH_SIZE])
        if not batch:
            return []
        self.after = batch[-1]
        conversations = (
            Conversation.objects.filter(pk__in=batch)
            .select_related("owner", "persona", "model")
            .order_by("pk")
        )
        messages = defaultdict(list)
        rows = (
            Message.objects.filter(conversation_id__in=batch)
            .select_related("persona_version")
            .only(*MESSAGE_FIELDS, "persona_version__name", "persona_version__version",
                  "persona_version__system_prompt")
            .order_by("created", "id")
        )  # fmt: skip
        for message in rows:
            messages[message.conversation_id].append(message)
        return [Thread(c, messages[c.pk]) for c in conversations]

    def __iter__(self) -> Iterator[str]:
        yield self.format.head
        while (chunk := self.next_chunk()) is not None:
            if chunk:
                yield chunk
        yield self.format.tail

    async def __aiter__(self) -> AsyncIterator[str]:
        yield self.format.head
        next_chunk = sync_to_async(self.next_chunk)
        while (chunk := await next_chunk()) is not None:
            if chunk:
                yield chunk
        yield self.format.tail


def export_response(request, queryset, format_name: str, on_batch) -> StreamingHttpResponse:
    export_format = FORMATS[format_name]
    export = Export(queryset, export_format, on_batch)
    # An async body under ASGI, a sync one under WSGI and the test client: either
    # way Django streams it instead of collecting it first.
    body = export.__aiter__() if isinstance(request, ASGIRequest) else iter(export)
    response = StreamingHttpResponse(body, content_type=export_format.content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    filename = f"chatsite-conversations-{stamp}.{export_format.extension}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
