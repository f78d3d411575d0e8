"""Check a chat-format JSONL training file line by line, straight from disk.

The file is never read whole: it is read one line at a time (a 50 MB file
takes about the memory of its longest line; see bench/finetune). Each line
must be one JSON object with ``messages``, a list of ``{"role", "content"}``
where the role is system, user or assistant and the content a string, and at
least one assistant message to learn from. Tokens are counted per line with
tiktoken as the API bills a chat request (``tokens.count_messages``); when
the model's encoding cannot load the count is an estimate, flagged.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.utils.translation import gettext as _

from conversations import json_input, tokens

ROLES = ("system", "user", "assistant")
MAX_LISTED_PROBLEMS = 100
MAX_LISTED_COUNTS = 200
# A chat example nests a few levels; deeper lines are refused before decoding.
EXAMPLE_DEPTH_MAX = 32


@dataclass
class Report:
    """What checking a file found; ``valid`` when nothing is wrong."""

    bytes: int = 0
    examples: int = 0
    bad_lines: int = 0
    problems: list[dict] = field(default_factory=list)  # {"line": n or None, "reason": text}
    line_tokens: list[list[int]] = field(default_factory=list)  # [line, tokens], the first lines
    total_tokens: int = 0
    max_line_tokens: int = 0
    exact: bool = True
    encoding: str = ""

    @property
    def valid(self) -> bool:
        return not self.problems and self.bad_lines == 0

    def add_problem(self, line: int | None, reason: str) -> None:
        if line is not None:
            self.bad_lines += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append({"line": line, "reason": reason})

    def cost(self, price_per_million: Decimal) -> Decimal:
        """What one epoch over these tokens costs at a training price per 1M tokens."""
        return price_per_million * self.total_tokens / Decimal(1_000_000)


def check_file(path: Path, *, model: str, max_bytes: int, min_examples: int) -> Report:
    report = Report(bytes=path.stat().st_size)
    if report.bytes > max_bytes:
        limit = max_bytes // (1024 * 1024) or max_bytes
        report.add_problem(
            None, _("The file is larger than the limit (%(limit)s MB).") % {"limit": limit}
        )
        return report
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            check_line(report, number, raw, model)
    if report.bytes == 0 or (report.examples == 0 and report.bad_lines == 0):
        report.add_problem(None, _("The file is empty."))
    elif report.examples < min_examples:
        report.add_problem(
            None,
            _("%(count)s examples: at least %(minimum)s are needed.")
            % {"count": report.examples, "minimum": min_examples},
        )
    return report


def check_line(report: Report, number: int, raw: bytes, model: str) -> None:
    if not raw.strip():
        report.add_problem(number, _("Empty line."))
        return
    messages, reason = parse_example(raw)
    if reason:
        report.add_problem(number, reason)
        return
    count = tokens.count_messages(messages, model)
    report.examples += 1
    report.total_tokens += count.tokens
    report.max_line_tokens = max(report.max_line_tokens, count.tokens)
    report.exact = report.exact and count.exact
    report.encoding = count.encoding
    if len(report.line_tokens) < MAX_LISTED_COUNTS:
        report.line_tokens.append([number, count.tokens])


def parse_example(raw: bytes) -> tuple[list[dict], str]:
    """The line's messages, or a reason it is not a chat example."""
    try:
        example = json_input.loads(raw, depth_max=EXAMPLE_DEPTH_MAX)
    except UnicodeDecodeError:
        return [], _("Not UTF-8 text.")
    except ValueError:  # not JSON, NaN, or nested deeper than any chat example
        return [], _("Not valid JSON.")
    messages = example.get("messages") if isinstance(example, dict) else None
    if not isinstance(messages, list) or not messages:
        return [], _("No “messages” list.")
    for index, message in enumerate(messages, start=1):
        reason = message_problem(message)
        if reason:
            return [], _("Message %(index)s: %(reason)s") % {"index": index, "reason": reason}
    if not any(message["role"] == "assistant" for message in messages):
        return [], _("No assistant message to learn from.")
    return messages, ""


def message_problem(message: object) -> str:
    if not isinstance(message, dict):
        return _("not an object.")
    role = message.get("role")
    if role not in ROLES:
        return _("the role “%(role)s” is not system, user or assistant.") % {"role": role}
    if not isinstance(message.get("content"), str):
        return _("the content is missing or not text.")
    return ""
