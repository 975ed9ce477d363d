"""Droplet action requests: what each type needs, checked before recording.

A request passes four gates, in this order, and each refusal is a 422
that records nothing: the type is one DigitalOcean knows; its fields are
valid for this droplet; the engine supports the type
(``actions.SUPPORTED``); no other action is pending on the droplet (B24).
Whether the action then succeeds, and what it means for a droplet that is
already in the asked-for state, is the engine's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from shoal.control import actions
from shoal.control.config import Settings
from shoal.control.droplets import is_hostname
from shoal.control.errors import Unprocessable
from shoal.control.ids import as_id
from shoal.control.images import find_image
from shoal.control.models import Action, Droplet
from shoal.control.tags import get_tag, tagged_droplets

# The spec's backup policy choices.
BACKUP_PLANS = {"daily": 7, "weekly": 28}
BACKUP_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
BACKUP_HOURS = (0, 4, 8, 12, 16, 20)
BACKUP_WINDOW_HOURS = 4

# The types the spec allows on POST /v2/droplets/actions?tag_name=.
BY_TAG = frozenset(
    {
        "power_cycle",
        "power_on",
        "power_off",
        "shutdown",
        "enable_ipv6",
        "enable_backups",
        "disable_backups",
        "snapshot",
    }
)


@dataclass
class ActionRequest:
    type: str
    size: str | None = None
    disk: bool | None = None
    image: str | int | None = None
    name: str | None = None
    kernel: int | None = None
    backup_policy: dict | None = None


Check = Callable[[Session, Settings, Droplet, ActionRequest], dict]


def _no_fields(session, settings, droplet, request) -> dict:
    return {}


def _resize(session, settings, droplet, request) -> dict:
    size = settings.size(request.size or "")
    if size is None or not size.available:
        raise Unprocessable("You specified an invalid size for Droplet resize.")
    # A disk never shrinks, whether or not this resize grows it (B22).
    if size.disk < droplet.disk:
        raise Unprocessable(
            f"Size {size.slug} has a {size.disk} GB disk; this droplet's disk is "
            f"already {droplet.disk} GB and cannot shrink."
        )
    # The disk and the domain are never changed under a running guest.
    if droplet.status != "off":
        raise Unprocessable(
            "Droplet is currently on. Please power it off to run this event."
        )
    return {"size": size.slug, "disk": bool(request.disk)}


def _rebuild(session, settings, droplet, request) -> dict:
    image = find_image(session, request.image) if request.image is not None else None
    if image is None or image.status != "available":
        raise Unprocessable("You specified an invalid image for Droplet rebuild.")
    if image.min_disk_size > droplet.disk:
        raise Unprocessable(
            f"The image needs a disk of at least {image.min_disk_size} GB; "
            f"this droplet has {droplet.disk} GB."
        )
    return {"image": image.id}


def _restore(session, settings, droplet, request) -> dict:
    # Only a backup or snapshot of this very droplet can be restored.
    image_id = as_id(request.image) if request.image is not None else None
    image = find_image(session, image_id) if image_id else None
    if image is None or image.droplet_id != droplet.id or image.status != "available":
        raise Unprocessable(
            "image must be the integer id of a backup or snapshot of this droplet."
        )
    return {"image": image.id}


def _rename(session, settings, droplet, request) -> dict:
    if not request.name or not is_hostname(request.name):
        raise Unprocessable(
            "Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)"
        )
    return {"name": request.name}


def _change_kernel(session, settings, droplet, request) -> dict:
    if request.kernel is None:
        raise Unprocessable("kernel is required.")
    return {"kernel": request.kernel}


def _snapshot(session, settings, droplet, request) -> dict:
    # DigitalOcean's default: the droplet's name and the time in ms.
    name = request.name or f"{droplet.name}-{int(time.time() * 1000)}"
    return {"name": name}


def _backup_policy(policy: dict | None) -> dict:
    policy = dict(policy or {})
    plan = policy.get("plan") or "daily"
    if plan not in BACKUP_PLANS:
        raise Unprocessable("backup_policy.plan must be daily or weekly.")
    if policy.get("weekday") not in (None, *BACKUP_WEEKDAYS):
        raise Unprocessable("backup_policy.weekday must be SUN..SAT.")
    if policy.get("hour") not in (None, *BACKUP_HOURS):
        raise Unprocessable("backup_policy.hour must be 0, 4, 8, 12, 16 or 20.")
    return {"plan": plan, "weekday": policy.get("weekday"), "hour": policy.get("hour")}


def _enable_backups(session, settings, droplet, request) -> dict:
    return {"backup_policy": _backup_policy(request.backup_policy)}


def _change_backup_policy(session, settings, droplet, request) -> dict:
    if not request.backup_policy:
        raise Unprocessable("backup_policy is required.")
    if not droplet.backups_enabled:
        raise Unprocessable("Backups are not enabled on this droplet.")
    return {"backup_policy": _backup_policy(request.backup_policy)}


# Every type of the spec, and enable_private_networking, which the spec
# dropped but godo, python-digitalocean and Terraform still send.
CHECKS: dict[str, Check] = {
    "enable_backups": _enable_backups,
    "disable_backups": _no_fields,
    "change_backup_policy": _change_backup_policy,
    "reboot": _no_fields,
    "power_cycle": _no_fields,
    "shutdown": _no_fields,
    "power_off": _no_fields,
    "power_on": _no_fields,
    "restore": _restore,
    "password_reset": _no_fields,
    "resize": _resize,
    "rebuild": _rebuild,
    "rename": _rename,
    "change_kernel": _change_kernel,
    "enable_ipv6": _no_fields,
    "snapshot": _snapshot,
    "enable_private_networking": _no_fields,
}

TYPES = frozenset(CHECKS)


def _check_type(type_: str, allowed: frozenset[str]) -> None:
    if type_ not in allowed:
        raise Unprocessable(
            f"The action type {type_[:64]!r} is not valid here; use one of: "
            f"{', '.join(sorted(allowed))}."
        )


def _check_supported(type_: str) -> None:
    if type_ in actions.REFUSED:
        raise Unprocessable(actions.REFUSED[type_])
    if type_ not in actions.SUPPORTED:
        raise Unprocessable(f"The action type {type_} is not supported by Shoal yet.")


def request_action(
    session: Session, settings: Settings, droplet: Droplet, request: ActionRequest
) -> Action:
    """Record one action on one droplet, or refuse it having recorded nothing."""
    _check_type(request.type, TYPES)
    params = CHECKS[request.type](session, settings, droplet, request)

    _check_supported(request.type)
    actions.ensure_idle(session, droplet.id)
    return actions.record(session, droplet, request.type, **params)


def request_by_tag(
    session: Session, settings: Settings, tag_name: str, request: ActionRequest
) -> list[Action]:
    """One action per droplet carrying the tag; all of them or none."""
    _check_type(request.type, BY_TAG)
    get_tag(session, tag_name)
    return [
        request_action(session, settings, droplet, request)
        for droplet in tagged_droplets(session, tag_name)
    ]
