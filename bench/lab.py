"""A real ``shoal serve`` for one benchmark run, and everything it leaves
on libvirtd taken away afterwards.

Each run gets its own state directory under /var/tmp, its own libvirt pool,
network, bridge and /24, and its own range of droplet ids, so that it never
meets what a test run or another Shoal on the same libvirtd holds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import libvirt
import yaml
from sqlalchemy import select

from shoal.control.db import Database
from shoal.control.models import Droplet, Image

SHOAL = [sys.executable, "-m", "shoal.control.cli"]
RUN = os.getpid() % 200
IMAGE = "debian-12-x64"

# Shoal names a droplet's domain after its id alone, so two Shoals on one
# libvirtd both want a "droplet-1", and the second one's create fails.
# Starting this run's ids far above any other's keeps its domains apart.
FIRST_ID = 700_000 + RUN * 1_000


def _drop_message(_context: object, _error: object) -> None:
    """libvirt prints every error before raising it; the exception has it."""


libvirt.registerErrorHandler(_drop_message, None)


@dataclass
class Names:
    network: str = f"shoal-bench-{RUN}"
    bridge: str = f"shoalbn{RUN}"
    cidr: str = f"10.120.{RUN}.0/24"
    pool: str = f"shoal-bench-{RUN}"


@dataclass
class Shoal:
    url: str
    token: str
    state_dir: Path
    config: Path
    process: subprocess.Popen
    names: Names
    client: httpx.Client = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def console(self, droplet_id: int) -> Path:
        return self.state_dir / "consoles" / f"droplet-{droplet_id}.log"

    def cli(self, *args: str) -> str:
        return cli(self.config, *args)


def cli(config: Path, *args: str) -> str:
    env = {**os.environ, "SHOAL_CONFIG": str(config)}
    done = subprocess.run([*SHOAL, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"shoal {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


def make_state_dir(prefix: str = "shoal-bench-") -> Path:
    # QEMU runs as libvirt-qemu and must traverse every directory down to
    # the disks; mkdtemp makes them private to root.
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    path.chmod(0o755)
    return path


@contextmanager
def running_shoal(
    settings: dict | None = None, cpus: str | None = None
) -> Iterator[Shoal]:
    """Start Shoal on a fresh state directory; on exit remove all it made."""
    names = Names()
    state = make_state_dir()
    port = _free_port()
    config = _write_config(state, port, names, settings or {})
    server = None
    try:
        token = cli(config, "token", "create", "--name", "bench")
        _register_image(config)
        _reserve_ids_below(state / "shoal.db", FIRST_ID)
        server = _start(config, state, cpus)
        url = f"http://127.0.0.1:{port}"
        _wait_listening(port, server, state / "serve.log")
        client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        with client:
            yield Shoal(url, token, state, config, server, names, client)
    finally:
        if server is not None:
            _stop(server)
        remove_libvirt_objects(names)
        shutil.rmtree(state, ignore_errors=True)


def _write_config(state: Path, port: int, names: Names, extra: dict) -> Path:
    config = state / "shoal.yaml"
    settings = {
        "state_dir": str(state),
        "listen": f"127.0.0.1:{port}",
        "pool": names.pool,
        "network": {
            "name": names.network,
            "bridge": names.bridge,
            "cidr": names.cidr,
            "forward": "none",
        },
        "droplet_limit": 200,
        # The default budget (250 a minute, DigitalOcean's) would answer the
        # benchmark's own polling and load with 429s. The limiter still
        # runs on every request; only its budget is out of reach.
        "rate_limit_per_minute": 10**9,
        "rate_limit_per_hour": 10**9,
        **extra,
    }
    config.write_text(yaml.safe_dump(settings))
    return config


def _reserve_ids_below(database: Path, first_id: int) -> None:
    """Make ``first_id`` the next droplet id.

    A hidden row just below it does that whether or not the table counts
    ids with AUTOINCREMENT (a table rebuilt by a migration may not).
    """
    db = Database(f"sqlite:///{database}")
    with db.transaction() as session:
        image = session.scalar(select(Image).where(Image.slug == IMAGE))
        session.add(
            Droplet(
                id=first_id - 1,
                name="bench-id-floor",
                # No status the engine or the reconciler acts on.
                status="archive",
                size_slug="s-1vcpu-512mb-10gb",
                region_slug="lab1",
                image=image,
                memory=512,
                vcpus=1,
                disk=10,
                deleted=True,
            )
        )
    db.engine.dispose()


def _register_image(config: Path) -> None:
    try:
        cli(config, "image", "build", IMAGE)
    except RuntimeError as err:
        # The namespace has no way out: a cache miss cannot be built here.
        raise RuntimeError(
            f"{err}\nBuild the image outside the namespace first:\n"
            f"  /opt/shoal/venv/bin/python -m shoal.images.builder {IMAGE}"
        ) from None


def _start(config: Path, state: Path, cpus: str | None) -> subprocess.Popen:
    pin = ["taskset", "-c", cpus] if cpus else []
    with (state / "serve.log").open("w") as log:
        return subprocess.Popen(
            [*pin, *SHOAL, "serve"],
            env={**os.environ, "SHOAL_CONFIG": str(config)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, server: subprocess.Popen, log: Path) -> None:
    # The first start on a state directory probes KVM, which takes seconds.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"shoal serve exited:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"shoal serve did not listen:\n{log.read_text()[-3000:]}")


def remove_libvirt_objects(names: Names, extra_domains: tuple[str, ...] = ()) -> None:
    """This run's domains, pool and network go, whatever state they are in."""
    conn = libvirt.open("qemu:///system")
    try:
        for dom in conn.listAllDomains():
            if _ours(dom.name()) or dom.name() in extra_domains:
                remove_domain(dom)
        for pool in conn.listAllStoragePools():
            if pool.name() == names.pool:
                if pool.isActive():
                    pool.destroy()
                pool.undefine()
        for net in conn.listAllNetworks():
            if net.name() == names.network:
                if net.isActive():
                    net.destroy()
                net.undefine()
    finally:
        conn.close()


def _ours(domain: str) -> bool:
    prefix, _, number = domain.partition("-")
    if prefix != "droplet" or not number.isdigit():
        return domain.startswith(f"bench-{RUN}-")
    return FIRST_ID <= int(number) < FIRST_ID + 1_000


def remove_domain(dom: libvirt.virDomain) -> None:
    try:
        if dom.isActive():
            dom.destroy()
        if dom.isPersistent():
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    except libvirt.libvirtError as err:
        # A transient domain is gone once destroyed.
        if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
