"""Droplets into domains: the one place DigitalOcean's words become libvirt's.

A droplet ``N`` is the domain ``droplet-N`` with overlay volume
``droplet-N.qcow2`` and seed volume ``droplet-N-seed.iso`` in Shoal's
storage pool, and a DHCP reservation for its MAC on the public network.
A droplet of an image that reads only the metadata service has no seed.
Its interface carries the network filter that keeps it to its own MAC
and address (`shoal.hypervisor.nwfilter`).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from shoal.control import cloudinit
from shoal.control.config import Settings
from shoal.control.faults import Faults
from shoal.control.models import Droplet
from shoal.control.undo import UndoStack
from shoal.hypervisor import lifecycle, media, network, nwfilter, seed, storage
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import NetworkNotFound
from shoal.hypervisor.guest import GuestSpec, build_domain, seed_cdrom

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
    root_password_hash: str | None = None
    # False for images whose cloud-init reads only the metadata service.
    with_seed: bool = True

    @classmethod
    def from_droplet(cls, droplet: Droplet) -> Machine:
        return cls(
            droplet_id=droplet.id,
            name=droplet.name,
            vcpus=droplet.vcpus,
            memory_mib=droplet.memory,
            disk_gib=droplet.disk,
            base_image=droplet.image.path,
            ipv4=droplet.ipv4 or "",
            mac=droplet.mac or "",
            public_keys=tuple(droplet.public_keys or ()),
            user_data=droplet.user_data,
            root_password_hash=droplet.root_password_hash,
            with_seed=not droplet.image.metadata_service_only,
        )

    @property
    def domain(self) -> str:
        return f"droplet-{self.droplet_id}"

    @property
    def overlay(self) -> str:
        return f"{self.domain}.qcow2"

    @property
    def seed(self) -> str:
        return f"{self.domain}-seed.iso"


def installation_id(state_dir: Path) -> uuid.UUID:
    """This Shoal's own id, made once and kept in its state directory."""
    path = state_dir / "installation-id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{uuid.uuid4()}\n")
    return uuid.UUID(path.read_text().strip())


