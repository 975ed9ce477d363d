"""Fault injection: make a named step of an action fail, stall or crash.

Off unless ``SHOAL_FAULTS`` (or the ``faults`` setting) names points, e.g.
``SHOAL_FAULTS="create.after_domain=crash,destroy.before_domain=fail"``.
Each step of a multi-step action passes a named point; the tests use this
to prove that a crash or a failure at any point leaves nothing half-made.

    fail   raise InjectedFault there (the action errors and unwinds)
    stall  sleep until the process is killed
    crash  kill this process with SIGKILL on the spot
"""

from __future__ import annotations

import logging
import os
import signal
import time

log = logging.getLogger(__name__)

MODES = ("fail", "stall", "crash")


class InjectedFault(RuntimeError):
    pass


def parse(spec: str) -> dict[str, str]:
    points = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, mode = item.partition("=")
        if mode not in MODES:
            raise ValueError(f"fault {item!r}: mode must be one of {', '.join(MODES)}")
        points[name] = mode
    return points


class Faults:
    def __init__(self, points: dict[str, str] | None = None):
        self.points = points or {}
        if self.points:
            log.warning(
                "fault injection armed points=%s", ",".join(sorted(self.points))
            )

    @classmethod
    def from_env(cls) -> Faults:
        return cls(parse(os.environ.get("SHOAL_FAULTS", "")))

    def point(self, name: str) -> None:
        mode = self.points.get(name)
        if mode is None:
            return

        log.warning("fault injected point=%s mode=%s", name, mode)
        if mode == "fail":
            raise InjectedFault(f"injected failure at {name}")
        if mode == "stall":
            while True:
                time.sleep(3600)
        os.kill(os.getpid(), signal.SIGKILL)
