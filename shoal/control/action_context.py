"""What every droplet action handler works with, and how it reports back.

A handler gets the context and the action (a detached row: its id,
resource_id and params). It reads the droplet as a `Machine`, changes the
domain, and marks the action completed with `complete()` only once what the
action claims is true, writing the droplet's new facts in the same
transaction. Raising `ActionFailed` (or anything else) marks it errored with
the message; the engine does that.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from shoal.control import actions
from shoal.control.config import Settings
from shoal.control.db import Database
from shoal.control.domain_events import DomainEvents
from shoal.control.models import Action, Droplet
from shoal.control.provision import Machine, Provisioner
from shoal.control.status import STATUS_BY_STATE
from shoal.hypervisor import lifecycle
from shoal.hypervisor.connection import Host

log = logging.getLogger(__name__)

# How long libvirt may take to report the state it was just asked for.
STATE_TIMEOUT = 60.0


class ActionFailed(RuntimeError):
    """What an action could not make true; the message is the action's error."""


@dataclass
class ActionContext:
    db: Database
    settings: Settings
    provisioner: Provisioner
    events: DomainEvents

    @property
    def host(self) -> Host:
        return self.provisioner.host

    def machine(self, droplet_id: int) -> Machine:
        with self.db.transaction() as session:
            droplet = session.get(Droplet, droplet_id)
            if droplet is None or droplet.deleted:
                raise ActionFailed("The droplet was deleted.")
            return Machine.from_droplet(droplet)

    def fault(self, point: str) -> None:
        """A named point where a test may make this action fail or crash."""
        self.provisioner.faults.point(point)

    def state(self, machine: Machine) -> str:
        return lifecycle.state(self.host, machine.domain)

    def wait_state(
        self, machine: Machine, wanted: str, timeout: float = STATE_TIMEOUT
    ) -> None:
        deadline = time.monotonic() + timeout
        while self.state(machine) != wanted:
            if time.monotonic() > deadline:
                raise ActionFailed(f"{machine.domain} did not reach {wanted}.")
            time.sleep(0.2)

    def complete(self, action: Action, **droplet_fields) -> None:
        """Mark the action completed, writing `droplet_fields` to its droplet."""
        with self.db.transaction() as session:
            droplet = session.get(Droplet, action.resource_id)
            if droplet is not None:
                for name, value in droplet_fields.items():
                    setattr(droplet, name, value)
            actions.finish(session.get(Action, action.id))

    def sync_status(self, machine: Machine) -> None:
        """Write the domain's real state to the droplet (before an error)."""
        status = STATUS_BY_STATE.get(self.state(machine))
        if status is None:
            return  # paused, say: neither active nor off
        with self.db.transaction() as session:
            droplet = session.get(Droplet, machine.droplet_id)
            if droplet is not None and droplet.status in ("active", "off"):
                droplet.status = status
