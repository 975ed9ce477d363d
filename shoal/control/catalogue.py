"""Distribution images Shoal has on disk, registered under DigitalOcean slugs."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.control.models import Image

log = logging.getLogger(__name__)

# What DigitalOcean calls the images Shoal can build or fetch.
KNOWN = {
    "debian-12-x64": {"name": "12 x64", "distribution": "Debian", "min_disk_size": 10},
}


def register_image(session: Session, slug: str, path: Path) -> Image:
    """Point the slug at the file; re-registering replaces the file."""
    facts = KNOWN.get(
        slug, {"name": slug, "distribution": "Unknown", "min_disk_size": 0}
    )
    image = session.scalar(select(Image).where(Image.slug == slug))
    if image is None:
        image = Image(slug=slug, type="base", public=True)
        session.add(image)
    image.name = facts["name"]
    image.distribution = facts["distribution"]
    image.min_disk_size = facts["min_disk_size"]
    image.path = str(path)
    image.status = "available"
    image.size_gigabytes = round(path.stat().st_size / 1024**3, 2)
    image.min_disk_size = max(image.min_disk_size, math.ceil(image.size_gigabytes))
    session.flush()
    log.info("image registered slug=%s id=%s path=%s", slug, image.id, path)
    return image
