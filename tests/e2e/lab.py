"""Shoal installations a test can start, kill with SIGKILL and start again.

Each has its own state directory, storage pool and droplet network, so two
never see each other's domains, volumes or reservations.
"""

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
from pathlib import Path

import httpx
import libvirt
import yaml

SHOAL = [sys.executable, "-m", "shoal.control.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Installation:
    def __init__(self, name: str, subnet: int, extra: dict | None = None):
        self.name = name
        # QEMU runs as libvirt-qemu and must traverse down to the disks.
        self.state_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/var/tmp"))
        self.state_dir.chmod(0o755)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pool = name
        self.network = {
            "name": name,
            "bridge": name[:15],
            "cidr": f"10.121.{subnet}.0/24",
            "forward": "none",
        }
        self.config = self.state_dir / "shoal.yaml"
        settings = {
            "state_dir": str(self.state_dir),
            "listen": f"127.0.0.1:{self.port}",
            "pool": self.pool,
            "network": self.network,
            # Tests poll hard; DigitalOcean's budget is for people.
            "rate_limit_per_minute": 1_000_000,
            "rate_limit_per_hour": 1_000_000,
            **(extra or {}),
        }
        self.config.write_text(yaml.safe_dump(settings))
        self.server: subprocess.Popen | None = None
        self.cli("image", "build", "debian-12-x64")
        self.token = self.cli("token", "create", "--name", name)
        self._start_ids_at(subnet * 100_000)

    def _start_ids_at(self, first: int) -> None:
        # Domain names are droplet-<id> on a libvirtd that other test
        # installations share: distinct id ranges keep the names apart.
        with sqlite3.connect(self.state_dir / "shoal.db") as db:
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'droplets'")
            db.execute("INSERT INTO sqlite_sequence VALUES ('droplets', ?)", (first,))

    def owns(self, domain: libvirt.virDomain) -> bool:
        """True for domains this installation made (their UUID says so)."""
        installation = (self.state_dir / "installation-id").read_text().strip()
        ours = uuid.uuid5(uuid.UUID(installation), domain.name())
        return uuid.UUID(domain.UUIDString()) == ours

    def cli(self, *args: str) -> str:
        env = {**os.environ, "SHOAL_CONFIG": str(self.config)}
        done = subprocess.run([*SHOAL, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    @property
    def log(self) -> Path:
        return self.state_dir / "serve.log"

    def start(self, faults: str = "") -> None:
        env = {**os.environ, "SHOAL_CONFIG": str(self.config), "SHOAL_FAULTS": faults}
        with self.log.open("a") as output:
            self.server = subprocess.Popen(
                [*SHOAL, "serve"],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.server.poll() is None, self.log.read_text()[-4000:]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"shoal serve did not listen\n{self.log.read_text()}")

    def wait_exit(self, timeout: float = 60) -> int:
        return self.server.wait(timeout=timeout)

    def kill(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(timeout=60)

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            self.server.wait(timeout=60)

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def remove(self, conn: libvirt.virConnect) -> None:
        """Stop the server and take its domains, pool, network and state away
        (even after a failed test)."""
        self.stop()
        for domain in conn.listAllDomains():
            if domain.name().startswith("droplet-") and self.owns(domain):
                if domain.isActive():
                    domain.destroy()
                domain.undefine()
        for pool in conn.listAllStoragePools():
            if pool.name() == self.pool:
                if pool.isActive():
                    pool.destroy()
                pool.undefine()
        for net in conn.listAllNetworks():
            if net.name() == self.network["name"]:
                if net.isActive():
                    net.destroy()
                net.undefine()
        shutil.rmtree(self.state_dir, ignore_errors=True)
