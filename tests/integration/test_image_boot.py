"""Boot the built Debian image as a droplet would boot, and read its serial console.

The image boots through its own GRUB (no -kernel) under TCG, with a 25 GiB
overlay and a NoCloud ``cidata`` seed on an IDE CD-ROM (the ``pc`` machine's
Debian guest finds no seed on SATA: its cloud kernel has no AHCI driver). Its
virtio NIC is QEMU user networking with ``restrict=on``: DHCP works, and no
packet leaves the host.

The user-data's runcmd writes a marker to the serial port, with values the
guest computed, so a match proves the command ran rather than echoing the
user-data text; power_state then powers the guest off, and QEMU exits.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from shoal.images.builder import build_image

pytestmark = pytest.mark.e2e

log = logging.getLogger(__name__)

GiB = 1 << 30
OVERLAY_BYTES = 25 * GiB
HOSTNAME = "shoal-e2e-boot"
SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOgS3B47hMFVmk2iT/ow9vnbc6Kjk4HB/hAL6vbbYArM"
    " shoal-e2e"
)
BOOT_TIMEOUT = float(os.environ.get("SHOAL_BOOT_TIMEOUT", "600"))
CONSOLE_TAIL_LINES = 60

MARKER_COMMAND = (
    'echo "SHOAL-USERDATA-RAN hostname=$(hostname)'
    ' root_bytes=$(df -B1 --output=size / | tail -n1 | tr -d " ")" > /dev/ttyS0'
)
MARKER = re.compile(r"SHOAL-USERDATA-RAN hostname=(\S+) root_bytes=(\d+)")
# systemd colours its status lines; the tail in a failure message reads better plain.
ANSI_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])")
FINISHED = re.compile(
    r"Cloud-init v\. \S+ finished at .* Datasource (\S+) \[seed=([^\]]*)\].*"
    r"Up ([\d.]+) seconds"
)


@dataclass
class Boot:
    console: str
    returncode: int | None
    seconds: float

    def tail(self) -> str:
        plain = ANSI_ESCAPE.sub("", self.console)
        lines = [line for line in plain.splitlines() if line.strip()]
        return "console tail:\n" + "\n".join(lines[-CONSOLE_TAIL_LINES:])


@pytest.fixture(scope="session")
def base_image() -> Path:
    if os.geteuid() != 0:
        pytest.skip("building the image needs root (mmdebstrap --mode=root)")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    return build_image()


@pytest.fixture(scope="session")
def boot(base_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Boot:
    work = tmp_path_factory.mktemp("image-boot")
    overlay = _overlay(base_image, work / "droplet.qcow2")
    seed = _seed_iso(work)
    console = work / "console.log"

    started = time.monotonic()
    returncode = _run_guest(overlay, seed, console)
    seconds = time.monotonic() - started
    return Boot(console.read_text(errors="replace"), returncode, seconds)


def _overlay(base: Path, overlay: Path) -> Path:
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base]
        + [overlay, str(OVERLAY_BYTES)],
        check=True,
    )
    return overlay


def _seed_iso(work: Path) -> Path:
    seed_dir = work / "seed"
    seed_dir.mkdir()
    meta_data = {"instance-id": "iid-shoal-e2e-1", "local-hostname": HOSTNAME}
    user_data = {
        "ssh_authorized_keys": [SSH_KEY],
        "runcmd": [["touch", "/root/ran"], ["sh", "-c", MARKER_COMMAND]],
        "power_state": {"mode": "poweroff", "condition": True},
    }
    (seed_dir / "meta-data").write_text(yaml.safe_dump(meta_data))
    (seed_dir / "user-data").write_text("#cloud-config\n" + yaml.safe_dump(user_data))

    iso = work / "seed.iso"
    subprocess.run(
        ["genisoimage", "-quiet", "-o", iso, "-V", "cidata", "-J", "-r"]
        + ["user-data", "meta-data"],
        cwd=seed_dir,
        check=True,
    )
    return iso


def _run_guest(overlay: Path, seed: Path, console: Path) -> int | None:
    argv = [
        "qemu-system-x86_64",
        "-accel", "tcg",
        "-machine", "pc",
        "-m", "1024",
        "-drive", f"file={overlay},if=virtio",
        "-drive", f"file={seed},media=cdrom,if=ide",
        "-nic", "user,model=virtio-net-pci,restrict=on",
        "-serial", f"file:{console}",
        "-display", "none",
        "-no-reboot",
    ]  # fmt: skip
    guest = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        return guest.wait(timeout=BOOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        guest.kill()
        guest.wait()
        return None


def test_boots_through_its_own_grub(boot: Boot) -> None:
    grub = boot.console.find("Loading Linux ...")
    kernel = boot.console.find("Linux version")

    assert 0 <= grub < kernel, f"no GRUB line before the kernel's\n{boot.tail()}"
    assert "root=LABEL=shoal-root" in boot.console, boot.tail()
    assert "console=ttyS0,115200" in boot.console, boot.tail()


def test_systemd_writes_to_the_serial_console(boot: Boot) -> None:
    assert "systemd[1]: Hostname set to" in boot.console, boot.tail()
    assert "Reached target" in boot.console, boot.tail()


def test_cloud_init_finishes_from_the_nocloud_seed(boot: Boot) -> None:
    finished = FINISHED.search(boot.console)

    assert finished, f"no cloud-init 'finished' line\n{boot.tail()}"
    assert finished[1] == "DataSourceNoCloud", boot.tail()
    assert finished[2] == "/dev/sr0", boot.tail()
    log.info("cloud-init finished uptime=%s wall=%.0f", finished[3], boot.seconds)


def test_user_data_runs_with_the_seed_hostname(boot: Boot) -> None:
    marker = MARKER.search(boot.console)

    assert marker, f"runcmd marker missing\n{boot.tail()}"
    assert marker[1] == HOSTNAME, boot.tail()


def test_root_grows_to_the_overlay_size(boot: Boot) -> None:
    marker = MARKER.search(boot.console)

    assert marker, f"runcmd marker missing\n{boot.tail()}"
    root_bytes = int(marker[2])
    assert root_bytes > 0.95 * OVERLAY_BYTES, f"root is {root_bytes} B\n{boot.tail()}"


def test_ssh_key_reaches_the_default_user(boot: Boot) -> None:
    # cloud-init prints a table of each user's authorized keys: type,
    # colon-separated sha256 of the key blob, options, comment.
    table = re.search(r"Authorized keys from (\S+) for user (\w+)", boot.console)

    assert table, f"no authorized keys table\n{boot.tail()}"
    assert table[2] == "debian", boot.tail()
    assert _fingerprint(SSH_KEY) in boot.console[table.end() :], boot.tail()


def _fingerprint(public_key: str) -> str:
    blob = base64.b64decode(public_key.split()[1])
    return ":".join(f"{byte:02x}" for byte in hashlib.sha256(blob).digest())


def test_guest_powers_off_when_done(boot: Boot) -> None:
    assert boot.returncode == 0, (
        f"qemu returncode={boot.returncode} after {boot.seconds:.0f}s "
        f"(None: killed at the {BOOT_TIMEOUT:.0f}s timeout)\n{boot.tail()}"
    )
