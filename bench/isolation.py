"""Where a benchmark runs: inside the test namespace, alone on libvirtd.

libvirtd lives in the network namespace ``shoal-test`` (one per host), and
the test suites of other engineers share it. A benchmark that creates
domains takes the same lock as ``deploy/test.sh`` so that neither run
disturbs the other's numbers or its leftovers check.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NETNS = os.environ.get("SHOAL_BENCH_NETNS", "shoal-test")
LOCK = Path(os.environ.get("SHOAL_BENCH_LOCK", "/run/shoal-test.lock"))
REPO = Path(__file__).parent.parent


def enter_namespace(module: str) -> None:
    """Re-run ``python -m module`` inside the namespace unless already there."""
    if _inside(NETNS):
        return
    os.chdir(REPO)
    command = ["ip", "netns", "exec", NETNS, sys.executable, "-m", module]
    os.execvp("ip", [*command, *sys.argv[1:]])


def _inside(netns: str) -> bool:
    mine = os.stat("/proc/self/ns/net")
    theirs = os.stat(f"/run/netns/{netns}")
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


@contextmanager
def host_lock() -> Iterator[float]:
    """Hold the host's test lock; yields the seconds spent waiting for it."""
    started = time.monotonic()
    with LOCK.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {LOCK} (a test run holds it)...", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
