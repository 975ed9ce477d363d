"""resize: another plan's vCPUs and memory, and with `disk: true` its disk.

The droplet must be off (the API refuses a running one, as DigitalOcean
does), and the handler checks again with libvirt: nothing changes under a
live QEMU. The domain is defined anew with the plan's vCPUs and memory and
the same name, UUID, MAC and disks, which is reversible. Growing the
overlay is not, so it comes last; the guest's root partition and file
system grow at its next boot (cloud-init's growpart and resizefs run at
every boot). A disk never shrinks (field report B22).
"""

from __future__ import annotations

import dataclasses
import logging

from shoal.control.action_context import ActionContext, ActionFailed
from shoal.control.models import Action
from shoal.control.undo import UndoStack

log = logging.getLogger(__name__)


def resize(ctx: ActionContext, action: Action) -> None:
    size = ctx.settings.size(action.params["size"])
    if size is None:
        raise ActionFailed(f"Size {action.params['size']} no longer exists.")
    grow = bool(action.params.get("disk"))

    old = ctx.machine(action.resource_id)
    if ctx.state(old) != "shutoff":
        raise ActionFailed("The droplet is on; power it off to resize it.")
    new = dataclasses.replace(
        old,
        vcpus=size.vcpus,
        memory_mib=size.memory,
        disk_gib=max(old.disk_gib, size.disk) if grow else old.disk_gib,
    )

    undo = UndoStack(f"droplet_id={old.droplet_id} domain={old.domain}")
    try:
        ctx.provisioner.redefine(new)
        undo.push("domain", lambda: ctx.provisioner.redefine(old))
        ctx.fault("resize.after_define")
        if new.disk_gib > old.disk_gib:
            ctx.provisioner.grow_disk(new)
            ctx.fault("resize.after_grow")
        ctx.complete(
            action,
            size_slug=size.slug,
            vcpus=new.vcpus,
            memory=new.memory_mib,
            disk=new.disk_gib,
        )
    except BaseException:
        undo.unwind()
        raise

    log.info(
        "droplet resized droplet_id=%s size=%s vcpus=%s memory=%s disk=%s",
        new.droplet_id,
        size.slug,
        new.vcpus,
        new.memory_mib,
        new.disk_gib,
    )
