"""Domain events: what libvirt says happened to each domain, as it happens.

libvirt delivers events only on connections opened after an event loop
implementation was registered, and only while that loop runs, so
`start_event_loop()` must run before the first `Host.connection()`.

A `DomainEventSource` subscribes to the lifecycle and reboot events of every
domain on one host and hands each on as a plain pair, domain name and kind:

    started stopped shutdown crashed suspended resumed defined undefined
    pmsuspended rebooted

`rebooted` is libvirt's REBOOT event: the guest reset itself, or QEMU reset it
to finish a reboot that libvirt requested through the ACPI power button. The
listener runs on the event loop thread and must return quickly; it must not
call back into libvirt there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import libvirt

from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import libvirt_errors

log = logging.getLogger(__name__)

Listener = Callable[[str, str], None]

_LIFECYCLE_KINDS = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: "defined",
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: "undefined",
    libvirt.VIR_DOMAIN_EVENT_STARTED: "started",
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: "suspended",
    libvirt.VIR_DOMAIN_EVENT_RESUMED: "resumed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED: "stopped",
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: "pmsuspended",
    libvirt.VIR_DOMAIN_EVENT_CRASHED: "crashed",
}

_loop_lock = threading.Lock()
_loop_thread: threading.Thread | None = None


def start_event_loop() -> None:
    """Register libvirt's default event loop and run it in a daemon thread.

    Idempotent. Connections opened before the first call get no events.
    """
    global _loop_thread
    with _loop_lock:
        if _loop_thread is not None:
            return
        with libvirt_errors():
            libvirt.virEventRegisterDefaultImpl()
        _loop_thread = threading.Thread(
            target=_run_loop, name="libvirt-events", daemon=True
        )
        _loop_thread.start()

    log.info("libvirt event loop started")


def _run_loop() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except Exception:
            # One bad iteration must not end event delivery for the process.
            log.exception("libvirt event loop iteration failed")


class DomainEventSource:
    """Lifecycle and reboot events of every domain on `host`, to `listener`.

    Call `subscribe()` again whenever convenient: it registers anew when the
    host's connection was replaced (libvirtd restarted), since callbacks
    belong to the connection they were registered on.
    """

    def __init__(self, host: Host, listener: Listener):
        self.host = host
        self.listener = listener
        self._conn: libvirt.virConnect | None = None
        self._callback_ids: list[int] = []
        self._lock = threading.Lock()

    def subscribe(self) -> bool:
        """Make sure the current connection delivers events; True if it was new."""
        conn = self.host.connection()
        with self._lock:
            if conn is self._conn:
                return False
            with libvirt_errors():
                self._callback_ids = [
                    conn.domainEventRegisterAny(
                        None,
                        libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                        self._lifecycle,
                        None,
                    ),
                    conn.domainEventRegisterAny(
                        None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, self._reboot, None
                    ),
                ]
            self._conn = conn

        log.info("domain events subscribed uri=%s", self.host.uri)
        return True

    def close(self) -> None:
        with self._lock:
            conn, ids = self._conn, self._callback_ids
            self._conn, self._callback_ids = None, []
        for callback_id in ids:
            try:
                with libvirt_errors():
                    conn.domainEventDeregisterAny(callback_id)
            except Exception:
                # A dead connection took its callbacks along.
                log.debug("event deregistration failed", exc_info=True)

    def _lifecycle(self, _conn, dom, event: int, _detail: int, _opaque) -> None:
        self._deliver(dom.name(), _LIFECYCLE_KINDS.get(event, "unknown"))

    def _reboot(self, _conn, dom, _opaque) -> None:
        self._deliver(dom.name(), "rebooted")

    def _deliver(self, name: str, kind: str) -> None:
        log.debug("domain event domain=%s kind=%s", name, kind)
        try:
            self.listener(name, kind)
        except Exception:
            log.exception("domain event listener failed domain=%s kind=%s", name, kind)
