"""Custom images: ``POST /v2/images`` and ``shoal image import``, made real.

A request records the image (type ``custom``, private, status ``NEW``)
and its ``import`` action in one transaction. The engine's handler
downloads the URL into a work dir beside the store, hands the file to the
importer (``shoal.images.importer``: format probed, safety rules, qcow2)
and writes the outcome: status ``available`` with the image's sizes, or,
as DigitalOcean shows a failed import, status ``deleted`` with an
``error_message`` (the image stays readable by id until it is deleted)
and the action ``errored``. A local file takes the same path without the
download.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from shoal.control import actions
from shoal.control.config import Settings
from shoal.control.db import Database
from shoal.control.errors import Unprocessable
from shoal.control.images import DISTRIBUTIONS
from shoal.control.models import Action, Image
from shoal.control.tags import resolve_tags
from shoal.images import capture
from shoal.images.download import download
from shoal.images.errors import ImageError
from shoal.images.importer import ImportedImage, import_disk

log = logging.getLogger(__name__)

IMPORT = "import"
URL_SCHEMES = ("http://", "https://")
URL_MAX = 2048
GiB = 1 << 30


@dataclass
class CustomImageRequest:
    name: str
    url: str
    region: str | None
    distribution: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)


def create_custom_image(
    session: Session, settings: Settings, request: CustomImageRequest
) -> tuple[Image, Action]:
    """Record the image and its ``import`` action; the engine does the rest."""
    _check_region(settings, request.region)
    _check_url(request.url)

    image = _new_image(session, request)
    action = actions.record_image(
        session, image, settings.region.slug, IMPORT, url=request.url
    )
    return image, action


def _check_region(settings: Settings, region: str | None) -> None:
    if region is None:
        raise Unprocessable("region is required: the slug of the image's region.")
    if region != settings.region.slug:
        raise Unprocessable("You specified an invalid region for the image.")


def _check_url(url: str) -> None:
    if not url.startswith(URL_SCHEMES) or len(url) > URL_MAX:
        raise Unprocessable("url must be an http or https URL of the image.")


def _new_image(session: Session, request: CustomImageRequest) -> Image:
    # DigitalOcean shows a distribution it does not list as "Unknown".
    distribution = request.distribution
    if distribution not in DISTRIBUTIONS:
        distribution = "Unknown"

    image = Image(
        name=request.name,
        type="custom",
        public=False,
        status="NEW",
        path="",
        slug=None,
        distribution=distribution,
        description=request.description or "",
        tags=resolve_tags(session, request.tags),
    )
    session.add(image)
    session.flush()
    return image


class ImageImporter:
    """Runs imports: the engine's handler for ``import`` actions, and the
    command line's import of a local file."""

    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.settings = settings
        self.limits = settings.images.limits()

    def __call__(self, action: Action) -> None:
        url = action.params["url"]
        self.run(
            action.id,
            action.resource_id,
            lambda work: self._download(url, work),
        )
        log.info("image import finished image_id=%s url=%s", action.resource_id, url)

    def import_file(self, source: Path, request: CustomImageRequest) -> int:
        """Import a file on this host as a custom image; returns its id.

        Raises what the importer raised, with the image marked failed and
        its action errored, as for an import from a URL.
        """
        with self.db.transaction() as session:
            image = _new_image(session, request)
            action = actions.record_image(
                session, image, self.settings.region.slug, IMPORT, file=str(source)
            )
            image_id, action_id = image.id, action.id

        try:
            self.run(action_id, image_id, lambda work: source)
        except Exception as exc:
            self._finish_action(action_id, _user_message(exc))
            raise
        return image_id

    def run(
        self, action_id: int, image_id: int, obtain: Callable[[Path], Path]
    ) -> None:
        """Import the file ``obtain(work_dir)`` gives as image ``image_id``.

        On success the action is completed with the image; on failure the
        image is marked failed and the error travels on for the caller to
        mark the action (the engine does that for its handlers).
        """
        work = self._fresh_work_dir(image_id)
        try:
            imported = import_disk(obtain(work), self.target(image_id), self.limits)
        except BaseException as exc:
            self._mark_failed(image_id, exc)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

        self._complete(action_id, image_id, imported)

    def target(self, image_id: int) -> Path:
        return self.settings.custom_image_dir / f"custom-{image_id}.qcow2"

    def _fresh_work_dir(self, image_id: int) -> Path:
        # An import cut short by a crash runs again from the start.
        store = capture.ensure_dir(self.settings.custom_image_dir)
        work = store / f".import-{image_id}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(mode=0o700)
        return work

    def _download(self, url: str, work: Path) -> Path:
        target = work / "download"
        download(url, target, self.limits)
        return target

    def _complete(self, action_id: int, image_id: int, imported: ImportedImage) -> None:
        with self.db.transaction() as session:
            image = session.get(Image, image_id)
            image.path = str(imported.path)
            image.size_gigabytes = capture.size_gigabytes(imported.path)
            image.min_disk_size = max(1, math.ceil(imported.virtual_size / GiB))
            # Deleted while it was imported: the sweep removes the file.
            if image.deleted_at is None:
                image.status = "available"
            actions.finish(session.get(Action, action_id))

    def _mark_failed(self, image_id: int, exc: BaseException) -> None:
        message = _user_message(exc)
        if not isinstance(exc, ImageError):
            log.error("image import failed image_id=%s", image_id, exc_info=exc)
        else:
            log.warning("image import refused image_id=%s error=%s", image_id, exc)

        with self.db.transaction() as session:
            image = session.get(Image, image_id)
            image.status = "deleted"
            image.error_message = message

    def _finish_action(self, action_id: int, error: str) -> None:
        with self.db.transaction() as session:
            actions.finish(session.get(Action, action_id), error)


def _user_message(exc: BaseException) -> str:
    # The importer's messages are written for the user and name no host
    # path; anything else is Shoal's own failure, told in the log.
    if isinstance(exc, ImageError):
        return str(exc)
    return "The image could not be imported because of an internal error."
