"""Backups: the droplet's policy, the engine's schedule, and retention.

enable_backups, change_backup_policy and disable_backups only change the
policy kept on the droplet. A scheduler thread records a `backup` action
for each droplet whose next backup is due (at the start of its daily or
weekly window, or every `backup_interval_seconds` when that is set), and
the engine runs it like any action: one at a time per droplet, so a backup
never races a rebuild. A backup is a standalone image of type `backup`
(see `snapshots`), listed under the droplet's backups. As on DigitalOcean,
the newest 7 daily or 4 weekly backups are kept; older ones are deleted,
and their files go once no droplet's disk depends on them (after a restore).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from shoal.control import actions
from shoal.control.action_context import ActionContext, ActionFailed
from shoal.control.config import Settings
from shoal.control.db import Database
from shoal.control.droplet_actions import (
    BACKUP_PLANS,
    BACKUP_WEEKDAYS,
    BACKUP_WINDOW_HOURS,
)
from shoal.control.errors import Unprocessable
from shoal.control.models import Action, Droplet, Image, utcnow
from shoal.control.snapshots import take_image

log = logging.getLogger(__name__)

# Backups kept per plan: a week of dailies, four weeklies.
RETENTION = {"daily": 7, "weekly": 4}
DEFAULT_HOUR = 0
DEFAULT_WEEKDAY = "SUN"
CHECK_SECONDS = 5.0


def full_policy(policy: dict | None) -> dict:
    """The policy with its defaults filled in, and the read-only fields."""
    policy = dict(policy or {})
    plan = policy.get("plan") or "daily"
    hour = policy.get("hour")
    weekday = policy.get("weekday")
    return {
        "plan": plan,
        "weekday": (weekday or DEFAULT_WEEKDAY) if plan == "weekly" else weekday,
        "hour": DEFAULT_HOUR if hour is None else hour,
        "window_length_hours": BACKUP_WINDOW_HOURS,
        "retention_period_days": BACKUP_PLANS[plan],
    }


def next_window(policy: dict, now: datetime) -> datetime:
    """The start of the policy's next backup window after `now` (UTC)."""
    policy = full_policy(policy)
    start = now.replace(hour=policy["hour"], minute=0, second=0, microsecond=0)
    if policy["plan"] == "weekly":
        # BACKUP_WEEKDAYS starts on Sunday, datetime.weekday() on Monday.
        weekday = (BACKUP_WEEKDAYS.index(policy["weekday"]) - 1) % 7
        start += timedelta(days=(weekday - now.weekday()) % 7)
        step = timedelta(days=7)
    else:
        step = timedelta(days=1)
    while start <= now:
        start += step
    return start


def next_backup_at(settings: Settings, policy: dict, now: datetime) -> datetime:
    if settings.backup_interval_seconds:
        return now + timedelta(seconds=settings.backup_interval_seconds)
    return next_window(policy, now)


def window_of(droplet: Droplet) -> dict | None:
    """`next_backup_window` as the API shows it, or None without backups."""
    if not droplet.backups_enabled or droplet.next_backup_at is None:
        return None
    start = droplet.next_backup_at
    return {"start": start, "end": start + timedelta(hours=BACKUP_WINDOW_HOURS)}


def enable_backups(ctx: ActionContext, action: Action) -> None:
    policy = full_policy(action.params.get("backup_policy"))
    ctx.complete(
        action,
        backups_enabled=True,
        backup_policy=policy,
        next_backup_at=next_backup_at(ctx.settings, policy, utcnow()),
    )


def change_backup_policy(ctx: ActionContext, action: Action) -> None:
    policy = full_policy(action.params.get("backup_policy"))
    with ctx.db.transaction() as session:
        enabled = session.get(Droplet, action.resource_id).backups_enabled
    if not enabled:
        raise ActionFailed("Backups are not enabled on this droplet.")
    ctx.complete(
        action,
        backup_policy=policy,
        next_backup_at=next_backup_at(ctx.settings, policy, utcnow()),
    )


def disable_backups(ctx: ActionContext, action: Action) -> None:
    # The backups taken so far stay, as on DigitalOcean.
    ctx.complete(action, backups_enabled=False, next_backup_at=None)


def take_backup(ctx: ActionContext, action: Action) -> None:
    """The scheduled `backup` action: a backup image, then retention."""
    name = f"{action.params['droplet_name']} {utcnow():%Y-%m-%d %H:%M}"
    take_image(ctx, action, "backup", name)
    prune(ctx.db, action.resource_id)


def prune(db: Database, droplet_id: int) -> list[int]:
    """Delete the droplet's backups beyond its plan's retention; their ids."""
    with db.transaction() as session:
        droplet = session.get(Droplet, droplet_id)
        keep = RETENTION[full_policy(droplet.backup_policy)["plan"]]
        backups = session.scalars(
            select(Image)
            .where(
                Image.droplet_id == droplet_id,
                Image.type == "backup",
                Image.status == "available",
            )
            .order_by(Image.created_at.desc(), Image.id.desc())
        ).all()
        expired = backups[keep:]
        for image in expired:
            # Deleted like any image: the engine's sweep removes the file
            # once no droplet's disk is backed by it (image_files).
            image.status = "deleted"
            image.deleted_at = utcnow()

    for image in expired:
        log.info("backup expired droplet_id=%s image_id=%s", droplet_id, image.id)
    return [image.id for image in expired]


class BackupScheduler:
    """Records a `backup` action for each droplet whose backup is due."""

    def __init__(self, db: Database, settings: Settings, wake: Callable[[], None]):
        self.db = db
        self.settings = settings
        self.wake = wake
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="shoal-backups", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.wait(CHECK_SECONDS):
            try:
                if self.run_due():
                    self.wake()
            except Exception:
                log.exception("backup scheduling failed")

    def run_due(self, now: datetime | None = None) -> list[int]:
        """Record the due backups; the ids of the droplets they are for."""
        now = now or utcnow()
        with self.db.transaction() as session:
            due = session.scalars(
                select(Droplet).where(
                    Droplet.backups_enabled.is_(True),
                    Droplet.deleted.is_(False),
                    Droplet.next_backup_at <= now,
                    Droplet.status.in_(("active", "off")),
                )
            ).all()
            return [d.id for d in due if self._record(session, d, now)]

    def _record(self, session, droplet: Droplet, now: datetime) -> bool:
        if actions.is_locked(session, droplet.id):
            return False  # busy now: the next check tries again
        try:
            with session.begin_nested():
                actions.record(session, droplet, "backup", droplet_name=droplet.name)
        except Unprocessable:
            return False
        droplet.next_backup_at = next_backup_at(
            self.settings, droplet.backup_policy, now
        )
        log.info("backup due droplet_id=%s", droplet.id)
        return True
