"""Image actions: ``transfer`` to another region, ``convert`` a backup.

Both are true the moment they are recorded, so they are recorded
completed. Shoal has one region: a transfer to it has nothing to copy,
and one to any other region is refused, as DigitalOcean refuses an
unknown region. A convert turns a backup into a snapshot, which keeps it
past the backup retention and makes it deletable on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from shoal.control import actions
from shoal.control.config import Settings
from shoal.control.errors import Unprocessable
from shoal.control.images import get_image
from shoal.control.models import Action, Image

log = logging.getLogger(__name__)

TYPES = ("convert", "transfer")


@dataclass
class ImageActionRequest:
    type: str
    region: str | None = None


def request_image_action(
    session: Session, settings: Settings, ref: str | int, request: ImageActionRequest
) -> Action:
    image = get_image(session, ref)
    if request.type not in TYPES:
        raise Unprocessable("type must be one of: convert, transfer.")
    if image.status != "available":
        raise Unprocessable(f"Image {image.id} is not available ({image.status}).")

    if request.type == "transfer":
        action = _transfer(session, settings, image, request.region)
    else:
        action = _convert(session, settings, image)

    log.info(
        "image action done image_id=%s type=%s action_id=%s",
        image.id,
        action.type,
        action.id,
    )
    return action


def _transfer(
    session: Session, settings: Settings, image: Image, region: str | None
) -> Action:
    if not region:
        raise Unprocessable("region is required for a transfer.")
    if region != settings.region.slug:
        raise Unprocessable(
            f"You specified an invalid region: this cloud's only region is "
            f"{settings.region.slug}."
        )

    # The image is in the region already: nothing to copy.
    action = actions.record_image(session, image, region, "transfer", region=region)
    actions.finish(action)
    return action


def _convert(session: Session, settings: Settings, image: Image) -> Action:
    if image.type != "backup":
        raise Unprocessable("Only backups can be converted to snapshots.")

    action = actions.record_image(session, image, settings.region.slug, "convert")
    image.type = "snapshot"
    actions.finish(action)
    return action
