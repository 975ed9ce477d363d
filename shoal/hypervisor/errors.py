"""Errors raised by `shoal.hypervisor`.

The whole tree:

    HypervisorError
    ├── NotFound
    │   ├── DomainNotFound
    │   ├── VolumeNotFound
    │   ├── PoolNotFound
    │   └── NetworkNotFound
    ├── AlreadyExists
    ├── HypervisorUnavailable        libvirtd unreachable, or the connection dropped
    ├── OperationFailed
    │   └── InvalidState             the object is in the wrong state for the call
    └── SeedImageInvalid             a seed ISO that does not read back as written

libvirt's own `libvirtError` is translated here and only here: every call into
libvirt runs inside `libvirt_errors()`, which raises the matching class above with
the original chained as `__cause__`. Nothing above this package sees `libvirtError`.

Translation goes by error code, never by message text. The one refinement is the
error domain for `VIR_ERR_SYSTEM_ERROR` and `VIR_ERR_INTERNAL_ERROR`: libvirt raises
those both for a dead socket (domain `VIR_FROM_RPC`) and for a local I/O failure
inside the daemon, such as a storage directory without write permission (domain
`VIR_FROM_STORAGE`). Only the first means the hypervisor is unavailable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import libvirt


class HypervisorError(Exception):
    """Base of every error this package raises.

    `code` and `domain` are libvirt's error code and error domain when the error
    came from libvirt, else None.
    """

    def __init__(
        self, message: str, *, code: int | None = None, domain: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.domain = domain


class NotFound(HypervisorError):
    """The named libvirt object does not exist."""


class DomainNotFound(NotFound):
    pass


class VolumeNotFound(NotFound):
    pass


class PoolNotFound(NotFound):
    pass


class NetworkNotFound(NotFound):
    pass


class AlreadyExists(HypervisorError):
    """An object of that name (or a conflicting entry) already exists."""


class HypervisorUnavailable(HypervisorError):
    """libvirtd cannot be reached, or the connection to it dropped."""


class OperationFailed(HypervisorError):
    """libvirt refused or failed the operation."""


class InvalidState(OperationFailed):
    """The object is in the wrong state for the call (e.g. domain not running)."""


class SeedImageInvalid(HypervisorError):
    """A seed ISO that does not read back as it was meant to be written."""


_BY_CODE: dict[int, type[HypervisorError]] = {
    libvirt.VIR_ERR_NO_DOMAIN: DomainNotFound,
    libvirt.VIR_ERR_NO_STORAGE_VOL: VolumeNotFound,
    libvirt.VIR_ERR_NO_STORAGE_POOL: PoolNotFound,
    libvirt.VIR_ERR_NO_NETWORK: NetworkNotFound,
    libvirt.VIR_ERR_DOM_EXIST: AlreadyExists,
    libvirt.VIR_ERR_STORAGE_VOL_EXIST: AlreadyExists,
    libvirt.VIR_ERR_NETWORK_EXIST: AlreadyExists,
    libvirt.VIR_ERR_NO_CONNECT: HypervisorUnavailable,
    libvirt.VIR_ERR_INVALID_CONN: HypervisorUnavailable,
    libvirt.VIR_ERR_RPC: HypervisorUnavailable,
    libvirt.VIR_ERR_AUTH_FAILED: HypervisorUnavailable,
    libvirt.VIR_ERR_AUTH_UNAVAILABLE: HypervisorUnavailable,
    libvirt.VIR_ERR_AUTH_CANCELLED: HypervisorUnavailable,
    libvirt.VIR_ERR_OPERATION_INVALID: InvalidState,
}

# Codes whose meaning depends on where they were raised: see the module docstring.
_CONNECTION_DOMAINS = frozenset({libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE})
_AMBIGUOUS_CODES = frozenset(
    {libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR}
)


def translate(err: libvirt.libvirtError, **context: object) -> HypervisorError:
    """The `HypervisorError` for a `libvirtError`, chosen by its error code.

    `context` (e.g. `domain="droplet-7"`) is appended to the message as
    key=value pairs, since some libvirt messages do not name the object.
    """
    code = err.get_error_code()
    domain = err.get_error_domain()
    message = err.get_error_message() or str(err)
    if context:
        message += " (" + " ".join(f"{k}={v}" for k, v in context.items()) + ")"

    cls = _BY_CODE.get(code, OperationFailed)
    if code in _AMBIGUOUS_CODES and domain in _CONNECTION_DOMAINS:
        cls = HypervisorUnavailable
    return cls(message, code=code, domain=domain)


@contextlib.contextmanager
def libvirt_errors(**context: object) -> Iterator[None]:
    """Run a block of libvirt calls, translating `libvirtError` on the way out.

    `context` names the objects involved, for the message (see `translate`).
    """
    try:
        yield
    except libvirt.libvirtError as err:
        raise translate(err, **context) from err
