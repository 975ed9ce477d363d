"""A real Shoal: ``shoal serve`` with libvirtd and QEMU, inside the test's
network namespace (deploy/test.sh made it and runs pytest in it)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest
import yaml

from shoal.control.addresses import mac_for
from shoal.images.builder import build_image

SHOAL = [sys.executable, "-m", "shoal.control.cli"]
# Named per run, so that a run never meets what another run left or holds.
RUN = os.getpid() % 250
NETWORK = {
    "name": f"shoal-e2e-{RUN}",
    "bridge": f"shoale2e{RUN}",
    "cidr": f"10.119.{RUN}.0/24",
}
POOL = f"shoal-e2e-{RUN}"
# Shoal's default bound, which a guest on its first boot under TCG needs: it
# hears the power button only once logind runs, after cloud-init's first
# stage (about 85 s in, measured here). Backups due every few seconds.
ACTION_SETTINGS = {"shutdown_timeout_seconds": 120, "backup_interval_seconds": 20}


@dataclass
class Shoal:
    url: str
    token: str
    state_dir: Path
    config: Path

    def console(self, droplet_id: int) -> Path:
        return self.state_dir / "consoles" / f"droplet-{droplet_id}.log"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(config: Path, *args: str) -> str:
    env = {**os.environ, "SHOAL_CONFIG": str(config)}
    done = subprocess.run([*SHOAL, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _wait_listening(url: str, server: subprocess.Popen, log: Path) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"shoal serve did not listen\n{log.read_text()}")


class _Reconnecting:
    """A libvirt connection that opens again after libvirtd restarted."""

    def __init__(self, uri: str):
        self._uri = uri
        self._conn = libvirt.open(uri)

    def reopen(self) -> None:
        # isAlive() keeps saying yes until a call fails on the dead socket.
        self._conn = libvirt.open(self._uri)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


@pytest.fixture(scope="session")
def libvirt_conn():
    conn = _Reconnecting("qemu:///system")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def state_dir():
    # QEMU runs as libvirt-qemu and must traverse every directory down to the
    # disks: pytest's own temporary directories are private to root.
    path = Path(tempfile.mkdtemp(prefix="shoal-e2e-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def shoal(state_dir, libvirt_conn):
    state = state_dir
    port = _free_port()
    config = state / "shoal.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(state),
                "listen": f"127.0.0.1:{port}",
                "pool": POOL,
                "network": {**NETWORK, "forward": "none"},
                "rate_limit_per_minute": 1_000_000,
                "rate_limit_per_hour": 1_000_000,
                # Droplet actions (test_droplet_actions.py): a graceful
                # shutdown's bound, and backups due every few seconds.
                **ACTION_SETTINGS,
            }
        )
    )
    build_image("debian-12-x64")
    _cli(config, "image", "build", "debian-12-x64")
    token = _cli(config, "token", "create", "--name", "e2e")
    # Runs share one libvirtd and domains are named droplet-<id>: each run
    # numbers its droplets in a range of its own.
    with sqlite3.connect(state / "shoal.db") as db:
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'droplets'")
        db.execute(
            "INSERT INTO sqlite_sequence VALUES ('droplets', ?)", (RUN * 10_000,)
        )

    log = state / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [*SHOAL, "serve"],
            env={**os.environ, "SHOAL_CONFIG": str(config)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_listening(url, server, log)
        yield Shoal(url=url, token=token, state_dir=state, config=config)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        _remove_test_host_objects(libvirt_conn, state)


def _remove_test_host_objects(conn, state: Path | None = None) -> None:
    """Leave libvirtd as the run found it: the run's domains (even those a
    failed test left), the test pool and network go."""
    id_file = state / "installation-id" if state is not None else None
    if id_file is not None and id_file.exists():
        installation = uuid.UUID(id_file.read_text().strip())
        for dom in conn.listAllDomains():
            ours = uuid.uuid5(installation, dom.name())
            if (
                dom.name().startswith("droplet-")
                and uuid.UUID(dom.UUIDString()) == ours
            ):
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
    for pool in conn.listAllStoragePools():
        if pool.name() == POOL:
            if pool.isActive():
                pool.destroy()
            pool.undefine()
    for net in conn.listAllNetworks():
        if net.name() == NETWORK["name"]:
            if net.isActive():
                net.destroy()
            net.undefine()


@pytest.fixture
def leftovers(libvirt_conn):
    """What of a droplet libvirt still holds: domains, volumes, reservations."""

    def check(droplet_id: int) -> list[str]:
        name = f"droplet-{droplet_id}"
        found = [d.name() for d in libvirt_conn.listAllDomains() if d.name() == name]
        pool = libvirt_conn.storagePoolLookupByName(POOL)
        pool.refresh()
        found += [
            v
            for v in pool.listVolumes()
            if v.startswith(name + "-") or v.startswith(name + ".")
        ]
        for flags in (0, libvirt.VIR_NETWORK_XML_INACTIVE):
            xml = libvirt_conn.networkLookupByName(NETWORK["name"]).XMLDesc(flags)
            mac = mac_for(droplet_id)
            if mac in xml:
                found.append(f"dhcp host {mac} (flags={flags})")
        return found

    return check
