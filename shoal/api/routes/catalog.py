"""/v2/sizes, /v2/regions and /v2/images: what droplets are made from."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.pagination import Page, page_params
from shoal.api.routing import SlashRouter
from shoal.api.views import image_view, region_view, size_view
from shoal.control.config import Settings
from shoal.control.droplets import find_image
from shoal.control.errors import NotFound
from shoal.control.models import Image

router = SlashRouter(prefix="/v2", dependencies=[Auth])


@router.get("/sizes")
def list_sizes(
    page: Page = Depends(page_params), settings: Settings = Depends(settings_of)
):
    sizes = [size_view(s, settings.region) for s in settings.sizes]
    return page.envelope(
        "sizes", sizes[page.offset : page.offset + page.size], len(sizes)
    )


@router.get("/regions")
def list_regions(
    page: Page = Depends(page_params), settings: Settings = Depends(settings_of)
):
    regions = [region_view(settings)]
    return page.envelope("regions", regions[page.offset : page.offset + page.size], 1)


@router.get("/images")
def list_images(
    type: str | None = None,
    private: bool | None = None,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    query = select(Image).where(Image.status != "deleted")
    if type == "distribution":
        query = query.where(Image.type == "base", Image.public.is_(True))
    elif type == "application":
        query = query.where(Image.type == "application")
    if private:
        query = query.where(Image.public.is_(False))

    total = session.scalar(select(func.count()).select_from(query.subquery()))
    found = session.scalars(
        query.order_by(Image.id).offset(page.offset).limit(page.size)
    )
    return page.envelope("images", [image_view(i, settings) for i in found], total)


@router.get("/images/{image_ref}")
def get_image(
    image_ref: str, session: Session = Db, settings: Settings = Depends(settings_of)
):
    image = find_image(session, image_ref)
    if image is None or image.status == "deleted":
        raise NotFound("The image you were accessing could not be found.")
    return {"image": image_view(image, settings)}
