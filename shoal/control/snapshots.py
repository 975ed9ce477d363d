"""snapshot: a standalone image of the droplet's disk (not a libvirt internal
snapshot), which new droplets, rebuild and restore can use as any image.

An off droplet's disk is flattened with `qemu-img convert` (overlay and
base image into one qcow2). A running droplet's disk is copied by QEMU
itself (libvirt's backup job) while the guest goes on: crash-consistent,
like a snapshot of a running DigitalOcean droplet. The file goes to
`state_dir/images/snapshots`; the image row (type `snapshot` or `backup`,
private, `droplet_id` set, `min_disk_size` = the droplet's disk) is written
in the transaction that completes the action.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shoal.control import actions
from shoal.control.action_context import ActionContext
from shoal.control.models import Action, Droplet, Image
from shoal.control.provision import Machine
from shoal.control.undo import UndoStack
from shoal.hypervisor import backup
from shoal.hypervisor.guest import ROOT_DISK_DEV
from shoal.images import capture

log = logging.getLogger(__name__)


def snapshot(ctx: ActionContext, action: Action) -> None:
    take_image(ctx, action, "snapshot", action.params["name"])


def take_image(ctx: ActionContext, action: Action, kind: str, name: str) -> int:
    """Copy the droplet's disk into a new image of `kind`; returns its id."""
    machine = ctx.machine(action.resource_id)
    target = capture.ensure_dir(ctx.settings.snapshot_dir) / (
        f"{machine.domain}-{kind}-{action.id}.qcow2"
    )
    undo = UndoStack(f"droplet_id={machine.droplet_id} domain={machine.domain}")

    try:
        # Before the copy: a copy that fails half-way (a full disk) leaves
        # a partial file.
        undo.push("file", lambda: target.unlink(missing_ok=True))
        live = _copy_disk(ctx, machine, target, kind)
        ctx.fault(f"{kind}.after_copy")
        image_id = _record(ctx, action, kind, name, target)
    except BaseException:
        undo.unwind()
        raise

    log.info(
        "%s taken droplet_id=%s image_id=%s live=%s path=%s",
        kind,
        machine.droplet_id,
        image_id,
        live,
        target,
    )
    return image_id


def _copy_disk(ctx: ActionContext, machine: Machine, target: Path, kind: str) -> bool:
    """Copy the disk to `target`; True if the guest was running meanwhile."""
    # A run cut short by a crash may have left a partial copy.
    target.unlink(missing_ok=True)
    if ctx.state(machine) == "shutoff":
        capture.flatten(ctx.provisioner.disk_path(machine), target)
        return False

    backup.copy_disk_live(
        ctx.host,
        machine.domain,
        ROOT_DISK_DEV,
        str(target),
        on_started=lambda: ctx.fault(f"{kind}.during_copy"),
    )
    capture.publish(target)
    return True


def _record(
    ctx: ActionContext, action: Action, kind: str, name: str, path: Path
) -> int:
    with ctx.db.transaction() as session:
        droplet = session.get(Droplet, action.resource_id)
        image = Image(
            name=name,
            type=kind,
            public=False,
            distribution=droplet.image.distribution,
            path=str(path),
            min_disk_size=droplet.disk,
            size_gigabytes=capture.size_gigabytes(path),
            droplet_id=droplet.id,
            status="available",
            # The copy's cloud-init is configured as the original's was.
            metadata_service_only=droplet.image.metadata_service_only,
        )
        session.add(image)
        actions.finish(session.get(Action, action.id))
        session.flush()
        return image.id
