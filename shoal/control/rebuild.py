"""rebuild and restore: a fresh disk for the droplet, on an image.

Both keep the droplet's id, name, address, MAC and domain (its UUID too) and
leave it running, as on DigitalOcean. The new disk is a copy-on-write
overlay of the image at the droplet's disk size, and the droplet's `image`
becomes that image, which also keeps the image from being deleted while the
disk depends on it.

- rebuild: any available image (by slug or id), and a new seed (none for an
  image that reads only the metadata service), so the guest configures
  itself as on its first boot (SSH keys, user_data).
- restore: a backup or snapshot of this droplet. The disk keeps its
  cloud-init state: same instance, nothing runs again.
"""

from __future__ import annotations

import dataclasses
import logging

from shoal.control.action_context import ActionContext, ActionFailed
from shoal.control.models import Action, Image
from shoal.control.provision import Machine
from shoal.control.undo import UndoStack
from shoal.hypervisor import lifecycle

log = logging.getLogger(__name__)


def rebuild(ctx: ActionContext, action: Action) -> None:
    _reimage(ctx, action, new_seed=True)


def restore(ctx: ActionContext, action: Action) -> None:
    _reimage(ctx, action, new_seed=False)


def _reimage(ctx: ActionContext, action: Action, new_seed: bool) -> None:
    image_id, image_path, with_seed = _image(ctx, action.params["image"])
    machine = dataclasses.replace(
        ctx.machine(action.resource_id), base_image=image_path, with_seed=with_seed
    )
    undo = UndoStack(f"droplet_id={machine.droplet_id} domain={machine.domain}")

    try:
        _power_off(ctx, machine, undo)
        ctx.fault(f"{action.type}.after_power_off")
        # From here the old disk is gone: nothing before this changed it.
        ctx.provisioner.replace_disk(machine, image_path)
        ctx.fault(f"{action.type}.after_disk")
        if new_seed:
            ctx.provisioner.reseed(machine)
            ctx.fault(f"{action.type}.after_seed")
        lifecycle.start(ctx.host, machine.domain)
        ctx.wait_state(machine, "running")
        ctx.fault(f"{action.type}.after_start")
    except BaseException:
        undo.unwind()
        raise

    ctx.complete(action, image_id=image_id, status="active")
    log.info(
        "droplet %s droplet_id=%s image_id=%s",
        action.type,
        machine.droplet_id,
        image_id,
    )


def _image(ctx: ActionContext, image_id: int) -> tuple[int, str, bool]:
    with ctx.db.transaction() as session:
        image = session.get(Image, image_id)
        if image is None or image.status != "available":
            raise ActionFailed(f"Image {image_id} is no longer available.")
        return image.id, image.path, not image.metadata_service_only


def _power_off(ctx: ActionContext, machine: Machine, undo: UndoStack) -> None:
    if ctx.state(machine) == "shutoff":
        return
    lifecycle.destroy(ctx.host, machine.domain)
    ctx.wait_state(machine, "shutoff")
    undo.push("power", lambda: lifecycle.start(ctx.host, machine.domain))
