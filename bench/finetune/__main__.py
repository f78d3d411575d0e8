"""Checking a large JSONL training file: time and peak memory, beside a floor.

    python -m bench.finetune [--size-mb 50] [--model gpt-4o-mini]

Writes a chat-format JSONL file of about ``--size-mb`` MB to a temporary
folder, then in the same run measures:

- floor: a bare loop reading the file line by line and ``json.loads`` each
  line (what any check must at least do);
- whole: reading the file whole and splitting it (what the check must not
  do), for its memory only;
- check: ``conversations.finetune.jsonl.check_file`` (parse, chat-format
  rules, tiktoken counts per line).

Time is measured without tracing; peak memory in a second pass under
``tracemalloc`` (Python allocations; tiktoken's Rust buffers are not seen,
so the process's ``ru_maxrss`` is printed too).
"""

import argparse
import json
import os
import random
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")

import django

django.setup()

from conversations.finetune import jsonl  # noqa: E402

WORDS = (
    "parcel", "order", "refund", "delivery", "tomorrow", "address", "invoice", "sorry", "help",
    "thanks", "please", "warehouse", "tracking", "courier", "week", "café", "naïve", "日本",
)  # fmt: skip


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def write_file(path: Path, size_mb: int) -> int:
    rng, lines, target = random.Random(12), 0, size_mb * 1024 * 1024
    with path.open("w", encoding="utf-8") as handle:
        while handle.tell() < target:
            example = {"messages": [
                {"role": "system", "content": "You answer customers of a parcel service."},
                {"role": "user", "content": sentence(rng, rng.randint(5, 40))},
                {"role": "assistant", "content": sentence(rng, rng.randint(10, 120))},
            ]}  # fmt: skip
            handle.write(json.dumps(example, ensure_ascii=False) + "\n")
            lines += 1
    return lines


def floor(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)
            count += 1
    return count


def whole(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def check(path: Path, model: str):
    return jsonl.check_file(path, model=model, max_bytes=2**40, min_examples=10)


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def peak(work) -> float:
    tracemalloc.start()
    work()
    _current, highest = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return highest / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--model", default="gpt-4o-mini")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.jsonl"
        lines = write_file(path, args.size_mb)
        size = path.stat().st_size / 1024 / 1024
        print(f"file: {size:.1f} MB, {lines} lines, model {args.model}")
        runs = {
            "floor (line by line, json.loads)": lambda: floor(path),
            "check_file (rules + tiktoken)": lambda: check(path, args.model),
            "whole file read and split": lambda: whole(path),
        }
        print(f"{'run':36} {'seconds':>8} {'MB/s':>7} {'peak MB':>8}")
        for name, work in runs.items():
            if name.startswith("whole"):
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"process ru_maxrss before the whole-file run: {rss:.0f} MB")
            seconds, result = timed(work)
            highest = peak(work)
            print(f"{name:36} {seconds:8.2f} {size / seconds:7.1f} {highest:8.2f}")
            if isinstance(result, jsonl.Report):
                exact = "exact" if result.exact else "estimate"
                print(f"  examples {result.examples}, tokens {result.total_tokens} ({exact}, "
                      f"{result.encoding}), problems {len(result.problems)}")  # fmt: skip
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process ru_maxrss at the end: {maxrss:.0f} MB")


if __name__ == "__main__":
    main()
