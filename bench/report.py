"""Numbers out: summaries, a plain-text table, JSON with the machine it came from.

Machines here are shared and noisy, so every benchmark reports medians and
compares things measured in the same run, never against an old file.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import shoal
from bench.snapshot import tree_hash

RESULTS = Path(__file__).parent / "results"
REPO = Path(__file__).parent.parent
SHOAL = Path(shoal.__file__).parent


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(samples: list[float]) -> dict:
    return {
        "n": len(samples),
        "median": statistics.median(samples),
        "p95": percentile(samples, 95),
        "min": min(samples),
        "max": max(samples),
    }


def table(headers: list[str], rows: list[list]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        padded = [
            c.rjust(w) if _numeric(c) and n else c.ljust(w)
            for c, w in zip(row, widths, strict=True)
        ]
        lines.append("| " + " | ".join(padded) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return "" if value is None else str(value)


def _numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[-+]?[\d.,]+[a-zA-Z%/]*", text))


def write(name: str, data: dict) -> Path:
    """Keep this run under results/runs/ and as the latest results/NAME.json."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {"benchmark": name, "finished_at": stamp, "machine": machine(), **data}
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"

    runs = RESULTS / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / f"{name}-{stamp}.json").write_text(text)
    latest = RESULTS / f"{name}.json"
    latest.write_text(text)
    return latest


def machine() -> dict:
    """What the numbers came from: a result without this is not comparable."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_meminfo_kib("MemTotal") / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "libvirt": _first_line(["virsh", "--version"]),
        "qemu": _first_line(["qemu-system-x86_64", "--version"]),
        "load_1m_at_end": round(os.getloadavg()[0], 2),
        "shoal_commit": _first_line(["git", "-C", str(REPO), "rev-parse", "HEAD"]),
        "shoal_tree_dirty": bool(
            _first_line(["git", "-C", str(REPO), "status", "--porcelain", "shoal"])
        ),
        # What was measured, exactly: the package imported, and its contents.
        "shoal_source": str(SHOAL),
        "shoal_tree_sha256": tree_hash(SHOAL),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _meminfo_kib(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _first_line(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout.strip().splitlines() or [""])[0]
