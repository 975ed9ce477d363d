"""The files of deleted images, removed once no droplet is built on them.

Every droplet's disk is a qcow2 overlay whose backing file is its image's
file, so deleting an image only marks it; the file stays as long as any
droplet row (a droplet being torn down included) names the image. The
engine sweeps after each pass; the sweep is cheap when there is nothing
to do (one query).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from shoal.control.db import Database
from shoal.control.models import Droplet, Image

log = logging.getLogger(__name__)


def unused_deleted(session: Session) -> list[Image]:
    """Deleted images that still have a file and back no droplet."""
    backs_a_droplet = exists().where(Droplet.image_id == Image.id)
    return list(
        session.scalars(
            select(Image).where(
                Image.status == "deleted",
                Image.public.is_(False),
                Image.path != "",
                ~backs_a_droplet,
            )
        )
    )


def sweep(db: Database) -> list[int]:
    """Remove the files of deleted images nothing uses; their image ids."""
    with db.transaction() as session:
        images = unused_deleted(session)
        for image in images:
            _remove(image)
            image.path = ""
        return [image.id for image in images]


def _remove(image: Image) -> None:
    # The row forgets the file in the same transaction; if that rolls back,
    # the next sweep finds the file gone and writes it again.
    Path(image.path).unlink(missing_ok=True)
    log.info("image file removed image_id=%s path=%s", image.id, image.path)
