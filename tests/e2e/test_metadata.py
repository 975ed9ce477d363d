"""Stock Debian configures itself as it would on DigitalOcean: once from its
NoCloud seed, once (debian-12-x64-do, no seed attached) from the metadata
service alone; each droplet sees its own data and nobody else's.

Two droplets boot once, side by side, and every test looks at them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import httpx
import pytest
from azure.core.pipeline.policies import HeadersPolicy
from pydo import Client

from shoal.hypervisor.xml import Domain
from tests.e2e.conftest import NETWORK, POOL, RUN, _cli
from tests.e2e.guest import ssh

pytestmark = pytest.mark.e2e

METADATA = "http://169.254.169.254"


def multipart_user_data() -> str:
    """A cloud-config part and a shell part, as cloud-init's make-mime builds it."""
    cloud_config = (
        "#cloud-config\n"
        "write_files:\n"
        "- path: /etc/part-a\n"
        "  content: part a\n"
        "runcmd:\n"
        "- [sh, -c, 'echo runcmd > /etc/part-c']\n"
    )
    message = MIMEMultipart(boundary="==shoal-e2e==")
    message.attach(MIMEText(cloud_config, "cloud-config"))
    message.attach(MIMEText("#!/bin/sh\ntouch /etc/part-b\n", "x-shellscript"))
    return message.as_string()


STOCK_USER_DATA = multipart_user_data()
DO_USER_DATA = (
    '#!/bin/sh\necho "user_data ran on $(hostname)" > /root/do-user-data.txt\n'
)


@dataclass
class Booted:
    id: int
    name: str
    address: str
    mac: str
    user_data: str
    create_to_done: float


@pytest.fixture(scope="module")
def do(shoal) -> Client:
    return Client(
        shoal.token,
        endpoint=shoal.url,
        authentication_policy=HeadersPolicy({"Authorization": f"Bearer {shoal.token}"}),
    )


@pytest.fixture(scope="module")
def keypair(tmp_path_factory) -> tuple[Path, str]:
    key = tmp_path_factory.mktemp("metadata-keys") / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
    )
    return key, key.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="module")
def fleet(do, shoal, keypair, libvirt_conn) -> dict[str, Booted]:
    """md-stock (seed, multipart user_data) and md-do (no seed), booted once."""
    _ids_from(shoal, 700_000 + RUN * 1000)
    _cli(shoal.config, "image", "build", "debian-12-x64-do")
    key_path, public_key = keypair
    key = do.ssh_keys.create({"name": "e2e-metadata", "public_key": public_key})
    plans = {
        "stock": ("md-stock", "debian-12-x64", STOCK_USER_DATA),
        "do": ("md-do", "debian-12-x64-do", DO_USER_DATA),
    }

    started = time.monotonic()
    created = {
        role: do.droplets.create(
            {
                "name": name, "region": "lab1", "size": "s-1vcpu-1gb",
                "image": image, "ssh_keys": [key["ssh_key"]["id"]],
                "user_data": user_data, "tags": ["e2e-md", f"role:{role}"],
            }
        )
        for role, (name, image, user_data) in plans.items()
    }  # fmt: skip
    try:
        yield {
            role: _booted(do, shoal, libvirt_conn, key_path, reply, started)
            for role, reply in created.items()
        }
    finally:
        for reply in created.values():
            do.droplets.destroy(reply["droplet"]["id"])
        _wait_domains_gone(libvirt_conn, [r["droplet"]["id"] for r in created.values()])


def _ids_from(shoal, first: int) -> None:
    """Droplet ids (so domain names) from `first` on: libvirtd is shared, and
    a domain another run left under a low id would block ours (B18)."""
    with sqlite3.connect(shoal.state_dir / "shoal.db") as db:
        (current,) = db.execute("SELECT max(id) FROM droplets").fetchone()
        if (current or 0) < first:
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'droplets'")
            db.execute("INSERT INTO sqlite_sequence VALUES ('droplets', ?)", (first,))


def _booted(do, shoal, conn, key_path, reply, started) -> Booted:
    droplet_id = reply["droplet"]["id"]
    _wait_action(do, reply["links"]["actions"][0]["id"], shoal.state_dir)
    droplet = do.droplets.get(droplet_id)["droplet"]
    (public,) = [n for n in droplet["networks"]["v4"] if n["type"] == "public"]

    _wait_cloud_init_done(key_path, public["ip_address"], shoal.console(droplet_id))
    elapsed = time.monotonic() - started
    print(f"{droplet['name']}: create -> cloud-init status done {elapsed:.1f}s")
    return Booted(
        id=droplet_id,
        name=droplet["name"],
        address=public["ip_address"],
        mac=_domain(conn, droplet_id).interfaces()[0].mac,
        user_data=STOCK_USER_DATA if droplet["name"] == "md-stock" else DO_USER_DATA,
        create_to_done=elapsed,
    )


