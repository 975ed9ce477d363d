"""What libvirt reported about each domain, for action handlers to wait on.

The hypervisor's event source publishes every lifecycle and reboot event
here (`publish` runs on libvirt's event thread, so it only counts and
notifies). A handler notes a count before it asks for something, then waits
until the count moves: "droplet-7 was rebooted after I asked" is a REBOOT
event counted after the request, never a guess from polling.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

Listener = Callable[[str, str], None]


class DomainEvents:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Also hand every event to `listener` (it must return quickly)."""
        self._listeners.append(listener)

    def publish(self, domain: str, kind: str) -> None:
        with self._changed:
            self._counts[(domain, kind)] += 1
            self._changed.notify_all()
        for listener in self._listeners:
            listener(domain, kind)

    def count(self, domain: str, kind: str) -> int:
        """How many `kind` events `domain` has had since Shoal started."""
        with self._changed:
            return self._counts[(domain, kind)]

    def wait(self, domain: str, kind: str, seen: int, timeout: float) -> bool:
        """Wait until `domain` has had more than `seen` `kind` events; False
        if `timeout` seconds passed first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._counts[(domain, kind)] <= seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True
