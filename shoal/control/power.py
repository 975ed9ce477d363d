"""Power actions: power_off, power_on, shutdown, reboot, power_cycle.

power_off and power_on act at once; on a droplet already in that state they
complete at once too (Terraform and Ansible send them regardless). shutdown
and reboot ask the guest through the ACPI power button, press it again every
`shutdown_resend_seconds` (a guest still booting does not hear the first
press) and give up after `shutdown_timeout_seconds`: the action is then
errored and the droplet stays as it is, running (field report B16). A
Debian guest on its first boot hears the button only once logind runs,
after cloud-init's first stage: 75-85 s after its start under TCG here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shoal.control.action_context import ActionContext, ActionFailed
from shoal.control.models import Action
from shoal.control.provision import Machine
from shoal.hypervisor import lifecycle
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import InvalidState

log = logging.getLogger(__name__)


def power_off(ctx: ActionContext, action: Action) -> None:
    machine = ctx.machine(action.resource_id)

    lifecycle.destroy(ctx.host, machine.domain)
    ctx.wait_state(machine, "shutoff")

    ctx.complete(action, status="off")


def power_on(ctx: ActionContext, action: Action) -> None:
    machine = ctx.machine(action.resource_id)

    lifecycle.start(ctx.host, machine.domain)
    ctx.wait_state(machine, "running")

    ctx.complete(action, status="active")


def power_cycle(ctx: ActionContext, action: Action) -> None:
    """Off at once, then on: a new QEMU process, plugged into the network
    as it is now (after a network restart, say: field report B20)."""
    machine = ctx.machine(action.resource_id)

    lifecycle.destroy(ctx.host, machine.domain)
    ctx.wait_state(machine, "shutoff")
    lifecycle.start(ctx.host, machine.domain)
    ctx.wait_state(machine, "running")

    ctx.complete(action, status="active")


def shutdown(ctx: ActionContext, action: Action) -> None:
    machine = ctx.machine(action.resource_id)
    started = time.monotonic()

    if not _shut_down(ctx, machine):
        ctx.sync_status(machine)
        raise ActionFailed(
            f"The guest did not power off within "
            f"{ctx.settings.shutdown_timeout_seconds:.0f} s of ACPI shutdown "
            f"requests; the droplet is still on. power_off turns it off at once."
        )

    log.info(
        "guest shut down droplet_id=%s domain=%s seconds=%.1f",
        machine.droplet_id,
        machine.domain,
        time.monotonic() - started,
    )
    ctx.complete(action, status="off")


def _shut_down(ctx: ActionContext, machine: Machine) -> bool:
    """Press the power button until the domain is off; False on timeout."""
    deadline = time.monotonic() + ctx.settings.shutdown_timeout_seconds
    while ctx.state(machine) != "shutoff":
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False

        seen = ctx.events.count(machine.domain, "stopped")
        _press(lifecycle.shutdown, ctx, machine)
        wait = min(remaining, ctx.settings.shutdown_resend_seconds)
        ctx.events.wait(machine.domain, "stopped", seen, wait)
    return True


def reboot(ctx: ActionContext, action: Action) -> None:
    """Completes once the guest really restarted: libvirt's REBOOT event,
    which QEMU's reset raises once the guest went down, after our request."""
    machine = ctx.machine(action.resource_id)
    if ctx.state(machine) != "running":
        raise ActionFailed("The droplet is off; power_on starts it.")
    started = time.monotonic()

    if not _restart(ctx, machine):
        ctx.sync_status(machine)
        raise ActionFailed(
            f"The guest did not restart within "
            f"{ctx.settings.shutdown_timeout_seconds:.0f} s of ACPI reboot "
            f"requests; the droplet is still on. power_cycle restarts it at once."
        )

    ctx.wait_state(machine, "running")
    log.info(
        "guest rebooted droplet_id=%s domain=%s seconds=%.1f",
        machine.droplet_id,
        machine.domain,
        time.monotonic() - started,
    )
    ctx.complete(action, status="active")


def _restart(ctx: ActionContext, machine: Machine) -> bool:
    """Ask for a reboot until the guest resets; False on timeout."""
    deadline = time.monotonic() + ctx.settings.shutdown_timeout_seconds
    seen = ctx.events.count(machine.domain, "rebooted")
    while ctx.events.count(machine.domain, "rebooted") == seen:
        if ctx.state(machine) == "shutoff":
            # It powered off instead of resetting: starting it restarts it.
            lifecycle.start(ctx.host, machine.domain)
            return True

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False

        _press(lifecycle.reboot, ctx, machine)
        wait = min(remaining, ctx.settings.shutdown_resend_seconds)
        ctx.events.wait(machine.domain, "rebooted", seen, wait)
    return True


def _press(
    request: Callable[[Host, str], None], ctx: ActionContext, machine: Machine
) -> None:
    try:
        request(ctx.host, machine.domain)
    except InvalidState:
        # The domain stopped between our look and the request; the caller's
        # next look sees it.
        log.debug("power request to a stopped domain domain=%s", machine.domain)