def _domain(conn, droplet_id: int) -> Domain:
    return Domain.from_xml(conn.lookupByName(f"droplet-{droplet_id}").XMLDesc(0))


def _wait_action(do: Client, action_id: int, state_dir: Path, timeout=300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        action = do.actions.get(action_id)["action"]
        if action["status"] != "in-progress":
            log = (state_dir / "serve.log").read_text(errors="replace")[-4000:]
            assert action["status"] == "completed", f"{action}\n{log}"
            return
        time.sleep(0.5)
    raise AssertionError(f"action {action_id} still in progress after {timeout}s")


def _wait_cloud_init_done(key: Path, address: str, console: Path, timeout=600):
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        try:
            status = ssh(key, address, "cloud-init status", timeout=20)
        except subprocess.TimeoutExpired:
            status = None
        if status is not None and "status: done" in status.stdout:
            return
        if status is not None and "status: error" in status.stdout:
            break
        time.sleep(3)
    tail = console.read_text(errors="replace")[-3000:] if console.exists() else ""
    raise AssertionError(f"cloud-init on {address} not done: {status}\n{tail}")


def _wait_domains_gone(conn, droplet_ids: list[int], timeout: float = 120) -> None:
    names = {f"droplet-{i}" for i in droplet_ids}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not names & {d.name() for d in conn.listAllDomains()}:
            return
        time.sleep(0.5)


# Runs inside a guest (python3 comes with cloud-init): files, commands and
# metadata answers at once, as JSON, so each test pays for one SSH session.
PROBE = """
import hashlib, http.client, json, subprocess
spec = json.loads(SPEC)
out = {"files": {}, "commands": {}, "http": {}}
for path in spec["files"]:
    try:
        out["files"][path] = open(path, "rb").read().decode("utf-8", "replace")
    except OSError:
        out["files"][path] = None
for name, command in spec["commands"].items():
    done = subprocess.run(command, shell=True, capture_output=True, text=True)
    out["commands"][name] = [done.returncode, done.stdout, done.stderr]
for path in spec["http"]:
    conn = http.client.HTTPConnection("169.254.169.254", 80, timeout=5)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    out["http"][path] = {
        "status": r.status, "location": r.getheader("Location"),
        "type": r.getheader("Content-Type"), "text": body.decode("utf-8", "replace"),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
print(json.dumps(out))
"""


def probe(key: Path, guest: Booted, files=(), commands=None, http=()) -> dict:
    spec = json.dumps(
        {"files": list(files), "commands": commands or {}, "http": list(http)}
    )
    script = f"SPEC = {spec!r}\n{PROBE}"
    done = ssh(key, guest.address, "python3 -", timeout=120, stdin=script)
    assert done.returncode == 0, done
    return json.loads(done.stdout)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_B08_B13_stock_image_configures_itself_from_its_seed(
    fleet, keypair, record_property
):
    key, public_key = keypair
    stock = fleet["stock"]
    record_property("create_to_cloud_init_done_s", round(stock.create_to_done, 1))

    seen = probe(
        key,
        stock,
        files=[
            "/run/cloud-init/result.json", "/sys/class/dmi/id/sys_vendor",
            "/sys/class/dmi/id/product_name", "/sys/class/dmi/id/product_serial",
            "/var/lib/cloud/data/instance-id", "/root/.ssh/authorized_keys",
            "/home/debian/.ssh/authorized_keys",
        ],
        commands={"hostname": "hostname", "instances": "ls /var/lib/cloud/instances"},
        http=["/metadata/v1/id"],
    )  # fmt: skip

    files, commands = seen["files"], seen["commands"]
    result = json.loads(files["/run/cloud-init/result.json"])["v1"]
    assert result["errors"] == [], result
    assert result["datasource"].startswith("DataSourceNoCloud"), result
    assert commands["hostname"][1].strip() == stock.name
    assert files["/sys/class/dmi/id/sys_vendor"].strip() == "DigitalOcean"
    assert files["/sys/class/dmi/id/product_name"].strip() == "Droplet"
    ids = {
        files["/sys/class/dmi/id/product_serial"].strip(),
        files["/var/lib/cloud/data/instance-id"].strip(),
        commands["instances"][1].strip(),
        seen["http"]["/metadata/v1/id"]["text"],
    }
    assert ids == {str(stock.id)}, seen
    assert public_key in files["/root/.ssh/authorized_keys"]
    assert public_key in files["/home/debian/.ssh/authorized_keys"]
    assert ssh(key, stock.address, "true", user="debian").returncode == 0


def test_B10_multipart_user_data_both_parts_run_byte_for_byte(fleet, keypair):
    key, _ = keypair
    stock = fleet["stock"]

    seen = probe(
        key,
        stock,
        files=["/etc/part-a", "/etc/part-c"],
        commands={
            "part-b": "test -e /etc/part-b",
            "sha": "sha256sum /var/lib/cloud/instance/user-data.txt",
            "unhandled": "grep -c 'Unhandled non-multipart' /var/log/cloud-init.log",
        },
        http=["/metadata/v1/user-data"],
    )

    files, commands = seen["files"], seen["commands"]
    assert files["/etc/part-a"] == "part a", seen
    assert commands["part-b"][0] == 0, seen
    # runcmd runs: the vendor data leaves the image's module lists alone.
    assert files["/etc/part-c"] == "runcmd\n", seen
    posted = sha256(stock.user_data)
    assert commands["sha"][1].split()[0] == posted
    assert seen["http"]["/metadata/v1/user-data"]["sha256"] == posted
    assert commands["unhandled"][1].strip() == "0"


def test_metadata_only_image_configures_itself_without_a_seed(
    fleet, keypair, libvirt_conn, record_property
):
    key, public_key = keypair
    guest = fleet["do"]
    record_property("create_to_cloud_init_done_s", round(guest.create_to_done, 1))
    domain = _domain(libvirt_conn, guest.id)
    pool = libvirt_conn.storagePoolLookupByName(POOL)
    pool.refresh()

    seen = probe(
        key,
        guest,
        files=[
            "/run/cloud-init/result.json", "/root/.ssh/authorized_keys",
            "/root/do-user-data.txt", "/var/lib/cloud/data/instance-id",
        ],
        commands={
            "hostname": "hostname",
            "sha": "sha256sum /var/lib/cloud/instance/user-data.txt",
            "address": "ip -4 -o addr show scope global",
            "defaults": "ip route show default",
        },
    )  # fmt: skip

    assert [d.device for d in domain.disks()] == ["disk"]
    assert f"droplet-{guest.id}-seed.iso" not in pool.listVolumes()
    files, commands = seen["files"], seen["commands"]
    result = json.loads(files["/run/cloud-init/result.json"])["v1"]
    assert result["errors"] == [], result
    assert result["datasource"].startswith("DataSourceDigitalOcean"), result
    assert commands["hostname"][1].strip() == guest.name
    assert public_key in files["/root/.ssh/authorized_keys"]
    assert files["/root/do-user-data.txt"] == f"user_data ran on {guest.name}\n"
    assert files["/var/lib/cloud/data/instance-id"].strip() == str(guest.id)
    assert commands["sha"][1].split()[0] == sha256(guest.user_data)
    assert f" {guest.address}/" in commands["address"][1], seen
    assert len(commands["defaults"][1].splitlines()) == 1, seen  # B14


def test_B14_tree_and_v1_json_match_the_api_from_inside_the_guest(
    fleet, keypair, do, libvirt_conn
):
    key, public_key = keypair
    stock = fleet["stock"]
    api = do.droplets.get(stock.id)["droplet"]
    (public,) = [n for n in api["networks"]["v4"] if n["type"] == "public"]
    (nic,) = _domain(libvirt_conn, stock.id).interfaces()
    leaves = {
        "id": str(api["id"]),
        "hostname": api["name"],
        "region": api["region"]["slug"],
        "public-keys": public_key,
        "interfaces/public/0/mac": nic.mac,
        "interfaces/public/0/type": "public",
        "interfaces/public/0/ipv4/address": public["ip_address"],
        "interfaces/public/0/ipv4/netmask": public["netmask"],
        "interfaces/public/0/ipv4/gateway": public["gateway"],
        "floating_ip/ipv4/active": "false",
        "features/dhcp_enabled": "true",
    }
    folders = ["/metadata/v1/", "/metadata/v1/tags/", "/metadata/v1/interfaces/"]
    moved = ["/metadata/v1", "/metadata/v1/interfaces/public/0"]
    missing = ["/metadata/v1/nope", "/metadata/v1/interfaces/private/0/mac"]

    answers = probe(
        key,
        stock,
        http=["/metadata/v1.json", *(f"/metadata/v1/{p}" for p in leaves)]
        + folders
        + moved
        + missing,
    )["http"]

    doc = json.loads(answers["/metadata/v1.json"]["text"])
    assert doc["droplet_id"] == api["id"] and doc["hostname"] == api["name"]
    assert doc["interfaces"]["public"][0] == {
        "ipv4": {
            "ip_address": public["ip_address"],
            "netmask": public["netmask"],
            "gateway": public["gateway"],
        },
        "mac": nic.mac,
        "type": "public",
    }
    assert set(doc["interfaces"]) == {"public"}
    assert doc["dns"]["nameservers"], doc
    assert sorted(doc["tags"]) == sorted(api["tags"])
    assert doc["public_keys"] == [public_key]
    for path, value in leaves.items():
        answer = answers[f"/metadata/v1/{path}"]
        assert (answer["status"], answer["text"]) == (200, value), (path, answer)
        assert answer["type"].startswith("text/plain")
    assert answers["/metadata/v1/"]["text"].splitlines()[:2] == ["id", "hostname"]
    assert sorted(answers["/metadata/v1/tags/"]["text"].split()) == sorted(api["tags"])
    assert answers["/metadata/v1/interfaces/"]["text"] == "public/\n"
    for path in moved:
        assert (
            answers[path]["status"] == 301 and answers[path]["location"] == path + "/"
        )
    for path in missing:
        assert answers[path]["status"] == 404, (path, answers[path])


def test_link_local_caller_is_answered_within_cloud_inits_timeout(fleet, keypair):
    # As cloud-init's DigitalOcean datasource does at boot: a random
    # 169.254/16 address on the first NIC, 2 s per try.
    key, _ = keypair
    stock = fleet["stock"]
    command = (
        "ip addr add 169.254.77.9/16 dev eth0 && "
        "curl -s -m 2 --interface 169.254.77.9 -w ' %{time_total}' "
        f"{METADATA}/metadata/v1/id; "
        "ip addr del 169.254.77.9/16 dev eth0"
    )

    done = ssh(key, stock.address, command)

    answer, seconds = done.stdout.split()
    assert answer == str(stock.id), done
    assert float(seconds) < 2.0, done


SPOOF = """#!/bin/sh
# Runs detached: while the guest wears another droplet's MAC, SSH is cut.
own=$(cat /sys/class/net/eth0/address)
ask() {
    curl -s -m 4 -o /root/spoof-$1.body -w '%{http_code}' $2 \\
        http://169.254.169.254/metadata/v1.json > /root/spoof-$1.code
}
wear() {
    ip link set dev eth0 address $1
    cat /sys/class/net/eth0/address > /root/spoof-$2.mac
}
wear OTHER_MAC mac; ask mac ""; wear $own back
ip addr add OTHER_IP/32 dev eth0
ask ip "--interface OTHER_IP"
wear OTHER_MAC both; ask both "--interface OTHER_IP"; wear $own back
ip addr del OTHER_IP/32 dev eth0
touch /root/spoof.done
"""


def test_spoofed_mac_or_address_gets_nothing_of_another_droplet(fleet, keypair):
    key, _ = keypair
    stock, other = fleet["stock"], fleet["do"]
    script = SPOOF.replace("OTHER_MAC", other.mac).replace("OTHER_IP", other.address)
    ssh(key, stock.address, "cat > /root/spoof.sh", stdin=script)

    ssh(
        key,
        stock.address,
        "setsid sh /root/spoof.sh >/root/spoof.log 2>&1 < /dev/null &",
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (
            ssh(key, stock.address, "test -e /root/spoof.done", timeout=20).returncode
            == 0
        ):
            break
        time.sleep(2)
    seen = probe(
        key,
        stock,
        files=[
            f"/root/spoof-{case}.{ext}"
            for case in ("mac", "ip", "both")
            for ext in ("code", "body", "mac")
        ],
    )["files"]

    # The spoof really happened, and the service gave nothing back.
    assert seen["/root/spoof-mac.mac"].strip() == other.mac, seen
    assert seen["/root/spoof-both.mac"].strip() == other.mac, seen
    for case in ("mac", "ip", "both"):
        assert seen[f"/root/spoof-{case}.code"] in ("000", "404"), (case, seen)
        body = seen[f"/root/spoof-{case}.body"] or ""
        assert "droplet_id" not in body and other.name not in body, (case, seen)


def _local_route_device(address: str) -> str:
    shown = subprocess.run(
        ["ip", "-j", "route", "show", "table", "local", address],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(shown.stdout)[0]["dev"]


def test_the_host_gets_404(fleet):
    # The host's own connection comes in on the device its local route for
    # the address names; in a namespace shared with other runs that may be
    # another Shoal's bridge, where the answer is theirs (or a refusal).
    ours = _local_route_device("169.254.169.254") == NETWORK["bridge"]

    try:
        response = httpx.get(f"{METADATA}/metadata/v1.json", timeout=5)
    except httpx.ConnectError:
        assert not ours, "our metadata listener refused the host"
        pytest.skip("another bridge holds the local route of 169.254.169.254")

    assert response.status_code == 404, response.text
