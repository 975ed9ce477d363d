"""Choosing kvm or qemu. The probe's QEMU is replaced by small shell scripts
that print the marker, or hang, or exit; the decision logic around them is
what is under test."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from shoal.hypervisor.accel import choose_virt_type, kvm_device_problem

HEADER = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "QEMU emulator version 7.2.0 (fake)"; exit 0; fi
printf '%s\n' "$@" > "$(dirname "$0")/args"
"""
BOOTS = HEADER + 'printf "Booting\\r\\nSHOAL-PROBE-OK\\r\\n"\nexec sleep 60\n'
HANGS = HEADER + 'sleep 60 &\necho $! > "$(dirname "$0")/child"\nwait\n'
EXITS = HEADER + 'echo "Kernel panic - not syncing"\nexit 1\n'
MENTIONS = HEADER + 'echo "waiting for SHOAL-PROBE-OK"\nexit 0\n'


@pytest.fixture
def kit(tmp_path: Path):
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd.img"
    kernel.write_bytes(b"kernel")
    initrd.write_bytes(b"initrd")
    return kernel, initrd


@pytest.fixture
def kvm(tmp_path: Path) -> Path:
    """A stand-in /dev/kvm that is present and read-writable."""
    device = tmp_path / "kvm"
    device.touch()
    return device


def fake_qemu(tmp_path: Path, script: str) -> str:
    path = tmp_path / "qemu-system-x86_64"
    path.write_text(script)
    path.chmod(0o755)
    return str(path)


def choose(tmp_path: Path, kit, kvm: Path, script: str, timeout: float = 5.0) -> str:
    return choose_virt_type(
        "auto",
        lambda: kit,
        tmp_path / "state" / "virt-type.json",
        qemu_binary=fake_qemu(tmp_path, script),
        kvm_device=kvm,
        timeout=timeout,
    )


def never() -> tuple[Path, Path]:
    raise AssertionError("the probe must not run")


@pytest.mark.parametrize("setting", ["kvm", "qemu"])
def test_explicit_setting_is_kept(setting: str, tmp_path: Path) -> None:
    assert choose_virt_type(setting, never, tmp_path / "c.json") == setting


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        choose_virt_type("xen", never, tmp_path / "c.json")


def test_no_kvm_device_means_qemu(tmp_path: Path) -> None:
    missing = tmp_path / "no-kvm"

    assert choose_virt_type("auto", never, tmp_path / "c", kvm_device=missing) == "qemu"


def test_no_probe_image_means_qemu(tmp_path: Path, kvm: Path) -> None:
    assert choose_virt_type("auto", None, tmp_path / "c", kvm_device=kvm) == "qemu"


def test_failing_probe_kit_means_qemu(tmp_path: Path, kvm: Path) -> None:
    def broken() -> tuple[Path, Path]:
        raise FileNotFoundError("no kernel")

    assert choose_virt_type("auto", broken, tmp_path / "c", kvm_device=kvm) == "qemu"


def test_marker_means_kvm_and_does_not_wait_for_exit(
    tmp_path: Path, kit, kvm: Path
) -> None:
    started = time.monotonic()

    assert choose(tmp_path, kit, kvm, BOOTS, timeout=20) == "kvm"

    assert time.monotonic() - started < 10, "waited for QEMU instead of the marker"
    assert (tmp_path / "args").read_text().splitlines() == [
        *("-accel", "kvm", "-machine", "pc", "-m", "256"),
        *("-kernel", str(kit[0]), "-initrd", str(kit[1])),
        *("-append", "console=ttyS0 panic=-1", "-nographic", "-no-reboot"),
    ]


def test_hang_means_qemu_and_kills_the_process_group(
    tmp_path: Path, kit, kvm: Path
) -> None:
    # What this machine's paravirtual /dev/kvm does: boot hangs, no marker.
    assert choose(tmp_path, kit, kvm, HANGS, timeout=2) == "qemu"

    child = int((tmp_path / "child").read_text())
    assert gone_soon(child), "the probe's child process outlived the timeout"


def test_exit_without_marker_means_qemu(tmp_path: Path, kit, kvm: Path) -> None:
    assert choose(tmp_path, kit, kvm, EXITS) == "qemu"


def test_marker_must_be_a_line_of_its_own(tmp_path: Path, kit, kvm: Path) -> None:
    assert choose(tmp_path, kit, kvm, MENTIONS) == "qemu"


def test_decision_is_cached_per_qemu_and_probe_image(
    tmp_path: Path, kit, kvm: Path
) -> None:
    assert choose(tmp_path, kit, kvm, BOOTS) == "kvm"

    # Same QEMU and probe image: the cached answer, without running the probe.
    assert choose(tmp_path, kit, kvm, EXITS) == "kvm"
    (entry,) = json.loads((tmp_path / "state" / "virt-type.json").read_text()).items()
    assert entry[0].startswith("QEMU emulator version 7.2.0 (fake)")
    assert entry[1]["virt_type"] == "kvm"

    # A new probe kernel: probed again.
    kit[0].write_bytes(b"another kernel")
    assert choose(tmp_path, kit, kvm, EXITS) == "qemu"


def test_unreadable_cache_is_probed_again(tmp_path: Path, kit, kvm: Path) -> None:
    cache = tmp_path / "state" / "virt-type.json"
    cache.parent.mkdir()
    cache.write_text("{not json")

    assert choose(tmp_path, kit, kvm, BOOTS) == "kvm"
    assert json.loads(cache.read_text())


def test_decision_is_logged_once_with_reason(
    tmp_path: Path, kit, kvm: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="shoal.hypervisor.accel"):
        choose(tmp_path, kit, kvm, EXITS)

    (record,) = [r for r in caplog.records if r.levelno == logging.INFO]
    assert "virt_type=qemu" in record.getMessage()
    assert "without the marker" in record.getMessage()


def gone_soon(pid: int, within: float = 5.0) -> bool:
    """True once `pid` has ended; a killed process takes a moment to die."""
    deadline = time.monotonic() + within
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def running(pid: int) -> bool:
    """True if `pid` runs; a zombie that nobody reaped counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def kvm_group() -> int:
    import grp

    try:
        return grp.getgrnam("kvm").gr_gid
    except KeyError:
        pytest.skip("no kvm group on this host")


def test_root_only_kvm_device_is_named_as_the_problem(tmp_path, kvm_group, caplog):
    # What a host without udev has: libvirt's QEMU user cannot open it.
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    device.chmod(0o600)
    problem = kvm_device_problem(device)
    assert problem is not None and "chgrp kvm" in problem

    for setting in ("qemu", "auto"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="shoal.hypervisor.accel"):
            choose_virt_type(setting, None, tmp_path / "c", kvm_device=device)
        assert "not read-writable by group kvm" in caplog.text


def test_kvm_device_as_udev_sets_it_or_absent_is_fine(tmp_path, kvm_group):
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    os.chown(device, 0, kvm_group)
    device.chmod(0o660)
    assert kvm_device_problem(device) is None
    assert kvm_device_problem(tmp_path / "absent") is None
