"""Image records as the account sees them: find, list, rename, delete.

The files behind them belong to ``shoal.images``. A deleted image is
hidden here at once; its file goes when no droplet's disk is backed by it
any more (``image_files.sweep``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoal.control.errors import NotFound, Unprocessable
from shoal.control.ids import as_id
from shoal.control.models import Image, Tag, utcnow

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
    if image is None or not is_visible(image):
        raise NotFound("The image you were accessing could not be found.")
    return image


def is_visible(image: Image) -> bool:
    """Live images, and failed imports nobody has deleted yet.

    DigitalOcean shows an import that failed as status ``deleted`` with its
    ``error_message``, so clients polling for ``available`` learn why.
    """
    if image.deleted_at is not None:
        return False
    return image.status != "deleted" or bool(image.error_message)


def list_images(
    session: Session,
    offset: int,
    limit: int,
    kind: str | None = None,
    private: bool = False,
    tag_name: str | None = None,
) -> tuple[list[Image], int]:
    query = select(Image).where(Image.status != "deleted")
    if tag_name is not None:
        query = query.where(Image.tags.any(Tag.name == tag_name))
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


def delete_image(session: Session, ref: str | int) -> Image:
    """Hide the image at once; its file stays while droplets are built on it.

    Droplet disks are copy-on-write overlays of their image, so the file
    must outlive every droplet built from it, deleted ones included until
    the engine has removed their disks (and their rows).
    """
    image = get_image(session, ref)
    if image.public:
        raise Unprocessable("Public images cannot be deleted.")

    image.status = "deleted"
    image.deleted_at = utcnow()
    session.flush()
    return image
