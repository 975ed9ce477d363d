"""rename: the droplet's name, the hostname its metadata reports, and the
hostname the guest takes at its next boot.

The metadata service reads the name from the database, so it answers with
the new one at once. The seed's `local-hostname` is rewritten and the new
seed goes into the running guest's drive; cloud-init reads the seed at every
boot and its update_hostname module (every boot) sets the hostname from it.
The DHCP reservation carries the name too (dnsmasq answers DNS with it).
"""

from __future__ import annotations

import dataclasses
import logging

from shoal.control.action_context import ActionContext
from shoal.control.models import Action
from shoal.control.undo import UndoStack

log = logging.getLogger(__name__)


def rename(ctx: ActionContext, action: Action) -> None:
    old = ctx.machine(action.resource_id)
    new = dataclasses.replace(old, name=action.params["name"])
    provisioner = ctx.provisioner
    undo = UndoStack(f"droplet_id={old.droplet_id} domain={old.domain}")

    try:
        provisioner.replace_seed(new)
        undo.push("seed", lambda: provisioner.replace_seed(old))
        provisioner.rename_reservation(new)
        undo.push("reservation", lambda: provisioner.rename_reservation(old))
        ctx.complete(action, name=new.name)
    except BaseException:
        undo.unwind()
        raise

    log.info("droplet renamed droplet_id=%s name=%s", new.droplet_id, new.name)
