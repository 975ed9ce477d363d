"""The action engine: claims recorded actions and makes them true.

One dispatcher thread hands actions to a pool of workers, never two at a
time for the same droplet. Each handler reports ``completed`` only once
what the action claims holds on the hypervisor.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select, update

from shoal.control import actions, catalogue, image_files
from shoal.control.addresses import free_ipv4, mac_for
from shoal.control.config import Settings
from shoal.control.db import Database
from shoal.control.models import Action, Droplet
from shoal.control.provision import Machine, Provisioner
from shoal.control.reconcile import Reconciler
from shoal.hypervisor.errors import HypervisorError, HypervisorUnavailable

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
RETRY_SECONDS = 2.0


class Engine:
    def __init__(self, db: Database, settings: Settings, provisioner: Provisioner):
        self.db = db
        self.settings = settings
        self.provisioner = provisioner
        self.reconciler = Reconciler(db, provisioner)
        self._last_reconcile = 0.0
        self.worker_id = f"{socket.gethostname()}:{threading.get_native_id()}"
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        # (resource_type, resource_id) of every action a worker holds.
        self._busy: set[tuple[str, int | None]] = set()
        self._busy_lock = threading.Lock()
        self._address_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(settings.engine_workers, "shoal-action")
        self._thread = threading.Thread(
            target=self._loop, name="shoal-engine", daemon=True
        )
        self._handlers: dict[str, Callable[[Action], None]] = {
            "create": self._create,
            "destroy": self._destroy,
        }

    def start(self) -> None:
        self._release_orphans()
        self._reconcile()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=False)

    def wake(self) -> None:
        self._wakeup.set()

    def _release_orphans(self) -> None:
        # Actions claimed by an earlier run of this host died with it; they
        # run again, and every handler starts by clearing what it may have
        # left behind.
        with self.db.transaction() as session:
            session.execute(
                update(Action)
                .where(
                    Action.status == actions.IN_PROGRESS, Action.claimed_by.is_not(None)
                )
                .values(claimed_by=None)
            )

    def _reconcile(self) -> None:
        self._last_reconcile = time.monotonic()
        try:
            self.reconciler.run()
        except HypervisorError as exc:
            log.warning("reconciliation skipped error=%s", exc)
        except Exception:
            log.exception("reconciliation failed")

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._dispatch()
            except Exception:
                log.exception("dispatch failed")
            self._sweep_image_files()
            due = self._last_reconcile + self.settings.reconcile_interval
            if time.monotonic() >= due:
                self._reconcile()
            self._wakeup.wait(POLL_SECONDS)
            self._wakeup.clear()

    def _sweep_image_files(self) -> None:
        # Deleted images keep their files while droplets are built on them.
        try:
            image_files.sweep(self.db)
        except Exception:
            log.exception("image file sweep failed")

    def _dispatch(self) -> None:
        with self.db.transaction() as session:
            pending = session.scalars(
                select(Action)
                .where(
                    Action.status == actions.IN_PROGRESS, Action.claimed_by.is_(None)
                )
                .order_by(Action.id)
            ).all()
            claimed = [a for a in pending if self._claim(a)]
        for action in claimed:
            self._pool.submit(self._run, action)

    def register(self, type_: str, handler: Callable[[Action], None]) -> None:
        """Teach the engine an action type; the handler runs on a worker."""
        self._handlers[type_] = handler

    def _claim(self, action: Action) -> bool:
        resource = (action.resource_type, action.resource_id)
        with self._busy_lock:
            if resource in self._busy:
                return False
            self._busy.add(resource)
        action.claimed_by = self.worker_id
        return True

    def _run(self, action: Action) -> None:
        # droplet_id=7, or image_id=7 for an image's import.
        context = (
            f"action_id={action.id} type={action.type} "
            f"{action.resource_type}_id={action.resource_id}"
        )
        handler = self._handlers.get(action.type)
        try:
            if handler is None:
                raise NotImplementedError(f"action type {action.type} is not supported")
            handler(action)
        except HypervisorUnavailable as exc:
            # libvirtd is away (restarting, say): the action waits for it
            # instead of failing, and runs again from its start.
            log.warning("action waits for the hypervisor %s error=%s", context, exc)
            self._stopping.wait(RETRY_SECONDS)
            self._release(action.id)
        except Exception as exc:
            log.warning("action errored %s error=%s", context, exc)
            self._finish(action.id, _describe(exc))
        else:
            log.info("action completed %s", context)
        finally:
            with self._busy_lock:
                self._busy.discard((action.resource_type, action.resource_id))
            self._wakeup.set()

    def _release(self, action_id: int) -> None:
        with self.db.transaction() as session:
            session.get(Action, action_id).claimed_by = None

    def _finish(self, action_id: int, error: str | None = None) -> None:
        with self.db.transaction() as session:
            actions.finish(session.get(Action, action_id), error)

    def _reserve_addresses(self, droplet_id: int) -> Machine:
        with self._address_lock, self.db.transaction() as session:
            droplet = session.get(Droplet, droplet_id)
            if droplet.ipv4 is None:
                droplet.ipv4 = free_ipv4(session, self.settings.network)
                droplet.mac = mac_for(droplet.id)
            droplet.host = socket.gethostname()
            return Machine.from_droplet(droplet)

    def _create(self, action: Action) -> None:
        self._ensure_base_image(action.resource_id)
        machine = self._reserve_addresses(action.resource_id)

        try:
            # A create interrupted by a crash runs again from the start.
            self.provisioner.destroy(machine)
            self.provisioner.create(machine)
        except HypervisorUnavailable:
            raise
        except BaseException:
            self._forget_droplet(machine.droplet_id)
            raise

        with self.db.transaction() as session:
            session.get(Droplet, machine.droplet_id).status = "active"
            actions.finish(session.get(Action, action.id))

    def _ensure_base_image(self, droplet_id: int) -> None:
        # A catalogue image is fetched on its first use; a fetch that fails
        # fails the create like any other step.
        with self.db.transaction() as session:
            image_id = session.get(Droplet, droplet_id).image_id
        try:
            catalogue.ensure_local(self.db, self.settings, image_id)
        except BaseException:
            self._forget_droplet(droplet_id)
            raise

    def _forget_droplet(self, droplet_id: int) -> None:
        # A failed create leaves no row: the droplet never existed for the user.
        with self.db.transaction() as session:
            droplet = session.get(Droplet, droplet_id)
            if droplet is not None:
                session.delete(droplet)

    def _destroy(self, action: Action) -> None:
        with self.db.transaction() as session:
            droplet = session.get(Droplet, action.resource_id)
            machine = Machine.from_droplet(droplet) if droplet is not None else None

        # The droplet's create may have failed meanwhile and taken it along.
        if machine is not None:
            self.provisioner.destroy(machine)

        with self.db.transaction() as session:
            droplet = session.get(Droplet, action.resource_id)
            if droplet is not None:
                session.delete(droplet)
            actions.finish(session.get(Action, action.id))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, HypervisorError):
        return f"hypervisor: {exc}"
    return str(exc) or type(exc).__name__
