"""Every droplet action the engine performs, registered in one place.

The API accepts an action type only once it is in ``actions.SUPPORTED``,
which `install()` fills as it registers the handlers; the types Shoal
refuses for good, and why, are ``actions.REFUSED``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from shoal.control import actions, backups, power, rebuild, rename, resize
from shoal.control.action_context import ActionContext
from shoal.control.domain_events import DomainEvents
from shoal.control.engine import Engine
from shoal.control.models import Action
from shoal.control.passwords import password_reset
from shoal.control.snapshots import snapshot

log = logging.getLogger(__name__)

Handler = Callable[[ActionContext, Action], None]


def enable_private_networking(ctx: ActionContext, action: Action) -> None:
    # DigitalOcean dropped the action; godo, python-digitalocean and
    # Terraform still send it, and every droplet is in its region's network.
    ctx.complete(action)


HANDLERS: dict[str, Handler] = {
    "power_off": power.power_off,
    "power_on": power.power_on,
    "power_cycle": power.power_cycle,
    "shutdown": power.shutdown,
    "reboot": power.reboot,
    "resize": resize.resize,
    "rebuild": rebuild.rebuild,
    "restore": rebuild.restore,
    "rename": rename.rename,
    "password_reset": password_reset,
    "snapshot": snapshot,
    "enable_backups": backups.enable_backups,
    "disable_backups": backups.disable_backups,
    "change_backup_policy": backups.change_backup_policy,
    "enable_private_networking": enable_private_networking,
}

# Recorded by the backup scheduler, never asked for through the API.
INTERNAL: dict[str, Handler] = {"backup": backups.take_backup}


def install(engine: Engine, events: DomainEvents) -> ActionContext:
    """Register every handler with `engine`; the API then accepts the types."""
    ctx = ActionContext(engine.db, engine.settings, engine.provisioner, events)
    for type_, handler in {**HANDLERS, **INTERNAL}.items():
        engine.register(type_, functools.partial(handler, ctx))
    actions.SUPPORTED.update(HANDLERS)

    log.info("droplet actions registered types=%s", ",".join(sorted(HANDLERS)))
    return ctx
