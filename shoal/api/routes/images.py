"""/v2/images: list, get by id or slug, rename and describe, delete."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.pagination import Page, page_params
from shoal.api.routes.droplets import no_content
from shoal.api.routing import SlashRouter
from shoal.api.schemas import ImageUpdate
from shoal.api.views import image_view
from shoal.control import images
from shoal.control.config import Settings
from shoal.control.errors import Unprocessable

router = SlashRouter(prefix="/v2/images", dependencies=[Auth])

KINDS = ("distribution", "application")


@router.get("")
def list_images(
    type: str | None = None,
    private: bool = False,
    tag_name: str | None = None,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    if type is not None and type not in KINDS:
        raise Unprocessable("type must be distribution or application.")
    # Images carry no tags in Shoal, so a tag filter matches none.
    if tag_name is not None:
        return page.envelope("images", [], 0)

    found, total = images.list_images(
        session, page.offset, page.size, kind=type, private=private
    )
    return page.envelope("images", [image_view(i, settings) for i in found], total)


@router.get("/{image_ref}")
def get_image(
    image_ref: str, session: Session = Db, settings: Settings = Depends(settings_of)
):
    return {"image": image_view(images.get_image(session, image_ref), settings)}


@router.put("/{image_ref}")
def update_image(
    image_ref: str,
    body: ImageUpdate,
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    change = images.ImageUpdate(**body.model_dump())
    return {
        "image": image_view(images.update_image(session, image_ref, change), settings)
    }


@router.delete("/{image_ref}", status_code=204)
def delete_image(image_ref: str, session: Session = Db):
    images.delete_image(session, image_ref)
    return no_content()
