"""Resident memory of a process, as the kernel counts it."""

from __future__ import annotations

from pathlib import Path


def resident_mib(pid: int) -> dict[str, float]:
    """Now (VmRSS) and the peak so far (VmHWM), in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mib": fields["VmRSS"], "peak_mib": fields["VmHWM"]}
