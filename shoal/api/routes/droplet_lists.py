"""What hangs off droplets: snapshots, backups and their policies, kernels,
neighbours and firewalls.

Shoal has no kernels or firewalls to list; those lists are empty in the
shape clients expect rather than missing.
"""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.ids import path_id
from shoal.api.pagination import Page, page_params
from shoal.api.routes.droplets import droplet_bodies
from shoal.api.routing import SlashRouter
from shoal.api.views import (
    backup_policy_view,
    droplet_snapshot_view,
    supported_backup_policies,
)
from shoal.control import droplets
from shoal.control.config import Settings

router = SlashRouter(prefix="/v2", dependencies=[Auth])


def _images_taken(
    session: Session, droplet_id: str, kind: str, page: Page, settings: Settings
) -> dict:
    droplet = droplets.get_droplet(session, path_id(droplet_id))
    found = droplets.images_taken(droplet, kind)
    items = [droplet_snapshot_view(i, settings) for i in found]
    window = items[page.offset : page.offset + page.size]
    return page.envelope(f"{kind}s", window, len(items))


@router.get("/droplets/backups/policies")
def list_backup_policies(page: Page = Depends(page_params), session: Session = Db):
    found, total = droplets.list_droplets(session, page.offset, page.size)
    policies = {str(d.id): backup_policy_view(d) for d in found}
    return page.envelope("policies", policies, total)


@router.get("/droplets/backups/supported_policies")
def list_supported_backup_policies():
    return {"supported_policies": supported_backup_policies()}


@router.get("/droplets/{droplet_id}/snapshots")
def list_snapshots(
    droplet_id: str,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    return _images_taken(session, droplet_id, "snapshot", page, settings)


@router.get("/droplets/{droplet_id}/backups")
def list_backups(
    droplet_id: str,
    page: Page = Depends(page_params),
    session: Session = Db,
    settings: Settings = Depends(settings_of),
):
    return _images_taken(session, droplet_id, "backup", page, settings)


@router.get("/droplets/{droplet_id}/backups/policy")
def get_backup_policy(droplet_id: str, session: Session = Db):
    droplet = droplets.get_droplet(session, path_id(droplet_id))
    return {"policy": backup_policy_view(droplet)}


@router.get("/droplets/{droplet_id}/kernels")
def list_kernels(
    droplet_id: str, page: Page = Depends(page_params), session: Session = Db
):
    # Droplets boot their image's own kernel, as DigitalOcean's have since 2017.
    droplets.get_droplet(session, path_id(droplet_id))
    return page.envelope("kernels", [], 0)


@router.get("/droplets/{droplet_id}/firewalls")
def list_droplet_firewalls(
    droplet_id: str, page: Page = Depends(page_params), session: Session = Db
):
    droplets.get_droplet(session, path_id(droplet_id))
    return page.envelope("firewalls", [], 0)


@router.get("/droplets/{droplet_id}/neighbors")
def list_neighbors(
    droplet_id: str, session: Session = Db, settings: Settings = Depends(settings_of)
):
    droplet = droplets.get_droplet(session, path_id(droplet_id))
    found = droplets.neighbors(session, droplet)
    return {"droplets": droplet_bodies(session, settings, found)}


@router.get("/reports/droplet_neighbors_ids")
def droplet_neighbor_ids(session: Session = Db):
    return {"neighbor_ids": droplets.neighbor_ids(session)}
