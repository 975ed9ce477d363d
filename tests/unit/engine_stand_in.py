"""A stand-in for the action engine, for API tests that run without one.

It does to the database what the real engine would do to it after making
each pending action true on a hypervisor, and nothing else: no domain,
disk or network exists. Tests that use it say so.
"""

from __future__ import annotations

from sqlalchemy import select

from shoal.control import actions
from shoal.control.addresses import free_ipv4, mac_for
from shoal.control.config import Settings
from shoal.control.db import Database
from shoal.control.models import Action, Droplet

HOST = "stand-in-host"

# What a completed action leaves the droplet's status as.
STATUS_AFTER = {
    "create": "active",
    "power_on": "active",
    "power_cycle": "active",
    "reboot": "active",
    "power_off": "off",
    "shutdown": "off",
}


def settle(db: Database, settings: Settings) -> int:
    """Complete every pending action as the engine would; return how many."""
    with db.transaction() as session:
        pending = session.scalars(
            select(Action).where(Action.status == actions.IN_PROGRESS)
        ).all()
        for action in pending:
            _complete(session, settings, action)
            session.flush()
        return len(pending)


def _complete(session, settings: Settings, action: Action) -> None:
    droplet = session.get(Droplet, action.resource_id)
    if action.type == "create":
        droplet.ipv4 = free_ipv4(session, settings.network)
        droplet.mac = mac_for(droplet.id)
        droplet.host = HOST
    if action.type == "destroy" and droplet is not None:
        session.delete(droplet)
    elif action.type in STATUS_AFTER:
        droplet.status = STATUS_AFTER[action.type]
    actions.finish(action)
