"""One libvirt connection per hypervisor host, shared by worker threads."""

from __future__ import annotations

import logging
import threading

import libvirt

from shoal.hypervisor.errors import HypervisorUnavailable, libvirt_errors

log = logging.getLogger(__name__)


def _ignore_libvirt_error(_ctx: object, _err: object) -> None:
    """Error handler that drops libvirt's message; the exception carries it."""


def _silence_stderr_printer() -> None:
    # libvirt prints every error to stderr by default, before raising it. The
    # exception already carries the message, so the print only doubles log noise.
    libvirt.registerErrorHandler(_ignore_libvirt_error, None)


class Host:
    """A lazily opened, self-healing connection to one libvirt URI.

    libvirt connections are safe to share between threads; the lock here only
    guards opening and replacing the connection. A connection that died (libvirtd
    restarted, socket closed) is replaced on the next `connection()` call. Calls
    that were in flight when it died raise `HypervisorUnavailable`; whether to
    retry them is the caller's decision, since not every call is idempotent.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Host(uri={self.uri!r})"

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def connection(self) -> libvirt.virConnect:
        """The open connection, (re)connecting first when there is none alive."""
        with self._lock:
            if self._conn is not None and _is_alive(self._conn):
                return self._conn

            if self._conn is not None:
                log.warning("libvirt connection lost uri=%s; reconnecting", self.uri)
                _close_quietly(self._conn)
                self._conn = None

            self._conn = self._open()
            return self._conn

    def close(self) -> None:
        """Close the connection if one is open. The next call reopens it."""
        with self._lock:
            if self._conn is not None:
                _close_quietly(self._conn)
                self._conn = None

    def _open(self) -> libvirt.virConnect:
        _silence_stderr_printer()
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as err:
            # Whatever the code, failing to open means the host is not usable.
            raise HypervisorUnavailable(
                f"cannot connect to {self.uri}: {err.get_error_message() or err}",
                code=err.get_error_code(),
                domain=err.get_error_domain(),
            ) from err

        log.info("libvirt connected uri=%s", self.uri)
        return conn


def _is_alive(conn: libvirt.virConnect) -> bool:
    try:
        return conn.isAlive() == 1
    except libvirt.libvirtError:
        return False


def _close_quietly(conn: libvirt.virConnect) -> None:
    try:
        with libvirt_errors():
            conn.close()
    except Exception:
        # A dead connection may fail to close; it is being dropped either way.
        log.debug("closing libvirt connection failed", exc_info=True)
