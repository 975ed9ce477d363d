"""Reaching a booted droplet from the test: SSH with the droplet's key."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def ssh(
    key: Path,
    address: str,
    command: str,
    timeout: float = 30,
    user: str = "root",
    stdin: str | None = None,
):
    return subprocess.run(
        [
            "ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            f"{user}@{address}", command,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )  # fmt: skip


def wait_for_ssh(key: Path, address: str, console: Path, timeout: float = 600) -> float:
    """Seconds until root@address runs a command; fails with the console tail."""
    started = time.monotonic()
    result = None
    while time.monotonic() - started < timeout:
        try:
            result = ssh(key, address, "true")
        except subprocess.TimeoutExpired:
            result = None
        if result is not None and result.returncode == 0:
            return time.monotonic() - started
        time.sleep(3)
    tail = console.read_text(errors="replace")[-3000:] if console.exists() else ""
    raise AssertionError(f"no SSH to {address}: {result}\n--- console ---\n{tail}")
