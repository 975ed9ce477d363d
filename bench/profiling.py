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
from collections import Counter
from pathlib import Path

import shoal

SHOAL_DIR = str(Path(shoal.__file__).parent)
PY_SPY = os.environ.get("SHOAL_BENCH_PY_SPY", "py-spy")
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def available() -> bool:
    return shutil.which(PY_SPY) is not None or Path(PY_SPY).exists()


def start(pid: int, seconds: int, raw: Path) -> subprocess.Popen:
    """Sample ``pid`` for ``seconds`` into collapsed stacks at ``raw``."""
    return subprocess.Popen(
        [
            PY_SPY, "record", "--pid", str(pid), "--duration", str(seconds),
            "--rate", "250", "--format", "raw", "--output", str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def summarize(raw: Path, top: int = 12) -> dict:
    stacks = _stacks(raw)
    total = sum(stacks.values()) or 1
    by_package: Counter[str] = Counter()
    by_shoal_function: Counter[str] = Counter()
    for frames, count in stacks.items():
        by_package[_package(frames[-1][1])] += count
        for name in {f"{_package(file)}.{func}" for func, file in frames}:
            if name.startswith("shoal."):
                by_shoal_function[name] += count

    def share(counter: Counter) -> list[list]:
        return [[k, round(100 * v / total, 1)] for k, v in counter.most_common(top)]

    return {
        "samples": total,
        "self_by_package_pct": share(by_package),
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
    """``shoal.api.views``, ``sqlalchemy``, ``stdlib.json``, ..."""
    if file.startswith(SHOAL_DIR):
        tail = file.removeprefix(SHOAL_DIR).removesuffix(".py")
        return "shoal" + tail.replace("/", ".")
    if "site-packages/" in file:
        return file.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    if "/lib/python3" in file:
        return "stdlib." + Path(file).stem
    return file
