"""Host device addresses, checked read-only on the loopback device."""

from __future__ import annotations

import ipaddress
import shutil

import pytest

from shoal.hypervisor import hostnet

pytestmark = pytest.mark.skipif(shutil.which("ip") is None, reason="no iproute2")


def test_reads_loopback_addresses() -> None:
    assert ipaddress.ip_interface("127.0.0.1/8") in hostnet.addresses("lo")


def test_present_address_is_left_alone() -> None:
    # Would raise if it tried `ip addr add` for an address lo already has.
    hostnet.ensure_address("lo", "127.0.0.1/8")
