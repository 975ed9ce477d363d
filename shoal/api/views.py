"""DigitalOcean's JSON objects, rendered from Shoal's records."""

from __future__ import annotations

from datetime import datetime

from shoal.control import backups, droplet_actions
from shoal.control.config import RegionConfig, Settings, SizeConfig
from shoal.control.droplets import images_taken
from shoal.control.models import Action, Droplet, Image, SSHKey, Tag
from shoal.control.tags import Usage


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
        "tags": sorted(t.name for t in image.tags),
        "status": image.status,
        "error_message": image.error_message,
    }


def _networks(droplet: Droplet, settings: Settings) -> dict:
    v4 = []
    if droplet.ipv4 and droplet.status != "new":
        netmask, gateway = settings.network.spelled
        v4.append(
            {
                "ip_address": droplet.ipv4,
                "netmask": netmask,
                "gateway": gateway,
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
        "features": ["backups"] if droplet.backups_enabled else [],
        "backup_ids": [i.id for i in images_taken(droplet, "backup")],
        "next_backup_window": _window_view(droplet),
        "snapshot_ids": [i.id for i in images_taken(droplet, "snapshot")],
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


def droplet_snapshot_view(image: Image, settings: Settings) -> dict:
    return {
        "id": image.id,
        "name": image.name,
        "created_at": timestamp(image.created_at),
        "regions": [settings.region.slug],
        "min_disk_size": image.min_disk_size,
        "size_gigabytes": image.size_gigabytes,
        "type": image.type,
    }


def snapshot_view(image: Image, settings: Settings) -> dict:
    """A droplet snapshot as /v2/snapshots shows it: ids as strings."""
    return {
        "id": str(image.id),
        "name": image.name,
        "created_at": timestamp(image.created_at),
        "regions": [settings.region.slug],
        "min_disk_size": image.min_disk_size,
        "size_gigabytes": image.size_gigabytes,
        "resource_id": str(image.droplet_id) if image.droplet_id else "",
        "resource_type": "droplet",
        "tags": sorted(t.name for t in image.tags),
    }


def _window_view(droplet: Droplet) -> dict | None:
    window = backups.window_of(droplet)
    if window is None:
        return None
    return {"start": timestamp(window["start"]), "end": timestamp(window["end"])}


def backup_policy_view(droplet: Droplet) -> dict:
    view = {
        "droplet_id": droplet.id,
        "backup_enabled": droplet.backups_enabled,
        "next_backup_window": _window_view(droplet),
    }
    if droplet.backup_policy is not None:
        view["backup_policy"] = backups.full_policy(droplet.backup_policy)
    return view


def supported_backup_policies() -> list[dict]:
    return [
        {
            "name": plan,
            "possible_window_starts": list(droplet_actions.BACKUP_HOURS),
            "window_length_hours": droplet_actions.BACKUP_WINDOW_HOURS,
            "retention_period_days": days,
            "possible_days": (
                list(droplet_actions.BACKUP_WEEKDAYS) if plan == "weekly" else []
            ),
        }
        for plan, days in droplet_actions.BACKUP_PLANS.items()
    ]


def _tagged(count: int, uri: str | None) -> dict:
    return {"count": count, "last_tagged_uri": uri} if uri else {"count": count}


def tag_view(tag: Tag, usage: Usage, base: str) -> dict:
    uri = None
    if usage.last_droplet_id is not None:
        uri = f"{base}/v2/droplets/{usage.last_droplet_id}"
    empty = {"count": 0}
    return {
        "name": tag.name,
        "resources": {
            **_tagged(usage.droplets, uri),
            "droplets": _tagged(usage.droplets, uri),
            "images": empty,
            "volumes": empty,
            "volume_snapshots": empty,
            "databases": empty,
        },
    }
