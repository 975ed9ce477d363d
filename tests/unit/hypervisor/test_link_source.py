"""What the host's kernel says about the peer of a connection: the source
MAC of its SYN, and the neighbour table's entry for its address."""

from __future__ import annotations

import socket

import pytest

from shoal.hypervisor import hostnet

GUEST_MAC = bytes.fromhex("525400000007")
BRIDGE_MAC = bytes.fromhex("fe5400000001")
IPV4_HEADER_START = bytes([0x45, 0x00])


def frame(src: bytes, ethertype: bytes = b"\x08\x00", payload=IPV4_HEADER_START):
    return BRIDGE_MAC + src + ethertype + payload


def test_source_mac_of_an_ethernet_ipv4_syn():
    assert hostnet.link_source_mac(frame(GUEST_MAC)) == "52:54:00:00:00:07"


@pytest.mark.parametrize(
    "saved",
    [
        b"",
        IPV4_HEADER_START + b"\0" * 20,  # saved without its link header
        frame(b"\0" * 6),  # loopback: the host itself
        frame(GUEST_MAC, ethertype=b"\x86\xdd"),
        frame(GUEST_MAC, payload=bytes([0x60])),
    ],
)
def test_no_source_mac_when_the_syn_did_not_come_over_ethernet_ipv4(saved):
    assert hostnet.link_source_mac(saved) is None


def test_listener_keeps_each_syn_with_its_link_header():
    # Needs Linux 5.10+ (TCP_SAVE_SYN = 2) and CAP_NET_RAW for the device.
    with hostnet.device_socket("lo", "127.0.0.1", 0) as listener:
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                saved = accepted.getsockopt(
                    socket.IPPROTO_TCP, hostnet.TCP_SAVED_SYN, 512
                )
                again = hostnet.syn_source_mac(accepted)

    assert saved[12:14] == b"\x08\x00", saved.hex()
    assert saved[14] >> 4 == 4
    assert again is None  # handed out once


def test_neighbour_mac_is_read_per_device(tmp_path, monkeypatch):
    table = tmp_path / "arp"
    table.write_text(
        "IP address   HW type  Flags  HW address         Mask  Device\n"
        "169.254.7.9  0x1      0x2    52:54:00:00:00:07  *     shoalbr0\n"
        "169.254.7.9  0x1      0x2    52:54:00:00:00:09  *     otherbr\n"
        "10.118.0.5   0x1      0x0    00:00:00:00:00:00  *     shoalbr0\n"
    )
    monkeypatch.setattr(hostnet, "ARP_TABLE", str(table))

    assert hostnet.neighbour_mac("shoalbr0", "169.254.7.9") == "52:54:00:00:00:07"
    assert hostnet.neighbour_mac("otherbr", "169.254.7.9") == "52:54:00:00:00:09"
    assert hostnet.neighbour_mac("shoalbr0", "10.118.0.5") is None  # incomplete
    assert hostnet.neighbour_mac("shoalbr0", "10.118.0.6") is None
