"""Waiting on domain events: only an event counted after the request
counts, and a wait ends at its timeout; and the backup job's XML."""

from __future__ import annotations

import threading
import time

from shoal.control.domain_events import DomainEvents
from shoal.hypervisor.xml import BackupDisk, DomainBackup


def test_wait_returns_once_an_event_arrives_after_the_count_seen():
    events = DomainEvents()
    events.publish("droplet-7", "rebooted")
    seen = events.count("droplet-7", "rebooted")
    later = threading.Timer(0.1, events.publish, ("droplet-7", "rebooted"))
    later.start()

    assert events.wait("droplet-7", "rebooted", seen, timeout=5)
    assert events.count("droplet-7", "rebooted") == seen + 1


def test_wait_times_out_without_a_new_event():
    events = DomainEvents()
    events.publish("droplet-7", "rebooted")
    events.publish("droplet-8", "rebooted")
    started = time.monotonic()

    assert not events.wait("droplet-7", "rebooted", 1, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 2


def test_listeners_hear_every_event():
    events = DomainEvents()
    heard = []
    events.listen(lambda domain, kind: heard.append((domain, kind)))

    events.publish("droplet-7", "stopped")

    assert heard == [("droplet-7", "stopped")]


def test_backup_job_copies_one_disk_and_leaves_the_others_out():
    job = DomainBackup(
        disks=[
            BackupDisk(name="vda", target_file="/s/7.qcow2", driver_type="qcow2"),
            BackupDisk(name="hdc", backup=False),
        ]
    )

    assert job.to_xml() == (
        '<domainbackup mode="push">\n'
        "  <disks>\n"
        '    <disk name="vda" type="file">\n'
        '      <target file="/s/7.qcow2" />\n'
        '      <driver type="qcow2" />\n'
        "    </disk>\n"
        '    <disk name="hdc" backup="no" />\n'
        "  </disks>\n"
        "</domainbackup>\n"
    )
    assert DomainBackup.from_xml(job.to_xml()) == job
