"""py-spy on the worker during a scenario, and where its time went (self time per function).

python -m bench.relay --only 10x0ms --py-spy /tmp/worker.txt   # collapsed stacks + top 15
python -m bench.relay --only 10x0ms --py-spy /tmp/worker.svg   # a flame graph
python -m bench.relay.profile /tmp/worker-10x0ms.txt 30          # the top 30 of a record
"""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

LINE = re.compile(r":\d+\)$")
# Where a sample is a thread waiting, not working (py-spy's own idle detection
# misses them on this VM): the event loop in epoll, the database thread on its queue.
IDLE = ("EpollSelector.select (selectors.py)", "_worker (concurrent/futures/thread.py)")


def record(pid: int, path: Path, core: int) -> subprocess.Popen:
    """py-spy sampling `pid` from the load generator's core, until interrupted (SIGINT)."""
    kind = "flamegraph" if path.suffix == ".svg" else "raw"
    beside = Path(sys.executable).with_name("py-spy")  # installed in the virtualenv
    spy = str(beside) if beside.exists() else "py-spy"
    command = ["taskset", "-c", str(core), spy, "record", "--pid", str(pid)]
    command += ["--format", kind, "--output", str(path), "--rate", "200"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top(path: Path, count: int = 15) -> list[str]:
    """The functions where the busy samples of a raw record ended, most first, in %."""
    own: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit():
            own[LINE.sub(")", stack.rsplit(";", 1)[-1])] += int(samples)
    for frame in IDLE:
        own.pop(frame, None)
    total = sum(own.values()) or 1
    return [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(count)]


if __name__ == "__main__":
    print("\n".join(top(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 15)))
