"""A droplet's status follows its domain: `off` within seconds of a guest
powering itself off or of QEMU dying, `active` again once it runs.

libvirt's lifecycle events (not polling) say when to look; the status is
then set from the domain's state as libvirt reports it at that moment, so
events that arrive late or out of order cannot leave a stale status. The
reconciler's periodic pass repairs anything missed while Shoal was down.
Only droplets that are `active` or `off` change here: a droplet still being
created is its create action's business.
"""

from __future__ import annotations

import logging
import queue
import threading

from shoal.control.db import Database
from shoal.control.domain_events import DomainEvents
from shoal.control.models import Droplet
from shoal.hypervisor import lifecycle
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import HypervisorError
from shoal.hypervisor.events import DomainEventSource

log = logging.getLogger(__name__)

STATUS_BY_STATE = {"running": "active", "shutoff": "off", "crashed": "off"}
# The events after which a domain may be in another state.
STATE_EVENTS = frozenset({"started", "stopped", "crashed", "resumed", "shutdown"})
# How often the follower makes sure events still flow (libvirtd restarts).
RESUBSCRIBE_SECONDS = 5.0


class StatusFollower:
    """Subscribes to the host's domain events and keeps statuses true."""

    def __init__(self, db: Database, host: Host, events: DomainEvents):
        self.db = db
        self.host = host
        self.events = events
        self.source = DomainEventSource(host, events.publish)
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._loop, name="shoal-status", daemon=True
        )
        events.listen(self._on_event)

    def start(self) -> None:
        self.source.subscribe()
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self.source.close()

    def _on_event(self, domain: str, kind: str) -> None:
        if kind in STATE_EVENTS and domain.startswith("droplet-"):
            self._queue.put(domain)

    def _loop(self) -> None:
        while True:
            try:
                domain = self._queue.get(timeout=RESUBSCRIBE_SECONDS)
            except queue.Empty:
                self._resubscribe()
                continue
            if domain is None:
                return
            self._follow(domain)

    def _resubscribe(self) -> None:
        try:
            self.source.subscribe()
        except HypervisorError as exc:
            log.warning("domain events not subscribed error=%s", exc)

    def _follow(self, domain: str) -> None:
        try:
            state = lifecycle.state(self.host, domain)
        except HypervisorError as exc:
            # Undefined meanwhile (a delete), or libvirtd away: nothing to say.
            log.debug("domain state unknown domain=%s error=%s", domain, exc)
            return
        follow(self.db, droplet_id_of(domain), state)


def follow(db: Database, droplet_id: int | None, state: str) -> str | None:
    """Set the droplet's status from its domain's `state`; the new status, or
    None when nothing changed."""
    new = STATUS_BY_STATE.get(state)
    if droplet_id is None or new is None:
        return None

    with db.transaction() as session:
        droplet = session.get(Droplet, droplet_id)
        if (
            droplet is None
            or droplet.deleted
            or droplet.status not in ("active", "off")
        ):
            return None
        if droplet.status == new:
            return None
        old, droplet.status = droplet.status, new

    log.info("droplet status droplet_id=%s %s -> %s", droplet_id, old, new)
    return new


def droplet_id_of(domain: str) -> int | None:
    suffix = domain.removeprefix("droplet-")
    return int(suffix) if suffix.isdigit() else None
