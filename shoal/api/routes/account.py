"""/v2/account, its SSH keys, and the firewall list Ansible asks for."""

from __future__ import annotations

from fastapi import Depends
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import settings_of
from shoal.api.pagination import Page, page_params
from shoal.api.routes.droplets import no_content
from shoal.api.routing import SlashRouter
from shoal.api.schemas import SSHKeyCreate, SSHKeyUpdate
from shoal.api.views import key_view
from shoal.control import keys
from shoal.control.config import Settings
from shoal.control.models import Token

router = SlashRouter(prefix="/v2")


@router.get("/account")
def get_account(token: Token = Auth, settings: Settings = Depends(settings_of)):
    return {
        "account": {
            "droplet_limit": settings.droplet_limit,
            "floating_ip_limit": 0,
            "volume_limit": 0,
            "email": "operator@shoal.invalid",
            "name": token.name,
            "uuid": f"shoal-token-{token.id}",
            "email_verified": True,
            "status": "active",
            "status_message": "",
            "team": {"uuid": "shoal", "name": "Shoal"},
        }
    }


@router.get("/account/keys", dependencies=[Auth])
def list_keys(page: Page = Depends(page_params), session: Session = Db):
    found, total = keys.list_keys(session, page.offset, page.size)
    return page.envelope("ssh_keys", [key_view(k) for k in found], total)


@router.post("/account/keys", status_code=201, dependencies=[Auth])
def create_key(body: SSHKeyCreate, session: Session = Db):
    return {"ssh_key": key_view(keys.create_key(session, body.name, body.public_key))}


@router.get("/account/keys/{key_ref}", dependencies=[Auth])
def get_key(key_ref: str, session: Session = Db):
    return {"ssh_key": key_view(keys.find_key(session, key_ref))}


@router.put("/account/keys/{key_ref}", dependencies=[Auth])
def update_key(key_ref: str, body: SSHKeyUpdate, session: Session = Db):
    if body.name is None:
        return {"ssh_key": key_view(keys.find_key(session, key_ref))}
    return {"ssh_key": key_view(keys.rename_key(session, key_ref, body.name))}


@router.delete("/account/keys/{key_ref}", status_code=204, dependencies=[Auth])
def delete_key(key_ref: str, session: Session = Db):
    keys.delete_key(session, key_ref)
    return no_content()


@router.get("/firewalls", dependencies=[Auth])
def list_firewalls(page: Page = Depends(page_params)):
    # Ansible's droplet module lists firewalls before every create; Shoal has
    # none yet, and says so in the shape the module expects.
    return page.envelope("firewalls", [], 0)
