"""Droplet actions: asked for on one droplet or on every droplet of a tag."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.ids import path_id
from shoal.api.pagination import Page, page_params
from shoal.api.routing import SlashRouter
from shoal.api.schemas import DropletAction
from shoal.api.views import action_view
from shoal.control import actions, droplet_actions, droplets
from shoal.control.config import Settings
from shoal.control.errors import Unprocessable

router = SlashRouter(prefix="/v2/droplets", dependencies=[Auth])


def _request(body: DropletAction) -> droplet_actions.ActionRequest:
    fields = body.model_dump()
    return droplet_actions.ActionRequest(**fields)


@router.post("/actions", status_code=201)
def post_actions_by_tag(
    body: DropletAction,
    tag_name: str | None = None,
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    if not tag_name:
        raise Unprocessable("tag_name is required.")
    recorded = droplet_actions.request_by_tag(
        session, settings, tag_name, _request(body)
    )
    session.info["wake_engine"] = True
    return {"actions": [action_view(a, settings) for a in recorded]}


@router.get("/{droplet_id}/actions")
def list_droplet_actions(
    droplet_id: str,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    droplet = droplets.get_droplet(session, path_id(droplet_id))
    found, total = actions.list_actions(session, page.offset, page.size, droplet.id)
    return page.envelope("actions", [action_view(a, settings) for a in found], total)


@router.post("/{droplet_id}/actions", status_code=201)
def post_droplet_action(
    droplet_id: str,
    body: DropletAction,
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    droplet = droplets.get_droplet(session, path_id(droplet_id))
    action = droplet_actions.request_action(session, settings, droplet, _request(body))
    session.info["wake_engine"] = True
    return {"action": action_view(action, settings)}


@router.get("/{droplet_id}/actions/{action_id}")
def get_droplet_action(
    droplet_id: str,
    action_id: str,
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    action = actions.get_action(
        session, path_id(action_id), droplet_id=path_id(droplet_id)
    )
    return {"action": action_view(action, settings)}
