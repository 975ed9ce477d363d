"""`Host`: a lazy, shared connection that heals itself after libvirtd dies."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shoal.hypervisor import lifecycle
from shoal.hypervisor.connection import Host
from shoal.hypervisor.errors import HypervisorUnavailable

from .conftest import TEST_URI


def test_connects_lazily_and_reports_unreachable_uri() -> None:
    host = Host("qemu+unix:///system?socket=/nonexistent/libvirt-sock")

    with pytest.raises(HypervisorUnavailable, match="cannot connect"):
        host.connection()


def test_connection_is_shared(host: Host) -> None:
    assert host.connection() is host.connection()


def test_threads_share_one_connection() -> None:
    with Host(TEST_URI) as host:
        with ThreadPoolExecutor(max_workers=16) as workers:
            conns = list(workers.map(lambda _: host.connection(), range(64)))

        assert len({id(c) for c in conns}) == 1


def test_replaces_a_connection_closed_behind_its_back() -> None:
    with Host(TEST_URI) as host:
        first = host.connection()
        first.close()

        second = host.connection()

        assert second is not first and second.isAlive()


class PrivateDaemon:
    """A libvirtd of our own on a private socket, serving only the test driver,
    so the test can kill and restart it without touching the system daemon."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.socket = workdir / "libvirt-sock"
        self.uri = f"test+unix:///default?socket={self.socket}"
        (workdir / "drivers").mkdir()
        (workdir / "libvirtd.conf").write_text(
            f'unix_sock_dir = "{workdir}"\n'
            'auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        # An empty driver directory: no qemu, network or storage drivers that
        # would compete with the system daemon for their state.
        env = {**os.environ, "LIBVIRT_DRIVER_DIR": str(self.workdir / "drivers")}
        self.proc = subprocess.Popen(
            ["libvirtd", "-f", str(self.workdir / "libvirtd.conf")]
            + ["-p", str(self.workdir / "pid")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "libvirtd.log").open("ab"),
        )
        deadline = time.monotonic() + 10
        while not self._listening():
            assert self.proc.poll() is None, (self.workdir / "libvirtd.log").read_text()
            assert time.monotonic() < deadline, "private libvirtd did not listen"
            time.sleep(0.05)

    def _listening(self) -> bool:
        # The socket file appears at bind(), a moment before listen().
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(self.socket))
            except OSError:
                return False
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.socket.unlink(missing_ok=True)


@pytest.fixture
def daemon() -> Iterator[PrivateDaemon]:
    if shutil.which("libvirtd") is None or os.geteuid() != 0:
        pytest.skip("needs libvirtd and root")
    workdir = Path(tempfile.mkdtemp(prefix="shoaltest-lv-", dir="/tmp"))
    private = PrivateDaemon(workdir)
    private.start()
    yield private
    private.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_reconnects_after_libvirtd_restarts(daemon: PrivateDaemon) -> None:
    with Host(daemon.uri) as host:
        assert lifecycle.list_domains(host, prefix="") == ["test"]

        daemon.stop()
        with pytest.raises(HypervisorUnavailable):
            lifecycle.list_domains(host, prefix="")
        with pytest.raises(HypervisorUnavailable):
            host.connection()

        daemon.start()
        assert lifecycle.list_domains(host, prefix="") == ["test"]
