"""py-spy on a running ``shoal serve``: where its CPU time goes.

py-spy samples the live process from outside (no code change, a few
percent of overhead), so the profile is of the same server the numbers
came from. Stacks are summarised two ways: by the package the sampled
frame belongs to (self time), and by the Shoal functions on the stack
(inclusive time), which is what a fix would change.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

SERVE_LOOP = "shoal.control.cli."
PY_SPY = os.environ.get("SHOAL_BENCH_PY_SPY", "py-spy")
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def available() -> bool:
    return shutil.which(PY_SPY) is not None or Path(PY_SPY).exists()


def start(pid: int, seconds: int, raw: Path) -> subprocess.Popen:
    """Sample ``pid`` for ``seconds`` into collapsed stacks at ``raw``.

    Only the thread holding the GIL is sampled: on one worker the server's
    Python code runs one thread at a time, so that is where its CPU goes.
    """
    return subprocess.Popen(
        [
            PY_SPY, "record", "--pid", str(pid), "--duration", str(seconds),
            "--rate", "200", "--gil", "--format", "raw", "--output", str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def summarize(raw: Path, top: int = 12) -> dict:
    stacks = _stacks(raw)
    total = sum(stacks.values()) or 1
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    by_shoal_function: Counter[str] = Counter()
    for frames, count in stacks.items():
        names = [f"{_package(file)}.{func}" for func, file in frames]
        by_package[_package(frames[-1][1])] += count
        by_function[names[-1]] += count
        # The serve loop is on every stack; what a fix changes is below it.
        for name in set(names):
            if name.startswith("shoal.") and not name.startswith(SERVE_LOOP):
                by_shoal_function[name] += count

    def share(counter: Counter) -> list[list]:
        return [[k, round(100 * v / total, 1)] for k, v in counter.most_common(top)]

    return {
        "samples": total,
        "self_by_package_pct": share(by_package),
        "self_by_function_pct": share(by_function),
        "inclusive_shoal_pct": share(by_shoal_function),
    }


def _stacks(raw: Path) -> Counter[tuple]:
    stacks: Counter[tuple] = Counter()
    for line in raw.read_text().splitlines():
        body, _, count = line.rpartition(" ")
        frames = tuple(_frame(f) for f in body.split(";"))
        frames = tuple(f for f in frames if f is not None)
        if frames and count.isdigit():
            stacks[frames] += int(count)
    return stacks


def _frame(text: str) -> tuple[str, str] | None:
    match = _FRAME.match(text.strip())
    return (match["func"], match["file"]) if match else None


def _package(file: str) -> str:
    """``shoal.api.views``, ``sqlalchemy``, ``stdlib.asyncio``, ...

    py-spy names files relative to their entry on sys.path.
    """
    if file.startswith("shoal/"):
        return file.removesuffix(".py").replace("/", ".")
    head = file.split("/")[0].removesuffix(".py")
    if head in sys.stdlib_module_names:
        return f"stdlib.{head}"
    return head
