"""Distribution images under DigitalOcean slugs: built here or fetched.

Every slug of the catalogue (``shoal.images.distributions``) has a row from
the start (``sync_catalogue``), public and available, as DigitalOcean lists
its distributions; its file is fetched on first use (``ensure_local``) or
by ``shoal image pull``. Images Shoal builds itself (``shoal image build``)
register under the same slugs, so an offline host uses those instead.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.control.config import Settings
from shoal.control.db import Database
from shoal.control.images import DISTRIBUTIONS
from shoal.control.models import Image
from shoal.images import pull, qcow2_header, sniff
from shoal.images.distributions import Distribution, load_catalogue
from shoal.images.download import Progress
from shoal.images.errors import UnknownImage

log = logging.getLogger(__name__)

# What DigitalOcean calls the images Shoal can build or fetch.
KNOWN = {
    "debian-12-x64": {"name": "12 x64", "distribution": "Debian", "min_disk_size": 10},
    # The same Debian whose cloud-init knows only the DigitalOcean datasource:
    # its droplets get no seed ISO and configure themselves from the metadata
    # service alone, as images that list ConfigDrive/DigitalOcean first do.
    "debian-12-x64-do": {
        "name": "12 x64 (metadata service only)",
        "distribution": "Debian",
        "min_disk_size": 10,
        "metadata_service_only": True,
    },
}


def catalogue_of(settings: Settings) -> dict[str, Distribution]:
    """The built-in catalogue with the operator's entries over it."""
    return load_catalogue(settings.images.catalogue)


def _facts(slug: str, catalogue: dict[str, Distribution] | None) -> dict:
    if slug in KNOWN:
        return KNOWN[slug]

    entry = (catalogue if catalogue is not None else load_catalogue()).get(slug)
    if entry is None:
        return {"name": slug, "distribution": "Unknown", "min_disk_size": 0}
    return {
        "name": entry.name,
        # DigitalOcean shows a distribution it does not list as "Unknown".
        "distribution": entry.distribution
        if entry.distribution in DISTRIBUTIONS
        else "Unknown",
        "min_disk_size": entry.min_disk_size,
    }


def register_image(
    session: Session,
    slug: str,
    path: Path,
    catalogue: dict[str, Distribution] | None = None,
) -> Image:
    """Point the slug at the file; re-registering replaces the file."""
    facts = _facts(slug, catalogue)
    image = session.scalar(select(Image).where(Image.slug == slug))
    if image is None:
        image = Image(slug=slug, type="base", public=True)
        session.add(image)
    image.name = facts["name"]
    image.distribution = facts["distribution"]
    image.min_disk_size = facts["min_disk_size"]
    image.metadata_service_only = facts.get("metadata_service_only", False)
    image.path = str(path)
    image.status = "available"
    image.size_gigabytes = round(path.stat().st_size / 1024**3, 2)
    image.min_disk_size = max(
        image.min_disk_size,
        math.ceil(image.size_gigabytes),
        math.ceil(_virtual_size(path) / 1024**3),
    )
    session.flush()
    log.info("image registered slug=%s id=%s path=%s", slug, image.id, path)
    return image


def _virtual_size(path: Path) -> int:
    # A droplet's disk cannot be smaller than its image's disk: the overlay
    # would be refused. Shoal's stored images are qcow2; 0 for anything else.
    head = sniff.read_head(path, 4096)
    if not head.startswith(qcow2_header.MAGIC):
        return 0
    return qcow2_header.parse(head).virtual_size


def sync_catalogue(session: Session, catalogue: dict[str, Distribution]) -> int:
    """Give every catalogue slug without a row one, its file not fetched yet."""
    known = set(session.scalars(select(Image.slug).where(Image.slug.is_not(None))))
    added = 0
    for slug in catalogue.keys() - known:
        facts = _facts(slug, catalogue)
        session.add(
            Image(
                slug=slug,
                type="base",
                public=True,
                status="available",
                path="",
                name=facts["name"],
                distribution=facts["distribution"],
                min_disk_size=facts["min_disk_size"],
            )
        )
        added += 1
    session.flush()
    return added


def ensure_local(
    db: Database, settings: Settings, image_id: int, progress: Progress | None = None
) -> str:
    """The path of the image's file on this host, fetching it on first use.

    Raises ``UnknownImage`` when the file is missing and the catalogue has
    no entry to fetch it from, and the fetcher's errors when the fetch
    fails; the image row is left as it was.
    """
    with db.transaction() as session:
        image = session.get(Image, image_id)
        path, slug = image.path, image.slug
    if path and Path(path).is_file():
        return path

    catalogue = catalogue_of(settings)
    if slug not in catalogue:
        raise UnknownImage(
            f"The file of image {image_id} is missing on this host and no "
            "catalogue entry says where to fetch it."
        )

    stored = pull.pull(
        catalogue[slug], settings.image_cache_dir, settings.images.limits(), progress
    )
    with db.transaction() as session:
        register_image(session, slug, stored, catalogue)
    return str(stored)
