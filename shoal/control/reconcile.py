"""Reconciliation: make libvirt and the database agree after any crash.

The database says what should exist; libvirt says what does. Run at start
and periodically, the reconciler removes what no droplet owns (domains
with this installation's UUIDs, volumes in Shoal's pool, DHCP reservations
with Shoal's MACs, console logs) and sets each droplet's status from its
domain. Droplets with an action in progress are left to that action.
It never touches a domain whose UUID is not this installation's.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field

from sqlalchemy import select

from shoal.control import actions
from shoal.control.addresses import MAC_PREFIX
from shoal.control.db import Database
from shoal.control.models import Action, Droplet
from shoal.control.provision import Machine, Provisioner
from shoal.hypervisor import lifecycle, network, storage
from shoal.hypervisor.errors import OperationFailed

log = logging.getLogger(__name__)

VOLUME_NAME = re.compile(r"^droplet-(\d+)(?:\.qcow2|-seed\.iso)$")
STATUS_BY_STATE = {"running": "active", "shutoff": "off", "crashed": "off"}


@dataclass
class Snapshot:
    """What the database holds, read in one transaction."""

    machines: dict[int, Machine] = field(default_factory=dict)
    statuses: dict[int, str] = field(default_factory=dict)
    busy: set[int] = field(default_factory=set)

    @property
    def known(self) -> set[int]:
        return set(self.machines) | self.busy


class Reconciler:
    def __init__(self, db: Database, provisioner: Provisioner):
        self.db = db
        self.provisioner = provisioner
        self.host = provisioner.host
        self.settings = provisioner.settings

    def run(self) -> list[str]:
        """One pass; returns what it repaired, each also logged."""
        state = self._read_database()
        repairs = self._orphan_domains(state)
        repairs += self._orphan_volumes(state)
        repairs += self._orphan_reservations(state)
        repairs += self._orphan_consoles(state)
        repairs += self._statuses(state)
        for repair in repairs:
            log.warning("reconciled %s", repair)
        return repairs

    def _read_database(self) -> Snapshot:
        state = Snapshot()
        with self.db.transaction() as session:
            state.busy = set(
                session.scalars(
                    select(Action.resource_id).where(
                        Action.resource_type == "droplet",
                        Action.status == actions.IN_PROGRESS,
                    )
                )
            )
            for droplet in session.scalars(select(Droplet)):
                state.machines[droplet.id] = Machine.from_droplet(droplet)
                state.statuses[droplet.id] = droplet.status
        return state

    def _orphan_domains(self, state: Snapshot) -> list[str]:
        repairs = []
        for name in lifecycle.list_domains(self.host, prefix="droplet-"):
            droplet_id = _droplet_id(name)
            if droplet_id is None or droplet_id in state.known:
                continue
            if lifecycle.uuid_of(self.host, name) != self.provisioner.domain_uuid(name):
                continue
            lifecycle.remove_domain(self.host, name)
            repairs.append(f"removed domain with no droplet domain={name}")
        return repairs

    def _orphan_volumes(self, state: Snapshot) -> list[str]:
        repairs = []
        pool = self.settings.pool
        for volume in storage.list_volumes(self.host, pool):
            match = VOLUME_NAME.match(volume)
            if match is None or int(match.group(1)) in state.known:
                continue
            storage.delete_volume(self.host, pool, volume)
            repairs.append(f"removed volume with no droplet volume={volume}")
        return repairs

    def _orphan_reservations(self, state: Snapshot) -> list[str]:
        owned = {(m.mac, m.ipv4) for m in state.machines.values() if m.mac}
        busy_macs = {m.mac for i, m in state.machines.items() if i in state.busy}
        net = self.settings.network.name
        repairs = []
        found = set(network.dhcp_hosts(self.host, net))
        with contextlib.suppress(OperationFailed):
            # libvirt's test driver has no separate persistent view.
            found |= set(network.dhcp_hosts(self.host, net, inactive=True))
        for mac, ip in sorted(found):
            if not mac.startswith(MAC_PREFIX) or (mac, ip) in owned or mac in busy_macs:
                continue
            network.remove_dhcp_host(self.host, net, mac, ip)
            repairs.append(f"removed reservation with no droplet mac={mac} ip={ip}")
        return repairs

    def _orphan_consoles(self, state: Snapshot) -> list[str]:
        repairs = []
        for path in self.settings.console_dir.glob("droplet-*.log"):
            droplet_id = _droplet_id(path.stem)
            if droplet_id is not None and droplet_id not in state.known:
                path.unlink(missing_ok=True)
                repairs.append(f"removed console log with no droplet path={path}")
        return repairs

    def _statuses(self, state: Snapshot) -> list[str]:
        repairs = []
        for droplet_id, machine in state.machines.items():
            old = state.statuses[droplet_id]
            if droplet_id in state.busy or old not in ("active", "off"):
                continue
            if not lifecycle.exists(self.host, machine.domain):
                log.error("droplet has no domain droplet_id=%s", droplet_id)
                continue
            new = STATUS_BY_STATE.get(lifecycle.state(self.host, machine.domain), old)
            if new != old and self._set_status(droplet_id, old, new):
                repairs.append(f"status {old} -> {new} droplet_id={droplet_id}")
        return repairs

    def _set_status(self, droplet_id: int, old: str, new: str) -> bool:
        # Only if nothing changed it since the pass began.
        with self.db.transaction() as session:
            droplet = session.get(Droplet, droplet_id)
            if droplet is None or droplet.status != old:
                return False
            if actions.is_locked(session, droplet_id):
                return False
            droplet.status = new
            return True


def _droplet_id(name: str) -> int | None:
    suffix = name.removeprefix("droplet-")
    return int(suffix) if suffix.isdigit() else None
