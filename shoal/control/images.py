"""Image records as the account sees them: find, list, rename, delete.

The files behind them belong to ``shoal.images``; a deleted image is only
hidden here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoal.control.errors import NotFound, Unprocessable
from shoal.control.ids import as_id
from shoal.control.models import Droplet, Image

# The spec's enum; DigitalOcean shows anything else as "Unknown".
DISTRIBUTIONS = (
    "Arch Linux",
    "CentOS",
    "CoreOS",
    "Debian",
    "Fedora",
    "Fedora Atomic",
    "FreeBSD",
    "Gentoo",
    "openSUSE",
    "RancherOS",
    "Rocky Linux",
    "Ubuntu",
    "Unknown",
)


@dataclass
class ImageUpdate:
    name: str | None = None
    description: str | None = None
    distribution: str | None = None


def find_image(session: Session, ref: str | int) -> Image | None:
    image_id = as_id(ref)
    if image_id is not None:
        return session.get(Image, image_id)
    return session.scalar(select(Image).where(Image.slug == str(ref)))


def get_image(session: Session, ref: str | int) -> Image:
    image = find_image(session, ref)
    if image is None or image.status == "deleted":
        raise NotFound("The image you were accessing could not be found.")
    return image


def list_images(
    session: Session,
    offset: int,
    limit: int,
    kind: str | None = None,
    private: bool = False,
) -> tuple[list[Image], int]:
    query = select(Image).where(Image.status != "deleted")
    if kind == "distribution":
        query = query.where(Image.type == "base", Image.public.is_(True))
    elif kind == "application":
        query = query.where(Image.type == "application")
    if private:
        query = query.where(Image.public.is_(False))

    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = session.scalars(query.order_by(Image.id).offset(offset).limit(limit))
    return list(page), total


def update_image(session: Session, ref: str | int, change: ImageUpdate) -> Image:
    image = get_image(session, ref)
    if change.distribution is not None and change.distribution not in DISTRIBUTIONS:
        raise Unprocessable(f"distribution must be one of: {', '.join(DISTRIBUTIONS)}.")

    for field in ("name", "description", "distribution"):
        value = getattr(change, field)
        if value is not None:
            setattr(image, field, value)
    session.flush()
    return image


def delete_image(session: Session, ref: str | int) -> None:
    image = get_image(session, ref)
    if image.public:
        raise Unprocessable("Public images cannot be deleted.")

    # Droplet disks are copy-on-write overlays of their image, so the image
    # must outlive every droplet built from it, deleted ones included until
    # the engine has removed their disks (and their rows).
    users = session.scalars(
        select(Droplet.id).where(Droplet.image_id == image.id).order_by(Droplet.id)
    ).all()
    if users:
        raise Unprocessable(
            f"Image {image.id} is still the base of droplet(s) "
            f"{', '.join(map(str, users))}; delete those first."
        )
    image.status = "deleted"
    session.flush()
