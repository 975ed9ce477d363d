"""Action records: the durable intent the engine makes real."""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from shoal.control.errors import NotFound
from shoal.control.models import Action, Droplet, utcnow

IN_PROGRESS = "in-progress"
COMPLETED = "completed"
ERRORED = "errored"


def record(session: Session, droplet: Droplet, type_: str, **params) -> Action:
    action = Action(
        type=type_,
        resource_id=droplet.id,
        resource_type="droplet",
        region_slug=droplet.region_slug,
        params=params,
    )
    session.add(action)
    session.flush()
    return action


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
    return bool(
        session.scalar(
            select(
                exists().where(
                    Action.resource_type == "droplet",
                    Action.resource_id == droplet_id,
                    Action.status == IN_PROGRESS,
                )
            )
        )
    )


def finish(action: Action, error: str | None = None) -> None:
    action.status = ERRORED if error else COMPLETED
    action.error = error
    action.completed_at = utcnow()
