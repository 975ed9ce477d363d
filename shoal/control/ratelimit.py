"""Request budgets per caller, as DigitalOcean counts them.

Each caller has a sliding log of its request times over the last hour; a
request is refused while the last minute or the last hour is full. The
log lives in this process's memory: replicas count separately and a
restart forgives everyone, which is as much as a self-hosted API needs.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MINUTE = 60.0
HOUR = 3600.0

# How many charges between sweeps of callers that went quiet.
SWEEP_EVERY = 1000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    # Unix time at which the oldest counted request stops counting.
    reset: int
    # Seconds until a refused request may be tried again; 0 when allowed.
    retry_after: int


class _Log:
    def __init__(self) -> None:
        self.hour: deque[float] = deque()
        self.minute: deque[float] = deque()

    def expire(self, now: float) -> None:
        for window, span in ((self.hour, HOUR), (self.minute, MINUTE)):
            while window and window[0] <= now - span:
                window.popleft()


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        per_hour: int,
        clock: Callable[[], float] = time.time,
    ):
        self.per_minute = per_minute
        self.per_hour = per_hour
        self._clock = clock
        self._logs: dict[str, _Log] = {}
        self._lock = threading.Lock()
        self._charges = 0

    def charge(self, key: str) -> Verdict:
        """Count one request of ``key``, unless its budget is spent."""
        with self._lock:
            now = self._clock()
            self._maybe_sweep(now)
            log = self._logs.setdefault(key, _Log())
            log.expire(now)

            wait = self._wait(log, now)
            if wait == 0:
                log.hour.append(now)
                log.minute.append(now)
            return self._verdict(log, now, wait)

    def _wait(self, log: _Log, now: float) -> float:
        if len(log.minute) >= self.per_minute:
            return max(log.minute[0] + MINUTE - now, 0.001)
        if len(log.hour) >= self.per_hour:
            return max(log.hour[0] + HOUR - now, 0.001)
        return 0

    def _verdict(self, log: _Log, now: float, wait: float) -> Verdict:
        oldest = log.hour[0] if log.hour else now
        return Verdict(
            allowed=wait == 0,
            limit=self.per_hour,
            remaining=max(self.per_hour - len(log.hour), 0),
            reset=math.ceil(max(oldest + HOUR, now)),
            retry_after=math.ceil(wait),
        )

    def _maybe_sweep(self, now: float) -> None:
        self._charges += 1
        if self._charges % SWEEP_EVERY:
            return
        for key in list(self._logs):
            self._logs[key].expire(now)
            if not self._logs[key].hour:
                del self._logs[key]
