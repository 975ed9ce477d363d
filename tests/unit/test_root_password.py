"""password_reset's guest side: the vendor-data bootcmd that sets root's
password hash once per new hash, run here by a real shell against a stand-in
chpasswd."""

from __future__ import annotations

import os
import subprocess

import yaml

from shoal.control import cloudinit

HASH_A = "$6$saltsalt$" + "a" * 86
HASH_B = "$6$pepper$" + "b" * 86


def run_bootcmd(tmp_path, password_hash: str) -> None:
    argv = cloudinit.password_bootcmd(password_hash)
    marker = tmp_path / "marker"
    # The same command, pointed at a marker and a chpasswd under tmp_path.
    argv[argv.index(cloudinit.PASSWORD_MARKER)] = str(marker)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    subprocess.run(argv, check=True, env=env)


def fake_chpasswd(tmp_path):
    log = tmp_path / "applied"
    script = tmp_path / "chpasswd"
    script.write_text(f'#!/bin/sh\ntest "$1" = -e || exit 9\ncat >> {log}\n')
    script.chmod(0o755)
    return log


def test_bootcmd_applies_a_new_hash_once_and_the_next_one_again(tmp_path):
    applied = fake_chpasswd(tmp_path)

    run_bootcmd(tmp_path, HASH_A)
    run_bootcmd(tmp_path, HASH_A)
    run_bootcmd(tmp_path, HASH_B)

    assert applied.read_text().splitlines() == [f"root:{HASH_A}", f"root:{HASH_B}"]


def test_vendor_data_carries_the_bootcmd_only_with_a_hash():
    plain = yaml.safe_load(cloudinit.vendor_data())
    with_hash = yaml.safe_load(cloudinit.vendor_data(HASH_A))

    assert "bootcmd" not in plain
    assert with_hash["bootcmd"] == [cloudinit.password_bootcmd(HASH_A)]
    assert with_hash["disable_root"] is False
    assert cloudinit.vendor_data(HASH_A).startswith("#cloud-config\n")


def test_seed_vendor_data_has_the_hash_the_droplet_keeps():
    files = cloudinit.seed_files(7, "web-1", [], None, "version: 1\n", HASH_A)

    vendor = yaml.safe_load(files["vendor-data"])
    assert HASH_A in vendor["bootcmd"][0]
