"""Domain lifecycle: define, start, stop, remove, and reading a domain back."""

from __future__ import annotations

import logging
import uuid as uuidlib
import xml.etree.ElementTree as ET

import libvirt

from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import (
    AlreadyExists,
    DomainNotFound,
    InvalidState,
    OperationFailed,
    libvirt_errors,
)
from shoal.hypervisor.xml import Domain

log = logging.getLogger(__name__)

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}

# A plain undefine fails on domains with a managed-save image (left by
# libvirt-guests at host shutdown), snapshot or checkpoint metadata, or UEFI
# nvram (field report B15). Drivers that lack some of these flags reject the
# whole set as invalid, so fall back to smaller sets.
_UNDEFINE_FLAG_SETS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    0,
)
_UNSUPPORTED_FLAGS = frozenset(
    {libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT}
)


def define(host: Host, xml: str) -> None:
    """Define (or redefine) a persistent domain from its XML.

    Redefining an existing domain is allowed only with the same UUID: a name held
    by a different domain raises `AlreadyExists` (field report B18).
    """
    root = ET.fromstring(xml)
    name, uuid = root.findtext("name"), root.findtext("uuid")
    if not name:
        raise ValueError("domain XML has no <name>")
    conn = host.connection()

    with libvirt_errors(domain=name):
        existing = _find(conn, name)
        if existing is not None and uuid and not _same_uuid(existing, uuid):
            raise AlreadyExists(
                f"domain {name} already exists with uuid {existing.UUIDString()}"
            )
        conn.defineXML(xml)

    log.info("domain defined domain=%s uuid=%s", name, uuid)


def start(host: Host, name: str) -> None:
    """Start a defined domain; a running domain is left as it is."""
    with libvirt_errors(domain=name):
        dom = host.connection().lookupByName(name)
        if dom.isActive():
            log.info("domain already running domain=%s", name)
            return
        dom.create()

    log.info("domain started domain=%s", name)


def destroy(host: Host, name: str) -> None:
    """Power a domain off at once; a domain that is already off is fine."""
    with libvirt_errors(domain=name):
        dom = host.connection().lookupByName(name)
        if not dom.isActive():
            return

    try:
        with libvirt_errors(domain=name):
            dom.destroy()
    except InvalidState:
        # It stopped between the check and the call; off is what we wanted.
        if _is_active(dom):
            raise
        return

    log.info("domain destroyed domain=%s", name)


def shutdown(host: Host, name: str) -> None:
    """Ask the guest to power off. Does not wait; an off domain is fine.

    Safe to repeat while waiting, which catches guests that were still booting
    when the first request arrived (field report B16). libvirt picks the method:
    with no guest agent in the domain, QEMU presses the ACPI power button.
    """
    with libvirt_errors(domain=name):
        dom = host.connection().lookupByName(name)
        if not dom.isActive():
            return
        dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_DEFAULT)

    log.info("domain shutdown requested domain=%s", name)


def reboot(host: Host, name: str) -> None:
    """Ask the guest to reboot, the way `shutdown()` asks. Does not wait."""
    with libvirt_errors(domain=name):
        dom = host.connection().lookupByName(name)
        dom.reboot(libvirt.VIR_DOMAIN_REBOOT_DEFAULT)

    log.info("domain reboot requested domain=%s", name)


def undefine(host: Host, name: str) -> None:
    """Remove a domain's definition with its managed save, snapshots and nvram.

    A running domain keeps running as a transient one; use `remove_domain()` to
    get rid of it altogether.
    """
    with libvirt_errors(domain=name):
        dom = host.connection().lookupByName(name)

    for flags in _UNDEFINE_FLAG_SETS:
        try:
            with libvirt_errors(domain=name):
                dom.undefineFlags(flags)
            break
        except OperationFailed as err:
            if err.code not in _UNSUPPORTED_FLAGS or flags == 0:
                raise
            log.warning("undefine flags rejected domain=%s flags=%#x", name, flags)

    log.info("domain undefined domain=%s", name)


def remove_domain(host: Host, name: str) -> bool:
    """Destroy and undefine a domain. Returns False when there was none.

    Idempotent: a missing domain is not an error (field reports B15, B18).
    """
    if not exists(host, name):
        return False

    try:
        destroy(host, name)
        undefine(host, name)
    except DomainNotFound:
        # A transient domain vanishes once destroyed; or another call won.
        pass

    log.info("domain removed domain=%s", name)
    return True


def state(host: Host, name: str) -> str:
    """The domain's state: `running`, `shutoff`, `paused`, `crashed`, ..."""
    with libvirt_errors(domain=name):
        code, _reason = host.connection().lookupByName(name).state()
    return _STATES.get(code, "nostate")


def exists(host: Host, name: str) -> bool:
    with libvirt_errors(domain=name):
        return _find(host.connection(), name) is not None


def uuid_of(host: Host, name: str) -> str | None:
    """The domain's UUID, or None when no domain has that name."""
    conn = host.connection()
    with libvirt_errors(domain=name):
        dom = _find(conn, name)
        return None if dom is None else dom.UUIDString()


def list_domains(host: Host, prefix: str = "droplet-") -> list[str]:
    """Names of all domains, running or not, that start with `prefix`."""
    with libvirt_errors():
        names = [dom.name() for dom in host.connection().listAllDomains(0)]
    return sorted(n for n in names if n.startswith(prefix))


def describe(host: Host, name: str) -> Domain:
    """The domain's persistent definition, parsed (read-only: see `XMLObject`)."""
    with libvirt_errors(domain=name):
        dom = host.connection().lookupByName(name)
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if dom.isPersistent() else 0
        xml = dom.XMLDesc(flags)
    return Domain.from_xml(xml)


def mac_addresses(host: Host, name: str) -> list[str]:
    """The domain's MAC addresses, lowercase, in device order."""
    return [i.mac.lower() for i in describe(host, name).interfaces() if i.mac]


def disk_paths(host: Host, name: str) -> list[str]:
    """Files behind the domain's disks and CD-ROMs, in device order."""
    return [d.source_file for d in describe(host, name).disks() if d.source_file]


def _find(conn: libvirt.virConnect, name: str) -> libvirt.virDomain | None:
    """The domain called `name`, or None. Call inside `libvirt_errors()`."""
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def _same_uuid(dom: libvirt.virDomain, uuid: str) -> bool:
    return uuidlib.UUID(dom.UUIDString()) == uuidlib.UUID(uuid)


def _is_active(dom: libvirt.virDomain) -> bool:
    try:
        with libvirt_errors():
            return bool(dom.isActive())
    except DomainNotFound:
        return False
