"""Droplets into domains: the one place DigitalOcean's words become libvirt's.

A droplet ``N`` is the domain ``droplet-N`` with overlay volume
``droplet-N.qcow2`` and seed volume ``droplet-N-seed.iso`` in Shoal's
storage pool, and a DHCP reservation for its MAC on the public network.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from shoal.control import cloudinit
from shoal.control.config import Settings
from shoal.control.undo import UndoStack
from shoal.hypervisor import lifecycle, network, seed, storage
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import NetworkNotFound
from shoal.hypervisor.guest import GuestSpec, build_domain

log = logging.getLogger(__name__)

GiB = 1024**3
START_TIMEOUT = 60


@dataclass(frozen=True)
class Machine:
    """The facts about one droplet the hypervisor needs, copied off its row."""

    droplet_id: int
    name: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    base_image: str
    ipv4: str
    mac: str
    public_keys: tuple[str, ...]
    user_data: str | None

    @property
    def domain(self) -> str:
        return f"droplet-{self.droplet_id}"

    @property
    def overlay(self) -> str:
        return f"{self.domain}.qcow2"

    @property
    def seed(self) -> str:
        return f"{self.domain}-seed.iso"


class Provisioner:
    def __init__(self, settings: Settings, host: Host, virt_type: str):
        self.settings = settings
        self.host = host
        self.virt_type = virt_type

    def prepare_host(self) -> None:
        """The pool and the public network every droplet needs (idempotent)."""
        net = self.settings.network
        self.settings.console_dir.mkdir(parents=True, exist_ok=True)
        storage.ensure_pool(self.host, self.settings.pool, str(self.settings.pool_dir))
        hosts = list(net.network.hosts())
        network.ensure_network(
            self.host,
            net.name,
            net.bridge,
            str(net.gateway),
            net.network.prefixlen,
            str(hosts[len(hosts) // 2]),
            str(hosts[-1]),
            net.forward,
        )

    def console_log(self, machine: Machine) -> Path:
        return self.settings.console_dir / f"{machine.domain}.log"

    def _network_yaml(self, machine: Machine) -> str:
        net = self.settings.network
        gateway = str(net.gateway)
        return cloudinit.network_config(
            machine.mac,
            machine.ipv4,
            net.network,
            gateway,
            net.nameservers or [gateway],
        )

    def _guest_spec(
        self, machine: Machine, disk_path: str, seed_path: str
    ) -> GuestSpec:
        return GuestSpec(
            name=machine.domain,
            uuid=None,
            vcpus=machine.vcpus,
            memory_mib=machine.memory_mib,
            virt_type=self.virt_type,
            disk_path=disk_path,
            seed_path=seed_path,
            mac=machine.mac,
            network=self.settings.network.name,
            smbios_serial=str(machine.droplet_id),
            console_log=str(self.console_log(machine)),
        )

    def create(self, machine: Machine) -> None:
        """Build and start the domain; on any failure leave nothing behind."""
        undo = UndoStack(f"droplet_id={machine.droplet_id} domain={machine.domain}")
        try:
            self._create_steps(machine, undo)
        except BaseException:
            undo.unwind()
            raise

    def _create_steps(self, machine: Machine, undo: UndoStack) -> None:
        host, net, pool = self.host, self.settings.network, self.settings.pool

        disk = storage.create_overlay(
            host, pool, machine.overlay, machine.base_image, machine.disk_gib * GiB
        )
        undo.push("overlay", lambda: storage.delete_volume(host, pool, machine.overlay))

        files = cloudinit.seed_files(
            machine.droplet_id,
            machine.name,
            list(machine.public_keys),
            machine.user_data,
            self._network_yaml(machine),
        )
        seed_path = storage.upload_volume(
            host, pool, machine.seed, seed.build_seed_iso(files)
        )
        undo.push("seed", lambda: storage.delete_volume(host, pool, machine.seed))

        xml = build_domain(self._guest_spec(machine, disk, seed_path)).to_xml()
        lifecycle.define(host, xml)
        undo.push("domain", lambda: lifecycle.remove_domain(host, machine.domain))
        undo.push("console", lambda: self.console_log(machine).unlink(missing_ok=True))

        network.add_dhcp_host(host, net.name, machine.mac, machine.ipv4, machine.name)
        undo.push(
            "reservation",
            lambda: network.remove_dhcp_host(host, net.name, machine.mac, machine.ipv4),
        )

        lifecycle.start(host, machine.domain)
        self._wait_running(machine)

    def _wait_running(self, machine: Machine) -> None:
        # The action may only say "completed" when the domain really runs.
        deadline = time.monotonic() + START_TIMEOUT
        while lifecycle.state(self.host, machine.domain) != "running":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{machine.domain} did not reach running")
            time.sleep(0.2)
        log.info(
            "domain running droplet_id=%s domain=%s", machine.droplet_id, machine.domain
        )

    def destroy(self, machine: Machine) -> None:
        """Remove domain, volumes, reservation and console log; idempotent."""
        host, net, pool = self.host, self.settings.network, self.settings.pool
        lifecycle.remove_domain(host, machine.domain)
        storage.delete_volume(host, pool, machine.overlay)
        storage.delete_volume(host, pool, machine.seed)
        if machine.mac and machine.ipv4:
            with contextlib.suppress(NetworkNotFound):
                # No network, no reservation left to remove.
                network.remove_dhcp_host(host, net.name, machine.mac, machine.ipv4)
        self.console_log(machine).unlink(missing_ok=True)
        log.info(
            "droplet destroyed droplet_id=%s domain=%s",
            machine.droplet_id,
            machine.domain,
        )