class Provisioner:
    def __init__(
        self,
        settings: Settings,
        host: Host,
        virt_type: str,
        faults: Faults | None = None,
    ):
        self.settings = settings
        self.host = host
        self.virt_type = virt_type
        self.installation = installation_id(settings.state_dir)
        self.faults = faults or Faults.from_env()

    def domain_uuid(self, domain: str) -> str:
        # Derived from this installation and the domain name: a domain with
        # a droplet's name but another UUID belongs to someone else, and
        # Shoal never removes it.
        return str(uuid.uuid5(self.installation, domain))

    def owns_domain(self, machine: Machine) -> bool:
        """True unless a domain of that name exists and is not ours."""
        found = lifecycle.uuid_of(self.host, machine.domain)
        if found is None or found == self.domain_uuid(machine.domain):
            return True
        log.warning(
            "domain is not ours, left alone droplet_id=%s domain=%s uuid=%s",
            machine.droplet_id,
            machine.domain,
            found,
        )
        return False

    def prepare_host(self) -> None:
        """The pool, the public network and the network filters every droplet
        needs (idempotent)."""
        net = self.settings.network
        self.settings.console_dir.mkdir(parents=True, exist_ok=True)
        if not nwfilter.ensure_filters(self.host, self.settings.metadata_address):
            # Only libvirt's test driver: it starts domains without filtering.
            log.warning("network filters unsupported uri=%s", self.host.uri)
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

    def _seed_image(self, machine: Machine) -> bytes:
        files = cloudinit.seed_files(
            machine.droplet_id,
            machine.name,
            list(machine.public_keys),
            machine.user_data,
            self._network_yaml(machine),
            machine.root_password_hash,
        )
        return seed.build_seed_iso(files)

    def _guest_spec(
        self, machine: Machine, disk_path: str, seed_path: str | None
    ) -> GuestSpec:
        return GuestSpec(
            name=machine.domain,
            uuid=self.domain_uuid(machine.domain),
            vcpus=machine.vcpus,
            memory_mib=machine.memory_mib,
            virt_type=self.virt_type,
            disk_path=disk_path,
            seed_path=seed_path,
            mac=machine.mac,
            network=self.settings.network.name,
            smbios_serial=str(machine.droplet_id),
            console_log=str(self.console_log(machine)),
            ipv4=machine.ipv4 or None,
        )

    def create(self, machine: Machine) -> None:
        """Build and start the domain; on any failure leave nothing behind."""
        undo = UndoStack(
            f"droplet_id={machine.droplet_id} domain={machine.domain}",
            on_step=lambda step: self.faults.point(f"create.after_{step}"),
        )
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

        seed_path = None
        if machine.with_seed:
            seed_path = storage.upload_volume(
                host, pool, machine.seed, self._seed_image(machine)
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
        self.faults.point("create.after_start")
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

    def redefine(self, machine: Machine) -> None:
        """Define the domain anew from the machine's facts: the same name,
        UUID, MAC and disks, with its vCPUs and memory as they are now. A
        running domain keeps its old ones until it is next started."""
        disk = storage.volume_path(self.host, self.settings.pool, machine.overlay)
        spec = self._guest_spec(machine, disk, self._seed_path(machine))
        lifecycle.define(self.host, build_domain(spec).to_xml())

    def grow_disk(self, machine: Machine) -> None:
        """Grow the overlay to the machine's disk size; never shrinks (B22)."""
        storage.resize_volume(
            self.host, self.settings.pool, machine.overlay, machine.disk_gib * GiB
        )

    def disk_path(self, machine: Machine) -> str:
        return storage.volume_path(self.host, self.settings.pool, machine.overlay)

    def replace_disk(self, machine: Machine, image_path: str) -> None:
        """A fresh overlay on `image_path` takes the place of the droplet's disk.

        The domain must be off. The old disk is gone from here on: the image
        is checked first, so what can still fail is libvirt itself, and
        running the same action again then finishes the job.
        """
        if not Path(image_path).is_file():
            raise FileNotFoundError(f"image file {image_path} is missing")

        host, pool = self.host, self.settings.pool
        storage.delete_volume(host, pool, machine.overlay)
        storage.create_overlay(
            host, pool, machine.overlay, image_path, machine.disk_gib * GiB
        )
        log.info(
            "disk replaced droplet_id=%s domain=%s image=%s",
            machine.droplet_id,
            machine.domain,
            image_path,
        )

    def replace_seed(self, machine: Machine) -> bool:
        """Write the seed anew from the machine's facts. A running guest finds
        it in its drive at once; cloud-init reads it at every boot. False
        when the droplet has no seed to replace."""
        host, pool = self.host, self.settings.pool
        if self._seed_path(machine) is None:
            return False

        # Built and checked before the old seed goes.
        image = self._seed_image(machine)
        storage.delete_volume(host, pool, machine.seed)
        path = storage.upload_volume(host, pool, machine.seed, image)
        media.reload_media(host, machine.domain, seed_cdrom(path))
        log.info(
            "seed replaced droplet_id=%s domain=%s", machine.droplet_id, machine.domain
        )
        return True

    def reseed(self, machine: Machine) -> None:
        """Give an off domain the seed its image calls for: a new one, or
        none for images that read only the metadata service; the domain is
        defined anew to match (its CD-ROM comes or goes)."""
        host, pool = self.host, self.settings.pool
        image = self._seed_image(machine) if machine.with_seed else None
        storage.delete_volume(host, pool, machine.seed)
        if image is not None:
            storage.upload_volume(host, pool, machine.seed, image)
        self.redefine(machine)

    def rename_reservation(self, machine: Machine) -> None:
        """The DHCP reservation, under the machine's name (dnsmasq's DNS)."""
        net = self.settings.network.name
        network.remove_dhcp_host(self.host, net, machine.mac, machine.ipv4)
        network.add_dhcp_host(self.host, net, machine.mac, machine.ipv4, machine.name)

    def _seed_path(self, machine: Machine) -> str | None:
        host, pool = self.host, self.settings.pool
        if not storage.volume_exists(host, pool, machine.seed):
            return None
        return storage.volume_path(host, pool, machine.seed)

    def destroy(self, machine: Machine) -> None:
        """Remove domain, volumes, reservation and console log; idempotent."""
        host, net, pool = self.host, self.settings.network, self.settings.pool
        self.faults.point("destroy.before_domain")
        if self.owns_domain(machine):
            lifecycle.remove_domain(host, machine.domain)
        self.faults.point("destroy.after_domain")
        storage.delete_volume(host, pool, machine.overlay)
        storage.delete_volume(host, pool, machine.seed)
        if machine.mac and machine.ipv4:
            with contextlib.suppress(NetworkNotFound):
                # No network, no reservation left to remove.
                network.remove_dhcp_host(host, net.name, machine.mac, machine.ipv4)
        self.console_log(machine).unlink(missing_ok=True)
        # A reset root password has no use once its droplet is gone.
        (self.settings.password_dir / machine.domain).unlink(missing_ok=True)
        log.info(
            "droplet destroyed droplet_id=%s domain=%s",
            machine.droplet_id,
            machine.domain,
        )
