"""What must hold between Shoal's API and libvirt once no action runs."""

from __future__ import annotations

import time

import httpx
import libvirt

from tests.e2e.lab import Installation


def settle(api: httpx.Client, timeout: float = 120) -> list[dict]:
    """Wait until no action is in progress; returns every action."""
    deadline = time.monotonic() + timeout
    while True:
        listed = api.get("/v2/actions", params={"per_page": 200}).json()["actions"]
        if not [a for a in listed if a["status"] == "in-progress"]:
            return listed
        assert time.monotonic() < deadline, f"actions still in progress: {listed}"
        time.sleep(0.5)


def _reservations(conn: libvirt.virConnect, network: str) -> set[tuple[str, str]]:
    import xml.etree.ElementTree as ET

    found = set()
    net = conn.networkLookupByName(network)
    for flags in (0, libvirt.VIR_NETWORK_XML_INACTIVE):
        root = ET.fromstring(net.XMLDesc(flags))
        for host in root.iter("host"):
            found.add((host.get("mac").lower(), host.get("ip")))
    return found


def violations(lab: Installation, conn: libvirt.virConnect) -> list[str]:
    """Every broken invariant, checked against libvirt itself."""
    with lab.client() as api:
        actions = settle(api)
        droplets = api.get("/v2/droplets", params={"per_page": 200}).json()["droplets"]
    problems = [
        f"action {a['id']} in progress" for a in actions if a["status"] == "in-progress"
    ]

    domains = {
        d.name(): d
        for d in conn.listAllDomains()
        if d.name().startswith("droplet-") and _owned_or_expected(lab, d, droplets)
    }
    pool = conn.storagePoolLookupByName(lab.pool)
    pool.refresh()
    volumes = {v for v in pool.listVolumes() if v.startswith("droplet-")}
    reservations = _reservations(conn, lab.network["name"])

    expected_domains, expected_volumes, expected_reservations = set(), set(), set()
    for droplet in droplets:
        name = f"droplet-{droplet['id']}"
        expected_domains.add(name)
        expected_volumes |= {f"{name}.qcow2", f"{name}-seed.iso"}
        (public,) = [n for n in droplet["networks"]["v4"] if n["type"] == "public"]
        domain = domains.get(name)
        if domain is None:
            problems.append(f"droplet {droplet['id']} has no domain")
            continue
        running = domain.isActive() == 1
        if running != (droplet["status"] == "active"):
            problems.append(f"{name}: status {droplet['status']}, running={running}")
        problems += _plan_mismatches(domain, pool, droplet)
        mac = _mac_of(domain)
        expected_reservations.add((mac, public["ip_address"]))

    problems += [f"domain {n} has no droplet" for n in set(domains) - expected_domains]
    problems += [f"volume {v} has no droplet" for v in volumes - expected_volumes]
    problems += [f"volume {v} missing" for v in expected_volumes - volumes]
    problems += [
        f"reservation {r} has no droplet" for r in reservations - expected_reservations
    ]
    problems += [
        f"reservation {r} missing" for r in expected_reservations - reservations
    ]
    problems += _image_file_mismatches(lab, api_images(lab))
    ips = [r[1] for r in expected_reservations]
    if len(ips) != len(set(ips)):
        problems.append(f"addresses shared: {sorted(ips)}")
    return problems


def api_images(lab: Installation) -> list[dict]:
    """The droplet images (snapshots, backups) the API knows."""
    with lab.client() as api:
        listed = api.get("/v2/images", params={"private": "true", "per_page": 200})
    return [i for i in listed.json()["images"] if i["type"] in ("snapshot", "backup")]


def _plan_mismatches(domain, pool, droplet: dict) -> list[str]:
    """The domain's definition and disk must be the droplet's plan."""
    import xml.etree.ElementTree as ET

    name = domain.name()
    root = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    vcpus = int(root.findtext("vcpu"))
    memory_mib = int(root.findtext("memory")) // 1024
    capacity = pool.storageVolLookupByName(f"{name}.qcow2").info()[1]
    problems = []
    if (vcpus, memory_mib) != (droplet["vcpus"], droplet["memory"]):
        problems.append(
            f"{name}: {vcpus} vCPUs {memory_mib} MiB defined, the droplet has "
            f"{droplet['vcpus']} vCPUs {droplet['memory']} MiB"
        )
    if capacity != droplet["disk"] * 2**30:
        problems.append(f"{name}: disk {capacity} bytes, plan {droplet['disk']} GiB")
    return problems


def _image_file_mismatches(lab: Installation, images: list[dict]) -> list[str]:
    # One standalone file per snapshot or backup image, and no other file:
    # a copy cut short by a crash must not stay behind.
    folder = lab.state_dir / "images" / "snapshots"
    files = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    if len(files) != len(images):
        return [f"snapshot files {files} for images {[i['id'] for i in images]}"]
    return []


def _owned_or_expected(lab: Installation, domain, droplets: list[dict]) -> bool:
    return lab.owns(domain) or domain.name() in {f"droplet-{d['id']}" for d in droplets}


def _mac_of(domain: libvirt.virDomain) -> str:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(domain.XMLDesc(0))
    return root.find("devices/interface/mac").get("address").lower()
