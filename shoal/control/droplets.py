"""Droplets as records: create (with their create action), read, delete.

Requests arrive here validated in shape by the API; what needs the
database or the operator's catalogue (sizes, regions, images, keys) is
checked here, before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoal.control import actions
from shoal.control.config import Settings, SizeConfig
from shoal.control.errors import NotFound, Unprocessable
from shoal.control.images import find_image
from shoal.control.keys import find_key
from shoal.control.models import Action, Droplet, Image, Tag
from shoal.control.tags import get_tag, resolve_tags, tagged_droplets

# The spec's droplet name: hostname characters, ending in a letter or digit.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$")
NAME_MAX = 255


@dataclass
class DropletRequest:
    names: list[str]
    size: str
    image: str | int
    region: str | None = None
    ssh_keys: list[str | int] = field(default_factory=list)
    user_data: str | None = None
    tags: list[str] = field(default_factory=list)


def _resolve_size(settings: Settings, slug: str) -> SizeConfig:
    size = settings.size(slug)
    if size is None or not size.available:
        raise Unprocessable("You specified an invalid size for Droplet creation.")
    return size


def _resolve_region(settings: Settings, slug: str | None) -> str:
    # godo sends "" and python-digitalocean sends [] when no region was chosen;
    # the API layer folds both into None. DigitalOcean then picks one for you.
    if slug is None or slug == settings.region.slug:
        return settings.region.slug
    raise Unprocessable("You specified an invalid region for Droplet creation.")


def _resolve_image(session: Session, ref: str | int, size: SizeConfig) -> Image:
    image = find_image(session, ref)
    if image is None or image.status != "available":
        raise Unprocessable("You specified an invalid image for Droplet creation.")
    if image.min_disk_size > size.disk:
        raise Unprocessable(
            f"The image needs a disk of at least {image.min_disk_size} GB; "
            f"size {size.slug} has {size.disk} GB."
        )
    return image


def _resolve_keys(session: Session, refs: list[str | int]) -> list[str]:
    keys = []
    for ref in refs:
        try:
            keys.append(find_key(session, ref).public_key)
        except NotFound:
            raise Unprocessable(f"You specified an invalid SSH key: {ref}.") from None
    return keys


def _check_limit(session: Session, settings: Settings, wanted: int) -> None:
    count = session.scalar(
        select(func.count()).select_from(Droplet).where(Droplet.deleted.is_(False))
    )
    if count + wanted > settings.droplet_limit:
        raise Unprocessable(
            "creating this/these droplet(s) will exceed your droplet limit"
        )


def create_droplets(
    session: Session, settings: Settings, request: DropletRequest
) -> list[tuple[Droplet, Action]]:
    """Record new droplets, status ``new``, each with its ``create`` action."""
    size = _resolve_size(settings, request.size)
    region = _resolve_region(settings, request.region)
    image = _resolve_image(session, request.image, size)
    public_keys = _resolve_keys(session, request.ssh_keys)
    tags = resolve_tags(session, request.tags)
    _check_limit(session, settings, len(request.names))

    created = []
    for name in request.names:
        droplet = Droplet(
            name=name,
            size_slug=size.slug,
            region_slug=region,
            image=image,
            memory=size.memory,
            vcpus=size.vcpus,
            disk=size.disk,
            user_data=request.user_data,
            public_keys=public_keys,
            tags=tags,
        )
        session.add(droplet)
        session.flush()
        created.append((droplet, actions.record(session, droplet, "create")))
    return created


def get_droplet(session: Session, droplet_id: int) -> Droplet:
    droplet = session.get(Droplet, droplet_id)
    if droplet is None or droplet.deleted:
        raise NotFound("The resource you were accessing could not be found.")
    return droplet


def images_taken(droplet: Droplet, kind: str) -> list[Image]:
    """The droplet's live snapshots (``kind="snapshot"``) or backups."""
    return [i for i in droplet.taken_images if i.type == kind and i.status != "deleted"]


def is_hostname(name: str) -> bool:
    return len(name) <= NAME_MAX and bool(NAME_PATTERN.match(name))


def list_droplets(
    session: Session,
    offset: int,
    limit: int,
    tag_name: str | None = None,
    name: str | None = None,
    gpus: bool = False,
) -> tuple[list[Droplet], int]:
    # Shoal's sizes have no GPUs, so the GPU list is always empty.
    if gpus:
        return [], 0

    query = select(Droplet).where(Droplet.deleted.is_(False))
    if tag_name is not None:
        query = query.where(Droplet.tags.any(Tag.name == tag_name))
    if name is not None:
        query = query.where(func.lower(Droplet.name) == name.lower())

    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = session.scalars(query.order_by(Droplet.id).offset(offset).limit(limit))
    return list(page), total


def delete_droplet(session: Session, droplet_id: int) -> Action:
    """Hide the droplet at once and leave its teardown to the engine."""
    droplet = get_droplet(session, droplet_id)
    droplet.deleted = True
    return actions.record(session, droplet, "destroy")


def delete_by_tag(session: Session, tag_name: str) -> list[Action]:
    """Delete every droplet carrying the tag, each as a single DELETE would."""
    get_tag(session, tag_name)
    return [delete_droplet(session, d.id) for d in tagged_droplets(session, tag_name)]


def neighbors(session: Session, droplet: Droplet) -> list[Droplet]:
    """The other live droplets on the same hypervisor host."""
    if droplet.host is None:
        return []
    return list(
        session.scalars(
            select(Droplet)
            .where(
                Droplet.deleted.is_(False),
                Droplet.host == droplet.host,
                Droplet.id != droplet.id,
            )
            .order_by(Droplet.id)
        )
    )


def neighbor_ids(session: Session) -> list[list[int]]:
    """Ids of live droplets grouped by host, for hosts with more than one."""
    rows = session.execute(
        select(Droplet.host, Droplet.id)
        .where(Droplet.deleted.is_(False), Droplet.host.is_not(None))
        .order_by(Droplet.host, Droplet.id)
    )
    groups: dict[str, list[int]] = {}
    for host, droplet_id in rows:
        groups.setdefault(host, []).append(droplet_id)
    return [ids for ids in groups.values() if len(ids) > 1]
