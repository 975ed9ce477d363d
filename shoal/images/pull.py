"""Distribution images from upstream, fetched once per host.

A pull downloads the catalogue entry's file (resumably, into a partial
file beside the store), checks its digest, converts it through the same
importer as custom images and keeps the qcow2 under a name keyed by the
digest. A second pull of the same entry finds the file and does nothing;
two pulls at once wait for each other (``cache.cached``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from shoal.images import capture
from shoal.images.cache import cached
from shoal.images.distributions import Distribution
from shoal.images.download import Progress, download, verify
from shoal.images.importer import import_disk
from shoal.images.limits import ImageLimits

log = logging.getLogger(__name__)


def stored_path(distribution: Distribution, store: Path) -> Path:
    return store / distribution.stored_name


def is_stored(distribution: Distribution, store: Path) -> bool:
    return stored_path(distribution, store).is_file()


def pull(
    distribution: Distribution,
    store: Path,
    limits: ImageLimits,
    progress: Progress | None = None,
) -> Path:
    """The entry's qcow2 in ``store``, fetched first if it is not there."""
    capture.ensure_dir(store)
    return cached(
        stored_path(distribution, store),
        lambda work: _fetch(distribution, work, limits, progress),
    )


def _fetch(
    distribution: Distribution,
    work: Path,
    limits: ImageLimits,
    progress: Progress | None,
) -> Path:
    started = time.monotonic()
    # Beside the store, not in the work dir: a pull that was killed leaves
    # it for the next pull to resume, and the digest checks the splice.
    partial = work.parent / f".{distribution.stored_name}.part"
    download(distribution.url, partial, limits, progress)

    try:
        verify(partial, distribution.checksum)
        image = import_disk(partial, work / "image.qcow2", limits)
    finally:
        partial.unlink(missing_ok=True)

    log.info(
        "distribution pulled slug=%s url=%s seconds=%.1f",
        distribution.slug,
        distribution.url,
        time.monotonic() - started,
    )
    return image.path
