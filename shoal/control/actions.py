"""Action records: the durable intent the engine makes real."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoal.control.errors import NotFound, Unprocessable
from shoal.control.models import Action, Droplet, Image, utcnow

IN_PROGRESS = "in-progress"
COMPLETED = "completed"
ERRORED = "errored"

# Droplet action types the engine can carry out. The engine adds each type
# as it learns it; the API answers the others with a 422 and records
# nothing, so no action is ever left waiting for a handler (issue 3).
SUPPORTED: set[str] = set()

# Types Shoal refuses for good, with the reason the 422 gives.
REFUSED: dict[str, str] = {
    "enable_ipv6": (
        "IPv6 is not available: Shoal's droplet network is IPv4 only, so "
        "enable_ipv6 cannot be performed."
    ),
    "change_kernel": (
        "Droplets boot the kernel inside their own image, as DigitalOcean's "
        "have since 2017; there is no external kernel to change to."
    ),
}

PENDING_MESSAGE = "Droplet already has a pending event."
IMAGE_PENDING_MESSAGE = "Image already has a pending event."


def record(session: Session, droplet: Droplet, type_: str, **params) -> Action:
    action = Action(
        type=type_,
        resource_id=droplet.id,
        resource_type="droplet",
        region_slug=droplet.region_slug,
        params=params,
    )
    session.add(action)
    try:
        session.flush()
    except IntegrityError:
        # The unique index on pending actions: another request recorded one
        # for this droplet after our check (B24).
        raise Unprocessable(PENDING_MESSAGE) from None
    return action


def record_image(
    session: Session, image: Image, region_slug: str, type_: str, **params
) -> Action:
    """An action on an image (its import, a transfer, a convert)."""
    action = Action(
        type=type_,
        resource_id=image.id,
        resource_type="image",
        region_slug=region_slug,
        params=params,
    )
    session.add(action)
    try:
        session.flush()
    except IntegrityError:
        # The same unique index holds one pending action per image.
        raise Unprocessable(IMAGE_PENDING_MESSAGE) from None
    return action


def get_resource_action(
    session: Session, action_id: int, resource_type: str, resource_id: int
) -> Action:
    """The action, if it was taken on that resource; 404 otherwise."""
    action = session.get(Action, action_id)
    if action is None or (action.resource_type, action.resource_id) != (
        resource_type,
        resource_id,
    ):
        raise NotFound("The resource you were accessing could not be found.")
    return action


def list_resource_actions(
    session: Session, resource_type: str, resource_id: int, offset: int, limit: int
) -> tuple[list[Action], int]:
    query = select(Action).where(
        Action.resource_type == resource_type, Action.resource_id == resource_id
    )
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = session.scalars(query.order_by(Action.id.desc()).offset(offset).limit(limit))
    return list(page), total


def ensure_idle(session: Session, droplet_id: int) -> None:
    """Refuse a new action while one is in progress on the droplet (B24)."""
    if is_locked(session, droplet_id):
        raise Unprocessable(PENDING_MESSAGE)


def get_action(
    session: Session, action_id: int, droplet_id: int | None = None
) -> Action:
    action = session.get(Action, action_id)
    if action is None or (droplet_id is not None and action.resource_id != droplet_id):
        raise NotFound("The resource you were accessing could not be found.")
    return action


def list_actions(
    session: Session, offset: int, limit: int, droplet_id: int | None = None
) -> tuple[list[Action], int]:
    query = select(Action)
    if droplet_id is not None:
        query = query.where(
            Action.resource_type == "droplet", Action.resource_id == droplet_id
        )
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = session.scalars(query.order_by(Action.id.desc()).offset(offset).limit(limit))
    return list(page), total


def is_locked(session: Session, droplet_id: int) -> bool:
    return droplet_id in locked_droplets(session, [droplet_id])


def locked_droplets(session: Session, droplet_ids: list[int]) -> set[int]:
    """Which of these droplets have an action in progress, in one query."""
    return set(
        session.scalars(
            select(Action.resource_id).where(
                Action.resource_type == "droplet",
                Action.resource_id.in_(droplet_ids),
                Action.status == IN_PROGRESS,
            )
        )
    )


def finish(action: Action, error: str | None = None) -> None:
    action.status = ERRORED if error else COMPLETED
    action.error = error
    action.completed_at = utcnow()
