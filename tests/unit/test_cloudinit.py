"""What the droplet's cloud-init reads from its seed."""

from __future__ import annotations

import ipaddress

import yaml

from shoal.control import cloudinit
from shoal.control.addresses import mac_for

NET = ipaddress.IPv4Network("10.118.0.0/24")


def test_B11_network_config_is_v1_without_wrapper_for_the_lowercase_mac():
    text = cloudinit.network_config(
        "52:54:00:AA:00:07", "10.118.0.7", NET, "10.118.0.1", []
    )

    config = yaml.safe_load(text)

    assert config["version"] == 1
    assert "network" not in config
    (interface,) = config["config"]
    assert interface["mac_address"] == "52:54:00:aa:00:07"
    (subnet,) = interface["subnets"]
    assert subnet == {
        "type": "static",
        "address": "10.118.0.7/24",
        "gateway": "10.118.0.1",
    }


def test_network_config_names_its_nameservers():
    text = cloudinit.network_config(
        mac_for(7), "10.118.0.7", NET, "10.118.0.1", ["10.118.0.1"]
    )
    (interface,) = yaml.safe_load(text)["config"]
    assert interface["subnets"][0]["dns_nameservers"] == ["10.118.0.1"]


def test_B13_instance_id_is_the_droplet_id_and_keys_are_listed():
    meta = yaml.safe_load(cloudinit.meta_data(42, "web-1", ["ssh-ed25519 AAAA x"]))
    assert meta == {
        "instance-id": "42",
        "local-hostname": "web-1",
        "public-keys": ["ssh-ed25519 AAAA x"],
    }


def test_B10_user_data_is_passed_byte_for_byte_and_present_when_absent():
    multipart = (
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\x00é\r\n--b--\r\n'
    )
    files = cloudinit.seed_files(1, "a", [], multipart, "version: 1\n")
    empty = cloudinit.seed_files(1, "a", [], None, "version: 1\n")

    assert files["user-data"] == multipart.encode()
    assert empty["user-data"] == b""
    assert set(empty) == {"meta-data", "user-data", "vendor-data", "network-config"}


def test_vendor_data_lets_root_log_in_with_the_keys():
    text = cloudinit.vendor_data()
    assert text.startswith("#cloud-config\n")
    assert yaml.safe_load(text)["disable_root"] is False


def test_vendor_data_leaves_the_images_module_lists_alone():
    # Vendor data overrides cloud.cfg's lists: a short list would drop
    # runcmd and packages from every droplet.
    config = yaml.safe_load(cloudinit.vendor_data())

    assert config == {"disable_root": False, "manage_etc_hosts": True}


def test_macs_are_distinct_per_droplet_and_lowercase():
    macs = {mac_for(i) for i in range(1, 5000)}
    assert len(macs) == 4999
    assert mac_for(0x0A0B0C) == "52:54:00:0a:0b:0c"
