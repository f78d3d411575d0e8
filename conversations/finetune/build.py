"""A training file from chosen conversations: the fine-tuning export's lines.

Each conversation becomes one example exactly as the "fine-tuning JSONL"
export writes it (``exports.fine_tuning_line``), with two choices: which
branch (the one the conversation shows, or the one ending at its newest
answer) and what to do with the system prompt (keep the site's and the
persona's, leave it out, or put one text in its place). The lines are
written to a temporary file batch by batch, never held all at once.
"""

import dataclasses
import json
import tempfile
from collections.abc import Callable
from typing import IO

from conversations import exports
from conversations.models import Message

BRANCHES = ("active", "latest")
SYSTEM_MODES = ("keep", "omit", "replace")


def write_lines(
    queryset,
    *,
    branch: str,
    system: str,
    system_text: str = "",
    on_batch: Callable[[list], None],
) -> IO[bytes]:
    """The examples in a temporary file, rewound (closed by the caller)."""

    def render(thread: exports.Thread, site_prompt: str) -> str:
        if branch == "latest":
            _follow_latest_answer(thread)
        line = exports.fine_tuning_line(thread, site_prompt)
        return _with_system(line, system, system_text) if line else line

    export_format = dataclasses.replace(exports.FORMATS["jsonl"], render=render)
    target = tempfile.TemporaryFile()  # noqa: SIM115 (returned open; the caller closes it)
    for chunk in exports.Export(queryset, export_format, on_batch):
        target.write(chunk.encode())
    target.seek(0)
    return target


def _follow_latest_answer(thread: exports.Thread) -> None:
    answers = [m for m in thread.messages if m.role == Message.Role.ASSISTANT and m.content]
    if answers:
        newest = max(answers, key=lambda m: (m.created, str(m.id)))
        thread.conversation.current_leaf_id = newest.id  # this copy only, never saved


def _with_system(line: str, mode: str, text: str) -> str:
    if mode == "keep":
        return line
    messages = [m for m in json.loads(line)["messages"] if m["role"] != "system"]
    if mode == "replace" and text.strip():
        messages.insert(0, {"role": "system", "content": text.strip()})
    return json.dumps({"messages": messages}, ensure_ascii=False) + "\n"
