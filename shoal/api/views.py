"""DigitalOcean's JSON objects, rendered from Shoal's records."""

from __future__ import annotations

from datetime import datetime

from shoal.control.config import RegionConfig, Settings, SizeConfig
from shoal.control.models import Action, Droplet, Image, SSHKey


def timestamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def size_view(size: SizeConfig, region: RegionConfig) -> dict:
    return {
        "slug": size.slug,
        "memory": size.memory,
        "vcpus": size.vcpus,
        "disk": size.disk,
        "transfer": size.transfer,
        "price_monthly": size.price_monthly,
        "price_hourly": size.price_hourly,
        "regions": [region.slug],
        "available": size.available,
        "description": size.description,
        "disk_info": [{"type": "local", "size": {"amount": size.disk, "unit": "gib"}}],
    }


def region_view(settings: Settings) -> dict:
    region = settings.region
    return {
        "name": region.name,
        "slug": region.slug,
        "features": list(region.features),
        "available": region.available,
        "sizes": [s.slug for s in settings.sizes if s.available],
    }


def image_view(image: Image, settings: Settings) -> dict:
    return {
        "id": image.id,
        "name": image.name,
        "distribution": image.distribution,
        "slug": image.slug,
        "public": image.public,
        "regions": [settings.region.slug],
        "created_at": timestamp(image.created_at),
        "type": image.type,
        "min_disk_size": image.min_disk_size,
        "size_gigabytes": image.size_gigabytes,
        "description": image.description,
        "tags": [],
        "status": image.status,
        "error_message": image.error_message,
    }


def _networks(droplet: Droplet, settings: Settings) -> dict:
    v4 = []
    if droplet.ipv4 and droplet.status != "new":
        net = settings.network
        v4.append(
            {
                "ip_address": droplet.ipv4,
                "netmask": str(net.network.netmask),
                "gateway": str(net.gateway),
                "type": "public",
            }
        )
    return {"v4": v4, "v6": []}


def droplet_view(droplet: Droplet, settings: Settings, locked: bool) -> dict:
    size = settings.size(droplet.size_slug) or SizeConfig(
        slug=droplet.size_slug,
        vcpus=droplet.vcpus,
        memory=droplet.memory,
        disk=droplet.disk,
        available=False,
    )
    return {
        "id": droplet.id,
        "name": droplet.name,
        "memory": droplet.memory,
        "vcpus": droplet.vcpus,
        "disk": droplet.disk,
        "disk_info": [
            {"type": "local", "size": {"amount": droplet.disk, "unit": "gib"}}
        ],
        "locked": locked,
        "status": droplet.status,
        "kernel": None,
        "created_at": timestamp(droplet.created_at),
        "features": [],
        "backup_ids": [],
        "next_backup_window": None,
        "snapshot_ids": [],
        "image": image_view(droplet.image, settings),
        "volume_ids": [],
        "size": size_view(size, settings.region),
        "size_slug": droplet.size_slug,
        "networks": _networks(droplet, settings),
        "region": region_view(settings),
        "tags": sorted(t.name for t in droplet.tags),
        "vpc_uuid": "",
    }


def action_view(action: Action, settings: Settings) -> dict:
    return {
        "id": action.id,
        "status": action.status,
        "type": action.type,
        "started_at": timestamp(action.started_at),
        "completed_at": timestamp(action.completed_at),
        "resource_id": action.resource_id,
        "resource_type": action.resource_type,
        "region": region_view(settings),
        "region_slug": action.region_slug,
    }


def key_view(key: SSHKey) -> dict:
    return {
        "id": key.id,
        "fingerprint": key.fingerprint,
        "public_key": key.public_key,
        "name": key.name,
    }
