"""/v2/droplets and the actions seen from a droplet."""

from __future__ import annotations

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.pagination import Page, page_params
from shoal.api.routing import SlashRouter
from shoal.api.schemas import DropletCreate
from shoal.api.views import action_view, droplet_view
from shoal.control import actions, droplets
from shoal.control.config import Settings
from shoal.control.errors import NotFound, Unprocessable

router = SlashRouter(prefix="/v2/droplets", dependencies=[Auth])


def _droplet_id(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise NotFound("The resource you were accessing could not be found.")
    return int(value)


def _view(session: Session, settings: Settings, droplet) -> dict:
    return droplet_view(droplet, settings, actions.is_locked(session, droplet.id))


@router.get("")
def list_droplets(
    tag_name: str | None = None,
    name: str | None = None,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    if tag_name is not None and name is not None:
        raise Unprocessable("tag_name cannot be combined with name.")
    found, total = droplets.list_droplets(
        session, page.offset, page.size, tag_name=tag_name, name=name
    )
    items = [_view(session, settings, d) for d in found]
    return page.envelope("droplets", items, total)


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

    base = str(request.base_url).rstrip("/")
    if settings.public_url:
        base = settings.public_url.rstrip("/")
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


@router.get("/{droplet_id}")
def get_droplet(
    droplet_id: str, session: Session = Db, settings: Settings = Depends(settings_of)
):
    droplet = droplets.get_droplet(session, _droplet_id(droplet_id))
    return {"droplet": _view(session, settings, droplet)}


@router.delete("/{droplet_id}", status_code=204)
def delete_droplet(droplet_id: str, session: Session = Db):
    droplets.delete_droplet(session, _droplet_id(droplet_id))
    session.info["wake_engine"] = True
    # DigitalOcean sends a content type even with this empty 204.
    return Response(status_code=204, media_type="application/json")


@router.get("/{droplet_id}/actions")
def list_droplet_actions(
    droplet_id: str,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    droplet = droplets.get_droplet(session, _droplet_id(droplet_id))
    found, total = actions.list_actions(session, page.offset, page.size, droplet.id)
    return page.envelope("actions", [action_view(a, settings) for a in found], total)


@router.get("/{droplet_id}/actions/{action_id}")
def get_droplet_action(
    droplet_id: str,
    action_id: str,
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    action = actions.get_action(
        session, _droplet_id(action_id), droplet_id=_droplet_id(droplet_id)
    )
    return {"action": action_view(action, settings)}
