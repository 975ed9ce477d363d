"""Tags: names that group droplets, made on first use or on request.

Names are case-stable, as DigitalOcean's are: the spelling a tag was first
made with is canonical, and asking for ``prod`` when ``PROD`` exists tags
with ``PROD``. Lookups by path (``/v2/tags/PROD``) use the canonical name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoal.control.errors import NotFound, Unprocessable
from shoal.control.ids import as_id
from shoal.control.models import Droplet, Tag, droplet_tags

# The spec's pattern and length for tag names (B06).
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_\-:]{1,255}$")

RESOURCE_TYPES = ("droplet", "image", "volume", "volume_snapshot")


@dataclass(frozen=True)
class Usage:
    """How many live droplets carry a tag, and which one got it last."""

    droplets: int
    last_droplet_id: int | None


@dataclass(frozen=True)
class Resource:
    resource_id: str
    resource_type: str


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise Unprocessable(
            f"Tag name {name[:300]!r} is invalid: use only letters, numbers, "
            "colons, dashes and underscores, at most 255 characters."
        )


def _canonical(session: Session, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(func.lower(Tag.name) == name.lower()))


def resolve_tags(session: Session, names: list[str]) -> list[Tag]:
    """The tags for these names, made where missing; each name once."""
    found: dict[str, Tag] = {}
    for name in names:
        check_name(name)
        if name.lower() in found:
            continue
        tag = _canonical(session, name)
        if tag is None:
            tag = Tag(name=name)
            session.add(tag)
            session.flush()
        found[name.lower()] = tag
    return list(found.values())


def create_tag(session: Session, name: str) -> Tag:
    # Creating a tag that exists answers with the existing one, as
    # DigitalOcean does, so scripts can create their tags unconditionally.
    (tag,) = resolve_tags(session, [name])
    return tag


def get_tag(session: Session, name: str) -> Tag:
    tag = session.get(Tag, name)
    if tag is None:
        raise NotFound(f"The tag {name[:300]!r} could not be found.")
    return tag


def list_tags(session: Session, offset: int, limit: int) -> tuple[list[Tag], int]:
    total = session.scalar(select(func.count()).select_from(Tag))
    page = session.scalars(select(Tag).order_by(Tag.name).offset(offset).limit(limit))
    return list(page), total


def delete_tag(session: Session, name: str) -> None:
    # The association rows go with it (ON DELETE CASCADE).
    session.delete(get_tag(session, name))
    session.flush()


def usage(session: Session, name: str) -> Usage:
    live = (
        select(droplet_tags.c.droplet_id, droplet_tags.c.tagged_at)
        .join(Droplet, Droplet.id == droplet_tags.c.droplet_id)
        .where(droplet_tags.c.tag_name == name, Droplet.deleted.is_(False))
    )
    count = session.scalar(select(func.count()).select_from(live.subquery()))
    last = session.scalar(
        live.with_only_columns(droplet_tags.c.droplet_id)
        .order_by(
            droplet_tags.c.tagged_at.desc().nulls_last(),
            droplet_tags.c.droplet_id.desc(),
        )
        .limit(1)
    )
    return Usage(droplets=count, last_droplet_id=last)


def tagged_droplets(session: Session, name: str) -> list[Droplet]:
    return list(
        session.scalars(
            select(Droplet)
            .where(Droplet.deleted.is_(False), Droplet.tags.any(Tag.name == name))
            .order_by(Droplet.id)
        )
    )


def _droplets_of(session: Session, resources: list[Resource]) -> list[Droplet]:
    found = []
    for resource in resources:
        if resource.resource_type not in RESOURCE_TYPES:
            raise Unprocessable(
                f"resource_type must be one of {', '.join(RESOURCE_TYPES)}."
            )
        if resource.resource_type != "droplet":
            raise Unprocessable(
                f"Shoal has no {resource.resource_type} resources to tag yet."
            )
        droplet_id = as_id(resource.resource_id)
        droplet = session.get(Droplet, droplet_id) if droplet_id else None
        if droplet is None or droplet.deleted:
            raise NotFound(f"Droplet {resource.resource_id[:40]} could not be found.")
        found.append(droplet)
    return found


def tag_resources(session: Session, name: str, resources: list[Resource]) -> None:
    tag = get_tag(session, name)
    for droplet in _droplets_of(session, resources):
        if tag not in droplet.tags:
            droplet.tags.append(tag)
    session.flush()


def untag_resources(session: Session, name: str, resources: list[Resource]) -> None:
    tag = get_tag(session, name)
    for droplet in _droplets_of(session, resources):
        if tag in droplet.tags:
            droplet.tags.remove(tag)
    session.flush()
