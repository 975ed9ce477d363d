"""/v2/actions: every action of the account."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.pagination import Page, page_params
from shoal.api.routing import SlashRouter
from shoal.api.views import action_view
from shoal.control import actions
from shoal.control.config import Settings
from shoal.control.errors import NotFound

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
    if not action_id.isdigit():
        raise NotFound("The resource you were accessing could not be found.")
    return {
        "action": action_view(actions.get_action(session, int(action_id)), settings)
    }
