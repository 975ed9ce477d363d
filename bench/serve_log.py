"""Where one create spent its time, read off ``shoal serve``'s own log.

Shoal logs one INFO line per external operation completed, with
millisecond timestamps; the gaps between a droplet's lines are its steps.
A step whose line is missing (the log changed) is left out, never guessed.
"""

from __future__ import annotations

import re
import statistics
from datetime import datetime
from pathlib import Path

from bench.report import table

# (step, what its last line says), in the order the engine runs them.
CREATE_STEPS = (
    ("api, dispatch, pre-clean", r"droplet destroyed droplet_id={id} "),
    ("overlay volume", r"overlay created .*volume=droplet-{id}\.qcow2"),
    ("seed ISO", r"volume uploaded .*volume=droplet-{id}-seed\.iso"),
    ("define domain", r"domain defined domain=droplet-{id} "),
    ("dhcp reservation", r"dhcp host added .*mac={mac} "),
    ("start domain", r"domain started domain=droplet-{id}$"),
    ("wait running", r"domain running droplet_id={id} "),
    ("record completed", r"action completed .*type=create droplet_id={id}$"),
)

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def create_steps(
    log: Path, droplet_id: int, mac: str, posted_at: float, seen_at: float
) -> dict[str, float]:
    """Seconds per step, from the client's POST (wall clock) to it seeing done."""
    lines = [_parse(line) for line in log.read_text().splitlines()]
    lines = [(t, text) for t, text in lines if t is not None and t >= posted_at - 1]

    steps, previous = {}, posted_at
    for step, pattern in CREATE_STEPS:
        regex = re.compile(pattern.format(id=droplet_id, mac=re.escape(mac)))
        at = next((t for t, text in lines if regex.search(text)), None)
        if at is None:
            continue
        steps[step] = max(at - previous, 0.0)
        previous = at
    steps["client sees completed"] = max(seen_at - previous, 0.0)
    return steps


def _parse(line: str) -> tuple[float | None, str]:
    match = _STAMP.match(line)
    if not match:
        return None, line
    stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp(), line.rstrip()


def median_steps(samples: list[dict[str, float]]) -> dict[str, float]:
    """Per step, the median over the creates whose log showed it."""
    names = list(dict.fromkeys(name for sample in samples for name in sample))
    return {
        name: statistics.median(s[name] for s in samples if name in s) for name in names
    }


def render(steps: dict[str, float]) -> str:
    total = sum(steps.values()) or 1
    rows = [[name, s, f"{100 * s / total:.0f}%"] for name, s in steps.items()]
    return table(["step", "median s", "share"], rows)
