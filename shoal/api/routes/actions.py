"""/v2/actions: every action of the account."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.ids import path_id
from shoal.api.pagination import Page, page_params
from shoal.api.routing import SlashRouter
from shoal.api.views import action_view
from shoal.control import actions
from shoal.control.config import Settings

router = SlashRouter(prefix="/v2/actions", dependencies=[Auth])


@router.get("")
def list_actions(
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    found, total = actions.list_actions(session, page.offset, page.size)
    return page.envelope("actions", [action_view(a, settings) for a in found], total)


@router.get("/{action_id}")
def get_action(
    action_id: str, session: Session = Db, settings: Settings = Depends(settings_of)
):
    action = actions.get_action(session, path_id(action_id))
    return {"action": action_view(action, settings)}
