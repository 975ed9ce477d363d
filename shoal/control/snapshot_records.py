"""``/v2/snapshots``: droplet snapshots as records, listed, read, deleted.

Snapshots are images of type ``snapshot`` taken from a droplet (the
droplet actions make them). Shoal has no volumes, so it has no volume
snapshots: the volume filter lists none and a volume snapshot's id (a
UUID) names nothing.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoal.control.errors import BadRequest, NotFound, Unprocessable
from shoal.control.ids import as_id
from shoal.control.images import delete_image, is_visible
from shoal.control.models import Image

RESOURCE_TYPES = ("droplet", "volume")


def list_snapshots(
    session: Session, offset: int, limit: int, resource_type: str | None = None
) -> tuple[list[Image], int]:
    if resource_type is not None and resource_type not in RESOURCE_TYPES:
        raise Unprocessable("resource_type must be droplet or volume.")
    if resource_type == "volume":
        return [], 0

    query = select(Image).where(Image.type == "snapshot", Image.status != "deleted")
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = session.scalars(query.order_by(Image.id).offset(offset).limit(limit))
    return list(page), total


def get_snapshot(session: Session, ref: str) -> Image:
    image_id = as_id(ref)
    image = session.get(Image, image_id) if image_id is not None else None
    if image is None or not is_visible(image):
        raise NotFound("The snapshot you were accessing could not be found.")
    if image.type != "snapshot":
        raise BadRequest("the resource is not a snapshot")
    return image


def delete_snapshot(session: Session, ref: str) -> None:
    """Delete as an image is deleted: hidden now, the file once unused."""
    delete_image(session, get_snapshot(session, ref).id)
