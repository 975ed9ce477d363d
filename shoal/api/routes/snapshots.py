"""/v2/snapshots: the account's droplet snapshots (Shoal has no volumes)."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.pagination import Page, page_params
from shoal.api.routes.droplets import no_content
from shoal.api.routing import SlashRouter
from shoal.api.views import snapshot_view
from shoal.control import snapshot_records
from shoal.control.config import Settings

router = SlashRouter(prefix="/v2/snapshots", dependencies=[Auth])


@router.get("")
def list_snapshots(
    resource_type: str | None = None,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    found, total = snapshot_records.list_snapshots(
        session, page.offset, page.size, resource_type
    )
    views = [snapshot_view(i, settings) for i in found]
    return page.envelope("snapshots", views, total)


@router.get("/{snapshot_id}")
def get_snapshot(
    snapshot_id: str, session: Session = Db, settings: Settings = Depends(settings_of)
):
    snapshot = snapshot_records.get_snapshot(session, snapshot_id)
    return {"snapshot": snapshot_view(snapshot, settings)}


@router.delete("/{snapshot_id}", status_code=204)
def delete_snapshot(snapshot_id: str, session: Session = Db):
    snapshot_records.delete_snapshot(session, snapshot_id)
    return no_content()
