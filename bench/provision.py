"""Benchmark 1: provisioning, host side.

From ``POST /v2/droplets`` to the create action ``completed`` (the domain
runs), against the floor (qemu-img overlay + ``virsh create`` of the XML
Shoal defined) and ``virt-install --import`` of the same guest, taken in
turns in one run so that the machine's noise falls on all three alike.

    python -m bench.provision [--count 10]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import libvirt

from bench import baselines, droplets, report, serve_log
from bench.isolation import enter_namespace, host_lock
from bench.lab import IMAGE, Shoal, running_shoal
from shoal.control.addresses import mac_for

METHODS = ("shoal", "floor", "virt-install")
# Run when Shoal's domains carry a network filter: the floor without it.
BARE = "floor, no nwfilter"
TARGETS = {"shoal/floor": 1.5, "shoal/virt-install": 1.0}


def measure_shoal(
    shoal: Shoal, conn: libvirt.virConnect, name: str, steps: list | None = None, **opts
) -> float:
    """One droplet from POST to running, then deleted and waited for."""
    created = droplets.create_and_wait(shoal.client, name, **opts)
    if steps is not None:
        steps.append(
            serve_log.create_steps(
                shoal.state_dir / "serve.log",
                created.droplet_id,
                mac_for(created.droplet_id),
                created.posted_at,
                created.seen_at,
            )
        )
    droplets.delete(shoal.client, created.droplet_id)
    droplets.wait_gone(conn, shoal.state_dir / "disks", created.droplet_id)
    return created.seconds


def _template(shoal: Shoal, conn: libvirt.virConnect) -> baselines.Template:
    # A droplet Shoal made, read while it runs, is what the others copy.
    created = droplets.create_and_wait(shoal.client, "bench-template")
    template = baselines.capture(
        conn, f"droplet-{created.droplet_id}", shoal.state_dir / "baseline"
    )
    droplets.delete(shoal.client, created.droplet_id)
    droplets.wait_gone(conn, shoal.state_dir / "disks", created.droplet_id)
    return template


def _baseline(
    conn: libvirt.virConnect, template: baselines.Template, kind: str, start: Callable
) -> Callable[[int], float]:
    def once(index: int) -> float:
        seconds = start(template, index)
        if not baselines.is_running(conn, template, kind, index):
            raise RuntimeError(f"{kind} {index} is not running")
        baselines.remove(conn, template, kind, index)
        return seconds

    return once


def run(shoal: Shoal, conn: libvirt.virConnect, count: int) -> dict:
    template = _template(shoal, conn)
    steps: list[dict] = []
    takers = {
        "shoal": lambda i: measure_shoal(shoal, conn, f"bench-{i}", steps),
        "floor": _baseline(conn, template, "floor", baselines.floor),
        "virt-install": _baseline(conn, template, "vi", baselines.virt_install),
    }
    methods = METHODS
    if template.filterref:
        takers[BARE] = _baseline(conn, template, "bare", baselines.bare_floor)
        methods = (*METHODS, BARE)
    samples: dict[str, list[float]] = {m: [] for m in methods}

    # Round 0 warms every path (first qemu-img, first virt-install import
    # of its modules) and is not counted. Each round rotates the order.
    for index in range(count + 1):
        turn = index % len(methods)
        order = methods[turn:] + methods[:turn]
        for method in order:
            seconds = takers[method](index)
            if index:
                samples[method].append(seconds)
        print(f"round {index}/{count} done", file=sys.stderr)

    return _result(samples, steps[1:], template, count)


def _result(samples, steps, template, count) -> dict:
    summaries = {m: report.summary(s) for m, s in samples.items()}
    shoal = summaries["shoal"]["median"]
    ratios = {
        "shoal/floor": shoal / summaries["floor"]["median"],
        "shoal/virt-install": shoal / summaries["virt-install"]["median"],
    }
    if BARE in summaries:
        ratios["shoal/floor without nwfilter"] = shoal / summaries[BARE]["median"]
    return {
        "settings": {
            "count": count,
            "size": droplets.SMALLEST,
            "image": IMAGE,
            "virt_type": template.virt_type,
            "memory_mib": template.memory_mib,
            "disk_bytes": template.disk_bytes,
        },
        "samples": samples,
        "summary": summaries,
        "ratios": ratios,
        "targets": {k: {"max": v, "met": ratios[k] <= v} for k, v in TARGETS.items()},
        "shoal_steps_median": serve_log.median_steps(steps),
    }


def render(result: dict) -> str:
    rows = [
        [m, s["n"], s["median"], s["p95"], s["min"], s["max"]]
        for m, s in result["summary"].items()
    ]
    out = [
        f"Provisioning, host side (virt type {result['settings']['virt_type']}, "
        f"{result['settings']['size']}, base image cached)",
        report.table(["method", "n", "median s", "p95 s", "min s", "max s"], rows),
        "",
    ]
    for name, ratio in result["ratios"].items():
        target = result["targets"].get(name)
        limit = ""
        if target:
            verdict = "met" if target["met"] else "MISSED"
            limit = f"  target <= {target['max']}: {verdict}"
        out.append(f"{name} (medians): {ratio:.2f}{limit}")
    out += ["", "Shoal's create, step by step (medians, from serve.log)"]
    out.append(serve_log.render(result["shoal_steps_median"]))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="droplets per method")
    args = parser.parse_args(argv)
    enter_namespace("bench.provision")

    with host_lock(), running_shoal() as shoal:
        conn = libvirt.open("qemu:///system")
        try:
            result = run(shoal, conn, args.count)
        finally:
            conn.close()

    print(render(result))
    print(f"\nwritten {report.write('provision', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
