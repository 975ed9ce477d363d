"""Benchmark 3: a burst of creates at once.

Twenty clients POST one droplet each at the same instant; the clock runs
until Shoal reports every create action ``completed`` (every domain runs;
the guests need not have booted). Then all are deleted, and the next
round starts from an empty host.

    python -m bench.burst [--droplets 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import libvirt

from bench import droplets, report, serve_log
from bench.isolation import enter_namespace, host_lock
from bench.lab import Shoal, running_shoal
from shoal.control.addresses import mac_for
from shoal.control.config import Settings

POLL_SECONDS = 0.1
TIMEOUT = 600


def _post_together(shoal: Shoal, count: int, round_: int) -> tuple[float, dict]:
    """POST ``count`` creates from as many threads released at once.

    Returns the release time and {action id: (droplet id, seconds until its
    POST returned)}.
    """
    gate = threading.Barrier(count + 1)
    released = 0.0

    def post(n: int) -> tuple[int, tuple[int, float]]:
        gate.wait()
        droplet_id, action_id = droplets.create(shoal.client, f"burst-{round_}-{n}")
        return action_id, (droplet_id, time.monotonic() - released)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(post, n) for n in range(count)]
        released = time.monotonic()
        gate.wait()
        accepted = dict(f.result() for f in futures)
    return released, accepted


def _wait_all(shoal: Shoal, released: float, action_ids: set[int]) -> dict:
    """{action id: (status, seconds from release until seen finished)}."""
    finished: dict[int, tuple[str, float]] = {}
    while len(finished) < len(action_ids):
        if time.monotonic() - released > TIMEOUT:
            raise TimeoutError(f"{len(action_ids) - len(finished)} creates unfinished")
        page = shoal.client.get("/v2/actions", params={"per_page": 200}).json()
        now = time.monotonic() - released
        for action in page["actions"]:
            ours = action["id"] in action_ids and action["id"] not in finished
            if ours and action["status"] != "in-progress":
                finished[action["id"]] = (action["status"], now)
        time.sleep(POLL_SECONDS)
    return finished


def _delete_all(shoal: Shoal, conn: libvirt.virConnect) -> float:
    started = time.monotonic()
    listed = shoal.client.get("/v2/droplets", params={"per_page": 200}).json()
    ids = [d["id"] for d in listed["droplets"]]
    for droplet_id in ids:
        droplets.delete(shoal.client, droplet_id)
    for droplet_id in ids:
        droplets.wait_gone(conn, shoal.state_dir / "disks", droplet_id, timeout=300)
    return time.monotonic() - started


def one_round(shoal: Shoal, conn: libvirt.virConnect, count: int, n: int) -> dict:
    released_wall = time.time()
    released, accepted = _post_together(shoal, count, n)
    finished = _wait_all(shoal, released, set(accepted))
    done = [seconds for _, seconds in finished.values()]
    all_running = max(done)
    steps = [
        serve_log.create_steps(
            shoal.state_dir / "serve.log",
            droplet_id,
            mac_for(droplet_id),
            released_wall,
            released_wall + finished[action_id][1],
        )
        for action_id, (droplet_id, _) in accepted.items()
    ]
    return {
        "all_posts_answered_s": max(seconds for _, seconds in accepted.values()),
        "first_running_s": min(done),
        "all_running_s": all_running,
        "creates_per_s": count / all_running,
        "errored": sum(status != "completed" for status, _ in finished.values()),
        "teardown_s": _delete_all(shoal, conn),
    }, steps


def run(shoal: Shoal, conn: libvirt.virConnect, count: int, rounds: int) -> dict:
    results, steps = [], []
    for n in range(rounds):
        result, round_steps = one_round(shoal, conn, count, n)
        results.append(result)
        steps += round_steps
        print(f"round {n + 1}/{rounds} done", file=sys.stderr)
    keys = results[0].keys()
    return {
        "settings": {
            "droplets": count,
            "rounds": rounds,
            "size": droplets.SMALLEST,
            "engine_workers": Settings.model_fields["engine_workers"].default,
        },
        "rounds": results,
        "median": {k: statistics.median(r[k] for r in results) for k in keys},
        "create_steps_median": serve_log.median_steps(steps),
    }


def render(result: dict) -> str:
    settings = result["settings"]
    headers = [
        "round", "all POSTs answered s", "first running s", "all running s",
        "creates/s", "errored", "teardown s",
    ]  # fmt: skip
    rows = [[n + 1, *r.values()] for n, r in enumerate(result["rounds"])]
    rows.append(["median", *result["median"].values()])
    return "\n".join(
        [
            f"Burst: {settings['droplets']} creates at once ({settings['size']}, "
            f"engine_workers={settings['engine_workers']})",
            report.table(headers, rows),
            "",
            "One create of the burst, step by step (medians, from serve.log)",
            serve_log.render(result["create_steps_median"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--droplets", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    enter_namespace("bench.burst")

    with host_lock(), running_shoal() as shoal:
        conn = libvirt.open("qemu:///system")
        try:
            result = run(shoal, conn, args.droplets, args.rounds)
        finally:
            conn.close()

    print(render(result))
    print(f"\nwritten {report.write('burst', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
