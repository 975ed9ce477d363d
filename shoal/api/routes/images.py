"""/v2/images: list, get by id or slug, import, rename and describe, delete;
and the image actions."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.ids import path_id
from shoal.api.pagination import Page, page_params
from shoal.api.routes.droplets import no_content
from shoal.api.routing import SlashRouter
from shoal.api.schemas import CustomImageCreate, ImageAction, ImageUpdate
from shoal.api.views import action_view, image_view
from shoal.control import actions, image_actions, image_import, images
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

    found, total = images.list_images(
        session, page.offset, page.size, kind=type, private=private, tag_name=tag_name
    )
    return page.envelope("images", [image_view(i, settings) for i in found], total)


@router.post("", status_code=202)
def create_custom_image(
    body: CustomImageCreate,
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    request = image_import.CustomImageRequest(
        name=body.name,
        url=body.url,
        region=body.region,
        distribution=body.distribution,
        description=body.description,
        tags=body.tags or [],
    )
    image, _ = image_import.create_custom_image(session, settings, request)
    session.info["wake_engine"] = True
    return {"image": image_view(image, settings)}


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


@router.get("/{image_id}/actions")
def list_image_actions(
    image_id: str,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    image = images.get_image(session, path_id(image_id))
    found, total = actions.list_resource_actions(
        session, "image", image.id, page.offset, page.size
    )
    return page.envelope("actions", [action_view(a, settings) for a in found], total)


@router.post("/{image_id}/actions", status_code=201)
def post_image_action(
    image_id: str,
    body: ImageAction,
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    request = image_actions.ImageActionRequest(type=body.type, region=body.region)
    action = image_actions.request_image_action(
        session, settings, path_id(image_id), request
    )
    return {"action": action_view(action, settings)}


@router.get("/{image_id}/actions/{action_id}")
def get_image_action(
    image_id: str,
    action_id: str,
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    image = images.get_image(session, path_id(image_id))
    action = actions.get_resource_action(session, path_id(action_id), "image", image.id)
    return {"action": action_view(action, settings)}
