"""Removable media: what a running guest finds in its CD-ROM drive.

A file replaced under the same path does not reach a running QEMU, which
keeps the old file open, and libvirt takes a media change to the path it
already has for no change at all. So `reload_media()` ejects the drive, then
inserts the file again: QEMU opens it anew and the guest sees the new
contents (after its next reboot, when cloud-init reads the seed again).
The domain's persistent definition names the same path throughout.
"""

from __future__ import annotations

import dataclasses
import logging

import libvirt

from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import libvirt_errors
from shoal.hypervisor.xml import Disk

log = logging.getLogger(__name__)


def reload_media(host: Host, name: str, cdrom: Disk) -> bool:
    """Make a running domain reopen `cdrom`'s file; False if it is not running.

    `cdrom` is the drive as the domain's policy defines it (target and
    source). An inactive domain opens the file afresh at its next start.
    """
    with libvirt_errors(domain=name):
        dom = host.connection().lookupByName(name)
        if not dom.isActive():
            return False

        ejected = dataclasses.replace(cdrom, source_file=None)
        dom.updateDeviceFlags(ejected.to_xml(), libvirt.VIR_DOMAIN_AFFECT_LIVE)
        dom.updateDeviceFlags(cdrom.to_xml(), libvirt.VIR_DOMAIN_AFFECT_LIVE)

    log.info(
        "media reloaded domain=%s target=%s source=%s",
        name,
        cdrom.target_dev,
        cdrom.source_file,
    )
    return True
