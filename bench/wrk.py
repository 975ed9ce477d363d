"""wrk as the load generator: run it, read its latency distribution."""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Load:
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int

    def as_dict(self) -> dict:
        return asdict(self)


def script(path: Path, token: str, paths: str | None = None) -> Path:
    """A wrk Lua script sending the bearer token; ``paths`` is a Lua
    expression for each request's path (random ids), else wrk's URL."""
    lines = [f'wrk.headers["Authorization"] = "Bearer {token}"']
    if paths:
        lines += [
            "request = function()",
            f'  return wrk.format("GET", {paths})',
            "end",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(
    url: str,
    lua: Path,
    connections: int,
    seconds: int,
    cpus: str | None = None,
) -> Load:
    # Two wrk threads at most: the machine has two cores and one of them is
    # the server's.
    threads = min(connections, 2)
    pin = ["taskset", "-c", cpus] if cpus else []
    command = [
        *pin, "wrk", "--latency", "-t", str(threads), "-c", str(connections),
        "-d", f"{seconds}s", "--timeout", "10s", "-s", str(lua), url,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse(out, connections)


def parse(out: str, connections: int) -> Load:
    return Load(
        connections=connections,
        requests_per_s=float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        p50_ms=_latency("50%", out),
        p99_ms=_latency("99%", out),
        requests=int(_find(r"(\d+) requests in", out)),
        non_2xx=int(_find(r"Non-2xx or 3xx responses: (\d+)", out, "0")),
        socket_errors=_socket_errors(out),
    )


def _find(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    if match:
        return match.group(1)
    if default is None:
        raise ValueError(f"wrk output lacks {pattern!r}:\n{text}")
    return default


def _latency(label: str, out: str) -> float:
    # The "Latency Distribution" block: "     50%    1.23ms".
    value = _find(rf"^\s+{label}\s+([\d.]+[a-z]+)\s*$", out)
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", value).groups()
    return float(number) * _UNITS[unit]


def _socket_errors(out: str) -> int:
    match = re.search(r"Socket errors: (.*)", out)
    if not match:
        return 0
    return sum(int(n) for n in re.findall(r"\d+", match.group(1)))
