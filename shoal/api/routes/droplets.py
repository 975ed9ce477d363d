"""/v2/droplets: list, create, get and delete, one by one or by tag."""

from __future__ import annotations

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import base_url, settings_of
from shoal.api.ids import path_id
from shoal.api.pagination import Page, page_params
from shoal.api.routing import SlashRouter
from shoal.api.schemas import DropletCreate
from shoal.api.views import droplet_view
from shoal.control import actions, droplets
from shoal.control.config import Settings
from shoal.control.errors import Unprocessable

router = SlashRouter(prefix="/v2/droplets", dependencies=[Auth])

LIST_TYPES = ("droplets", "gpus")


def droplet_body(session: Session, settings: Settings, droplet) -> dict:
    return droplet_view(droplet, settings, actions.is_locked(session, droplet.id))


def droplet_bodies(session: Session, settings: Settings, found: list) -> list[dict]:
    locked = actions.locked_droplets(session, [d.id for d in found])
    return [droplet_view(d, settings, d.id in locked) for d in found]


def no_content() -> Response:
    # DigitalOcean sends a content type even with its empty 204s.
    return Response(status_code=204, media_type="application/json")


def _check_filters(tag_name: str | None, name: str | None, type: str | None) -> None:
    if type is not None and type not in LIST_TYPES:
        raise Unprocessable("type must be droplets or gpus.")
    if tag_name is not None and (name is not None or type is not None):
        raise Unprocessable("tag_name cannot be combined with name or type.")


@router.get("")
def list_droplets(
    tag_name: str | None = None,
    name: str | None = None,
    type: str | None = None,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    _check_filters(tag_name, name, type)
    found, total = droplets.list_droplets(
        session,
        page.offset,
        page.size,
        tag_name=tag_name,
        name=name,
        gpus=type == "gpus",
    )
    return page.envelope("droplets", droplet_bodies(session, settings, found), total)


@router.post("", status_code=202)
def create_droplets(
    body: DropletCreate,
    request: Request,
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    try:
        names = body.all_names()
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None

    request_ = droplets.DropletRequest(
        names=names,
        size=str(body.size),
        image=body.image,
        region=body.region,
        ssh_keys=body.ssh_keys or [],
        user_data=body.user_data,
        tags=body.tags or [],
    )
    created = droplets.create_droplets(session, settings, request_)
    session.info["wake_engine"] = True

    base = base_url(request)
    links = {
        "actions": [
            {"id": a.id, "rel": "create", "href": f"{base}/v2/actions/{a.id}"}
            for _, a in created
        ]
    }
    views = [droplet_view(d, settings, locked=True) for d, _ in created]
    if body.name is not None:
        return {"droplet": views[0], "links": links}
    return {"droplets": views, "links": links}


@router.delete("", status_code=204)
def delete_droplets_by_tag(tag_name: str | None = None, session: Session = Db):
    # Without a tag this would read as "delete everything"; DigitalOcean
    # requires the tag, and so does Shoal.
    if not tag_name:
        raise Unprocessable("tag_name is required to delete droplets by tag.")
    droplets.delete_by_tag(session, tag_name)
    session.info["wake_engine"] = True
    return no_content()


@router.get("/{droplet_id}")
def get_droplet(
    droplet_id: str, session: Session = Db, settings: Settings = Depends(settings_of)
):
    droplet = droplets.get_droplet(session, path_id(droplet_id))
    return {"droplet": droplet_body(session, settings, droplet)}


@router.delete("/{droplet_id}", status_code=204)
def delete_droplet(droplet_id: str, session: Session = Db):
    droplets.delete_droplet(session, path_id(droplet_id))
    session.info["wake_engine"] = True
    return no_content()
