"""Choosing the domain type: `kvm` where KVM really boots a guest, else `qemu`.

An openable /dev/kvm is not proof enough: some hosts (nested or paravirtual
KVM) expose one on which a stock Linux guest hangs right after the bootloader.
So `auto` boots a tiny probe kernel with `-accel kvm` and trusts KVM only when
the probe's init prints its marker line. The answer is cached per QEMU version,
host kernel and probe image, since the probe takes seconds.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import json
import logging
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

SETTINGS = ("auto", "kvm", "qemu")
PROBE_MARKER = b"SHOAL-PROBE-OK"
PROBE_TIMEOUT = 25.0
KVM_DEVICE = Path("/dev/kvm")

Probe = Callable[[], tuple[Path, Path]]


def choose_virt_type(
    setting: str,
    probe: Probe | None,
    cache_path: Path,
    *,
    qemu_binary: str = "qemu-system-x86_64",
    kvm_device: Path = KVM_DEVICE,
    timeout: float = PROBE_TIMEOUT,
) -> str:
    """`kvm` or `qemu` for `setting` (`auto`, `kvm` or `qemu`).

    `probe` returns the (kernel, initrd) of the probe image; its init must print
    a line `SHOAL-PROBE-OK` on ttyS0. `qemu_binary` is the command run for the
    probe, replaceable in tests.
    """
    if setting not in SETTINGS:
        raise ValueError(f"virt type setting must be one of {SETTINGS}")
    problem = kvm_device_problem(kvm_device)
    if problem:
        log.warning("%s", problem)
    if setting != "auto":
        return setting

    virt_type, reason = _decide(probe, cache_path, qemu_binary, kvm_device, timeout)
    log.info("virt type chosen virt_type=%s reason=%r", virt_type, reason)
    return virt_type


def kvm_device_problem(device: Path = KVM_DEVICE, group: str = "kvm") -> str | None:
    """What is wrong with `device`'s ownership for libvirt, or None.

    libvirt runs QEMU as a user of the `kvm` group and, on every capability
    lookup, checks that this user may open the device. When it may not, but
    libvirt's own probe saw KVM working, libvirt calls its capability cache
    stale and probes QEMU again each time: every define and start then takes
    tens of seconds. udev sets the device to `root:kvm 0660`; hosts without
    udev (containers, minimal VMs) leave it root-only.
    """
    try:
        stat = device.stat()
        gid = grp.getgrnam(group).gr_gid
    except (FileNotFoundError, KeyError):
        return None
    if stat.st_mode & 0o006 == 0o006 or (
        stat.st_gid == gid and stat.st_mode & 0o060 == 0o060
    ):
        return None
    return (
        f"{device} is not read-writable by group {group}: libvirt will probe QEMU "
        f"again on every call (each define or start slows by seconds); "
        f"run chgrp {group} {device} && chmod g+rw {device}, as udev would"
    )


def _decide(
    probe: Probe | None,
    cache_path: Path,
    qemu_binary: str,
    kvm_device: Path,
    timeout: float,
) -> tuple[str, str]:
    if not kvm_device.exists() or not os.access(kvm_device, os.R_OK | os.W_OK):
        return "qemu", f"{kvm_device} is missing or not read-writable"
    if probe is None:
        return "qemu", "no probe image to test KVM with"

    try:
        kernel, initrd = probe()
        key = _cache_key(qemu_binary, kernel, initrd)
    except Exception as err:
        log.warning("kvm probe unavailable error=%r", err)
        return "qemu", f"probe unavailable: {err}"

    cached = _load_cache(cache_path).get(key)
    if cached is not None:
        return cached["virt_type"], f"cached: {cached['reason']}"

    virt_type, reason = _run_probe(qemu_binary, kernel, initrd, timeout)
    _store(cache_path, key, virt_type, reason)
    return virt_type, reason


def _run_probe(
    qemu_binary: str, kernel: Path, initrd: Path, timeout: float
) -> tuple[str, str]:
    started = time.monotonic()
    try:
        # A session of its own, so a timeout kills QEMU and anything it spawned.
        proc = subprocess.Popen(
            _probe_command(qemu_binary, kernel, initrd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as err:
        return "qemu", f"probe could not run: {err}"

    try:
        outcome = _watch(proc, timeout)
    finally:
        _kill_group(proc)

    elapsed = time.monotonic() - started
    if outcome == "marker":
        return "kvm", f"KVM probe booted in {elapsed:.1f}s"
    return "qemu", f"KVM probe {outcome} after {elapsed:.1f}s without the marker"


def _probe_command(qemu_binary: str, kernel: Path, initrd: Path) -> list[str]:
    # panic=-1 and -no-reboot make a guest that fails end QEMU instead of looping.
    return [
        qemu_binary,
        *("-accel", "kvm", "-machine", "pc", "-m", "256"),
        *("-kernel", str(kernel), "-initrd", str(initrd)),
        *("-append", "console=ttyS0 panic=-1", "-nographic", "-no-reboot"),
    ]


def _watch(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """`marker` once the marker line appears; else `timed out` or `exited`."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    pending = b""

    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            lines = (pending + chunk).split(b"\n")
            # The last piece is an unfinished line, unless the output ended.
            pending = lines.pop() if chunk else b""
            if any(line.strip() == PROBE_MARKER for line in lines):
                return "marker"
            if not chunk:
                return "exited"
    return "timed out"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _cache_key(qemu_binary: str, kernel: Path, initrd: Path) -> str:
    version = subprocess.run(
        [qemu_binary, "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.splitlines()[0]
    return " ".join(
        [
            version,
            f"host-kernel={os.uname().release}",
            f"kernel-sha256={_sha256(kernel)}",
            f"initrd-sha256={_sha256(initrd)}",
        ]
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _load_cache(path: Path) -> dict[str, dict[str, str]]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("virt type cache unreadable path=%s error=%r", path, err)
        return {}


def _store(path: Path, key: str, virt_type: str, reason: str) -> None:
    cache = _load_cache(path)
    cache[key] = {
        "virt_type": virt_type,
        "reason": reason,
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }

    # Write and rename, so a crash never leaves half a cache file behind.
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=path.name, delete=False
    ) as tmp:
        json.dump(cache, tmp, indent=2, sort_keys=True)
    os.replace(tmp.name, path)
