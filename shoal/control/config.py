"""Shoal's settings: defaults, then a YAML file, then ``SHOAL_*`` variables.

The file is the one named by ``SHOAL_CONFIG`` (default
``/etc/shoal/shoal.yaml``); a missing file is not an error. Nested values
use ``__`` in variable names, e.g. ``SHOAL_NETWORK__CIDR=10.9.0.0/24``.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from shoal.images.limits import ImageLimits

DEFAULT_CONFIG_FILE = Path("/etc/shoal/shoal.yaml")


class SizeConfig(BaseModel):
    slug: str
    vcpus: int
    memory: int = Field(description="MiB, a multiple of 8")
    disk: int = Field(description="GiB")
    transfer: float = 1.0
    price_monthly: float = 0.0
    price_hourly: float = 0.0
    description: str = "Basic"
    available: bool = True


class RegionConfig(BaseModel):
    slug: str = "lab1"
    name: str = "Homelab 1"
    available: bool = True
    features: list[str] = ["metadata", "install_agent"]


class NetworkConfig(BaseModel):
    """The libvirt network every droplet's public interface joins."""

    name: str = "shoal-public"
    bridge: str = "shoalbr0"
    cidr: str = "10.118.0.0/24"
    # "nat" gives guests a way out through the host; "none" keeps them on the
    # bridge only, which is what the demo and the tests use.
    forward: str = "nat"
    nameservers: list[str] = []

    @field_validator("cidr")
    @classmethod
    def _is_network(cls, value: str) -> str:
        net = ipaddress.IPv4Network(value)
        if net.prefixlen > 29:
            raise ValueError("the droplet network needs at least a /29")
        return str(net)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return _ipv4_network(self.cidr)

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return _gateway(self.cidr)

    @property
    def spelled(self) -> tuple[str, str]:
        """(netmask, gateway) as text, as every droplet's API view shows them;
        turning addresses into text took a fifth of a 200-droplet page."""
        return _spelled(self.cidr)


@functools.lru_cache(maxsize=16)
def _ipv4_network(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


@functools.lru_cache(maxsize=16)
def _gateway(cidr: str) -> ipaddress.IPv4Address:
    return _ipv4_network(cidr).network_address + 1


@functools.lru_cache(maxsize=16)
def _spelled(cidr: str) -> tuple[str, str]:
    return str(_ipv4_network(cidr).netmask), str(_gateway(cidr))


class ImageConfig(BaseModel):
    """The distribution catalogue, and what a fetched or imported image may
    cost the host (see README, "Images")."""

    # An operator's catalogue file; its entries add to or replace the
    # built-in ones (shoal/images/distributions.yaml) by slug.
    catalogue: Path | None = None
    max_download_gb: float = 100.0
    max_decompressed_gb: float = 100.0
    max_virtual_gb: float = 256.0
    stall_seconds: float = 60.0
    download_retries: int = 3
    qemu_img_memory_mb: int = 2048
    qemu_img_cpu_seconds: int = 600
    qemu_img_timeout_seconds: float = 1800.0

    def limits(self) -> ImageLimits:
        gib = 1 << 30
        return ImageLimits(
            download_bytes=int(self.max_download_gb * gib),
            decompressed_bytes=int(self.max_decompressed_gb * gib),
            virtual_bytes=int(self.max_virtual_gb * gib),
            stall_seconds=self.stall_seconds,
            download_retries=self.download_retries,
            qemu_img_memory_bytes=self.qemu_img_memory_mb << 20,
            qemu_img_cpu_seconds=self.qemu_img_cpu_seconds,
            qemu_img_timeout_seconds=self.qemu_img_timeout_seconds,
        )


def _default_sizes() -> list[SizeConfig]:
    # The smallest shared-CPU plans DigitalOcean sells, with its prices, so
    # that scripts written against DigitalOcean find the slugs they know.
    plans = [
        ("s-1vcpu-512mb-10gb", 1, 512, 10, 0.5, 4.0),
        ("s-1vcpu-1gb", 1, 1024, 25, 1.0, 6.0),
        ("s-1vcpu-2gb", 1, 2048, 50, 2.0, 12.0),
        ("s-2vcpu-2gb", 2, 2048, 60, 3.0, 18.0),
        ("s-2vcpu-4gb", 2, 4096, 80, 4.0, 24.0),
        ("s-4vcpu-8gb", 4, 8192, 160, 5.0, 48.0),
    ]
    return [
        SizeConfig(
            slug=slug,
            vcpus=vcpus,
            memory=memory,
            disk=disk,
            transfer=transfer,
            price_monthly=monthly,
            price_hourly=round(monthly / 672, 5),
        )
        for slug, vcpus, memory, disk, transfer, monthly in plans
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHOAL_", env_nested_delimiter="__", extra="ignore"
    )

    state_dir: Path = Path("/var/lib/shoal")
    listen: str = "127.0.0.1:8080"
    database_url: str | None = None
    public_url: str | None = None
    libvirt_uri: str = "qemu:///system"
    pool: str = "shoal"
    virt_type: str = "auto"
    image_cache_dir: Path = Path("/var/cache/shoal/images")
    probe_cache_dir: Path = Path("/var/cache/shoal/probe")
    metadata_address: str = "169.254.169.254"
    metadata_port: int = 80
    engine_workers: int = 4
    # Seconds between reconciliation passes (one also runs at start).
    reconcile_interval: float = 60.0
    droplet_limit: int = 25
    # How long a graceful shutdown or reboot waits for the guest, and how
    # often it presses the ACPI power button again meanwhile: a guest still
    # booting does not hear the first press (field report B16).
    shutdown_timeout_seconds: float = 120.0
    shutdown_resend_seconds: float = 5.0
    # Take each droplet's backups this many seconds apart instead of once in
    # its policy's daily or weekly window; for tests and demonstrations.
    backup_interval_seconds: float | None = None
    # DigitalOcean's own budgets per token; callers without a valid token are
    # counted by their address.
    rate_limit_per_hour: int = 5000
    rate_limit_per_minute: int = 250
    region: RegionConfig = RegionConfig()
    sizes: list[SizeConfig] = Field(default_factory=_default_sizes)
    network: NetworkConfig = NetworkConfig()
    images: ImageConfig = ImageConfig()

    @field_validator("virt_type")
    @classmethod
    def _known_virt_type(cls, value: str) -> str:
        if value not in ("auto", "kvm", "qemu"):
            raise ValueError("virt_type is one of auto, kvm, qemu")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("SHOAL_CONFIG", DEFAULT_CONFIG_FILE))
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=config_file)
        return (init_settings, env_settings, yaml_source)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'shoal.db'}"

    @property
    def pool_dir(self) -> Path:
        return self.state_dir / "disks"

    @property
    def console_dir(self) -> Path:
        return self.state_dir / "consoles"

    @property
    def snapshot_dir(self) -> Path:
        """Snapshot and backup images of droplets' disks."""
        return self.state_dir / "images" / "snapshots"

    @property
    def custom_image_dir(self) -> Path:
        """Images imported from a URL or a file, one qcow2 per image id."""
        return self.state_dir / "images" / "custom"

    @property
    def password_dir(self) -> Path:
        """New root passwords, one file per droplet, for the operator."""
        return self.state_dir / "passwords"

    def size(self, slug: str) -> SizeConfig | None:
        return next((s for s in self.sizes if s.slug == slug), None)
