"""Benchmark 2: provisioning time does not depend on the base image's size.

Two base images made from the cached Debian 12 image the same way, one of
2 GiB and one of 20 GiB, both virtual size and bytes on disk (the data is
the same; the rest is allocated with fallocate). Shoal gives each droplet
a copy-on-write overlay, so creates from either should take the same time;
a copy of the base would take ten times longer from the larger one.
Registered through Shoal's own ``register_image``; taken in turns.

    python -m bench.image_size [--count 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import libvirt

from bench import report
from bench.isolation import enter_namespace, host_lock
from bench.lab import Shoal, running_shoal
from bench.provision import measure_shoal
from shoal.control.catalogue import register_image
from shoal.control.db import Database

GiB = 1024**3
IMAGES = {"bench-debian-2g": 2, "bench-debian-20g": 20}
# The smallest plan whose disk holds the 20 GiB image; both images use it,
# so the base image is the only thing that differs.
SIZE = "s-1vcpu-1gb"
TARGET = 1.2


def make_image(source: Path, target: Path, gib: int) -> dict:
    """A copy of ``source`` grown to ``gib``: virtual size and file alike."""
    subprocess.run(
        ["qemu-img", "convert", "-O", "qcow2", "-o", "preallocation=falloc",
         str(source), str(target)],
        check=True,
    )  # fmt: skip
    if _info(target)["virtual-size"] < gib * GiB:
        subprocess.run(
            ["qemu-img", "resize", "-q", "--preallocation=falloc", str(target),
             f"{gib}G"],
            check=True,
        )  # fmt: skip
    target.chmod(0o644)
    return {
        "virtual_gib": _info(target)["virtual-size"] / GiB,
        "file_gib": round(target.stat().st_size / GiB, 2),
    }


def _info(image: Path) -> dict:
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", str(image)],
        capture_output=True,
        check=True,
    ).stdout
    return json.loads(out)


def register(shoal: Shoal, slug: str, path: Path) -> None:
    db = Database(f"sqlite:///{shoal.state_dir / 'shoal.db'}")
    with db.transaction() as session:
        register_image(session, slug, path)
    db.engine.dispose()


def _base_image(shoal: Shoal) -> Path:
    # Where the cached image lives is Shoal's business, not the API's.
    db = Database(f"sqlite:///{shoal.state_dir / 'shoal.db'}")
    with db.engine.connect() as conn:
        (path,) = conn.exec_driver_sql(
            "SELECT path FROM images WHERE slug = 'debian-12-x64'"
        ).one()
    db.engine.dispose()
    return Path(path)


def run(shoal: Shoal, conn: libvirt.virConnect, count: int) -> dict:
    source = _base_image(shoal)
    images = {}
    for slug, gib in IMAGES.items():
        path = shoal.state_dir / f"{slug}.qcow2"
        images[slug] = make_image(source, path, gib)
        register(shoal, slug, path)

    samples: dict[str, list[float]] = {slug: [] for slug in IMAGES}
    # Round 0 warms both images' pages into the cache; it is not counted.
    for index in range(count + 1):
        order = list(IMAGES) if index % 2 else list(reversed(IMAGES))
        for slug in order:
            seconds = measure_shoal(
                shoal, conn, f"bench-{slug}-{index}", image=slug, size=SIZE
            )
            if index:
                samples[slug].append(seconds)
        print(f"round {index}/{count} done", file=sys.stderr)
    return _result(images, samples, count)


def _result(images: dict, samples: dict, count: int) -> dict:
    summaries = {slug: report.summary(s) for slug, s in samples.items()}
    small, large = (summaries[slug]["median"] for slug in IMAGES)
    ratio = large / small
    return {
        "settings": {"count": count, "size": SIZE, "images": images},
        "samples": samples,
        "summary": summaries,
        "ratio_20g_over_2g": ratio,
        "target": {"within": TARGET, "met": 1 / TARGET <= ratio <= TARGET},
    }


def render(result: dict) -> str:
    images = result["settings"]["images"]
    rows = [
        [slug, images[slug]["virtual_gib"], images[slug]["file_gib"], s["n"],
         s["median"], s["p95"]]
        for slug, s in result["summary"].items()
    ]  # fmt: skip
    verdict = "met" if result["target"]["met"] else "MISSED"
    return "\n".join(
        [
            f"Provisioning by base image size (Shoal, {result['settings']['size']})",
            report.table(
                ["image", "virtual GiB", "file GiB", "n", "median s", "p95 s"], rows
            ),
            "",
            f"20 GiB / 2 GiB (medians): {result['ratio_20g_over_2g']:.2f}"
            f"  target within {TARGET}: {verdict}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="droplets per image")
    args = parser.parse_args(argv)
    enter_namespace("bench.image_size")

    with host_lock(), running_shoal() as shoal:
        conn = libvirt.open("qemu:///system")
        try:
            result = run(shoal, conn, args.count)
        finally:
            conn.close()

    print(render(result))
    print(f"\nwritten {report.write('image_size', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
