"""Benchmarks 5 and 6: the API under load, and the memory of ``shoal serve``.

A real ``shoal serve`` (API, engine, metadata service; libvirt only for its
startup) with 10,000 droplet rows written into its database, loaded by wrk
at 1, 16 and 64 connections. Side by side, the same requests against:
the framework alone (``bench.floor_api``: FastAPI and uvicorn serving the
bodies Shoal rendered, no database) and Prism mocking DigitalOcean's spec.
Memory: the server's resident size idle, with the rows served, and after
the load. Then a py-spy profile of each endpoint at 16 connections.

Each server is pinned to one core and wrk to the other, so the load
generator never takes the server's CPU on this two-core machine.

    python -m bench.api [--seconds 10] [--droplets 10000] [--no-prism]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import profiling, report, wrk
from bench.fill import fill
from bench.isolation import enter_namespace, host_lock
from bench.lab import FIRST_ID, IMAGE, Shoal, make_state_dir, running_shoal
from bench.memory import resident_mib

CONNECTIONS = (1, 16, 64)
SERVER_CPU, LOAD_CPU = "1", "0"
SPEC = Path(os.environ.get("SHOAL_BENCH_SPEC", "/work/shared/reference/do-openapi"))
PRISM = os.environ.get("SHOAL_BENCH_PRISM", "prism")
GET_BY_ID, LIST_200 = "GET /v2/droplets/{id}", "GET /v2/droplets?per_page=200"
SERVERS = ("shoal", "fastapi floor", "prism")
TARGETS = {"get_by_id_req_per_s": 1500, "list_200_p99_ms_at_16": 50, "rss_mib": 250}
SETTINGS = {
    # Rows without VMs are what the reconciler exists to report: it would
    # look up 10,000 missing domains a minute and log each. Not the API's
    # cost, so its next pass is pushed past the run.
    "reconcile_interval": 86_400,
}


def endpoints(ids: range) -> dict[str, tuple[str, str | None]]:
    """(URL path, Lua expression for each request's path) per endpoint."""
    random_id = f'"/v2/droplets/" .. math.random({ids.start}, {ids.stop - 1})'
    return {
        GET_BY_ID: (f"/v2/droplets/{ids.start}", random_id),
        LIST_200: ("/v2/droplets?per_page=200", None),
    }


def load(url: str, token: str, ids: range, seconds: int, workdir: Path) -> dict:
    """wrk at each concurrency on each endpoint, after a short warm-up."""
    results = {}
    for n, (endpoint, (path, paths)) in enumerate(endpoints(ids).items()):
        lua = wrk.script(workdir / f"load-{n}.lua", token, paths)
        runs = []
        for connections in CONNECTIONS:
            wrk.run(url + path, lua, connections, 2, LOAD_CPU)
            _wait_recovered(url + path, token)
            run = wrk.run(url + path, lua, connections, seconds, LOAD_CPU).as_dict()
            run["recovery_s"] = _wait_recovered(url + path, token)
            runs.append(run)
        results[endpoint] = {
            "response_bytes": len(_get(url + path, token).content),
            "runs": runs,
        }
    return results


def _get(url: str, token: str, timeout: float = 60) -> httpx.Response:
    answer = httpx.get(
        url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    )
    answer.raise_for_status()
    return answer


def _wait_recovered(url: str, token: str, timeout: float = 180) -> float | None:
    """Seconds until the server answers within a second again, after wrk
    stopped; None if it did not within ``timeout``.

    Requests still queued when wrk stops would slow the next run; a server
    that stalled under the load shows here how long it stays stalled.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        asked = time.monotonic()
        try:
            _get(url, token, timeout=timeout)
        except httpx.HTTPError:
            time.sleep(1)
            continue
        if time.monotonic() - asked < 1:
            return round(asked - started, 1)
    return None


def profile(shoal: Shoal, ids: range, seconds: int) -> dict:
    """py-spy on the server while wrk holds 16 connections on each endpoint."""
    profiles = {}
    for n, (endpoint, (path, paths)) in enumerate(endpoints(ids).items()):
        lua = wrk.script(shoal.state_dir / f"profile-{n}.lua", shoal.token, paths)
        raw = report.RESULTS / "runs" / f"api-profile-{n}.txt"
        raw.parent.mkdir(parents=True, exist_ok=True)
        spy = profiling.start(shoal.pid, seconds, raw)
        wrk.run(shoal.url + path, lua, 16, seconds, LOAD_CPU)
        _, errors = spy.communicate(timeout=60)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {errors.decode()}")
        profiles[endpoint] = {"raw": str(raw), **profiling.summarize(raw)}
    return profiles


def measure_shoal(args: argparse.Namespace, bodies: Path) -> dict:
    with running_shoal(SETTINGS, cpus=SERVER_CPU) as shoal:
        time.sleep(3)
        memory = {"idle": resident_mib(shoal.pid)}

        started = time.monotonic()
        db_url = f"sqlite:///{shoal.state_dir / 'shoal.db'}"
        ids = fill(db_url, IMAGE, args.droplets, FIRST_ID)
        fill_seconds = time.monotonic() - started
        _serve_every_page(shoal, args.droplets)
        memory[f"{args.droplets} droplets, every page served"] = resident_mib(shoal.pid)

        results = load(shoal.url, shoal.token, ids, args.seconds, shoal.state_dir)
        memory["after the API run"] = resident_mib(shoal.pid)
        _keep_bodies(shoal, ids, bodies)

        profiles = {}
        if args.profile and profiling.available():
            profiles = profile(shoal, ids, args.seconds)
    return {
        "ids": [ids.start, ids.stop - 1],
        "fill_seconds": fill_seconds,
        "load": results,
        "memory": memory,
        "profiles": profiles,
    }


def _serve_every_page(shoal: Shoal, count: int) -> None:
    # "With 10,000 droplets" means the server has served them, not only
    # that they sit in its database file.
    for page in range(1, count // 200 + 2):
        shoal.client.get("/v2/droplets", params={"page": page, "per_page": 200})


def _keep_bodies(shoal: Shoal, ids: range, bodies: Path) -> None:
    for name, (path, _) in zip(("one", "page"), endpoints(ids).values(), strict=True):
        (bodies / f"{name}.json").write_bytes(
            _get(shoal.url + path, shoal.token).content
        )


@contextmanager
def _server(command: list[str], probe_path: str) -> Iterator[tuple[str, int]]:
    """Start a server on a free port pinned beside Shoal's; yield url and pid."""
    port = _free_port()
    argv = [a.replace("{port}", str(port)) for a in command]
    server = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_answering(url + probe_path, server)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_answering(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    # Prism parses the 3.5 MB spec before it answers.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            _get(url, "bench", timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def measure_floor(ids: range, seconds: int, bodies: Path) -> dict:
    command = [
        sys.executable, "-m", "bench.floor_api", "{port}",
        str(bodies / "one.json"), str(bodies / "page.json"),
    ]  # fmt: skip
    with _server(command, f"/v2/droplets/{ids.start}") as (url, pid):
        results = load(url, "bench", ids, seconds, bodies)
        return {"load": results, "memory": {"after its run": resident_mib(pid)}}


def measure_prism(ids: range, seconds: int, workdir: Path) -> dict | None:
    """The same load against Prism mocking DigitalOcean's spec, if installed."""
    if shutil.which(PRISM) is None and not Path(PRISM).exists():
        print(f"prism not found ({PRISM}); skipping the mock", file=sys.stderr)
        return None
    command = [
        PRISM, "mock", "-h", "127.0.0.1", "-p", "{port}", "-v", "warn",
        str(SPEC / "bundled.json"),
    ]  # fmt: skip
    with _server(command, f"/v2/droplets/{ids.start}") as (url, pid):
        results = load(url, "bench", ids, seconds, workdir)
        return {"load": results, "memory": {"after its run": resident_mib(pid)}}


def verdicts(shoal: dict) -> dict:
    by_id = shoal["load"][GET_BY_ID]["runs"]
    at_16 = next(r for r in shoal["load"][LIST_200]["runs"] if r["connections"] == 16)
    best = max(r["requests_per_s"] for r in by_id)
    rss = max(m["rss_mib"] for m in shoal["memory"].values())
    return {
        "get_by_id_best_req_per_s": best,
        "get_by_id_met": best >= TARGETS["get_by_id_req_per_s"],
        "list_200_p99_ms_at_16": at_16["p99_ms"],
        "list_200_met": at_16["p99_ms"] < TARGETS["list_200_p99_ms_at_16"]
        and at_16["requests"] > 0,
        "rss_mib_highest": rss,
        "rss_met": rss < TARGETS["rss_mib"],
    }


def render(result: dict) -> str:
    out = [_load_table(result), *_stalls(result), "", _memory_table(result), ""]
    out += _verdict_lines(result["verdicts"])
    for endpoint, summary in result["shoal"]["profiles"].items():
        out += [
            "",
            f"py-spy --gil, {endpoint}, 16 connections, {summary['samples']} samples",
            report.table(["self time in", "%"], summary["self_by_package_pct"][:8]),
            report.table(
                ["Shoal function, inclusive", "%"], summary["inclusive_shoal_pct"][:8]
            ),
        ]
    return "\n".join(out)


def _load_table(result: dict) -> str:
    present = [s for s in SERVERS if result.get(s)]
    headers = ["endpoint", "conns"]
    for server in present:
        headers += [f"{server} req/s", "p50 ms", "p99 ms", "errors"]
    rows = []
    for endpoint in result["shoal"]["load"]:
        for i, connections in enumerate(CONNECTIONS):
            row = [endpoint, connections]
            for server in present:
                row += _cells(result[server]["load"][endpoint]["runs"][i])
            rows.append(row)
    sizes = "; ".join(
        f"{endpoint}: "
        + ", ".join(
            f"{s} {result[s]['load'][endpoint]['response_bytes']} B" for s in present
        )
        for endpoint in result["shoal"]["load"]
    )
    return report.table(headers, rows) + f"\nresponse bodies: {sizes}"


def _stalls(result: dict) -> list[str]:
    lines = []
    for server in SERVERS:
        for endpoint, measured in (result.get(server) or {"load": {}})["load"].items():
            for run in measured["runs"]:
                wait = run["recovery_s"]
                if wait is None or wait > 1:
                    took = f"{wait:.0f} s" if wait is not None else "more than 180 s"
                    lines.append(
                        f"{server}, {endpoint} at {run['connections']} conns: "
                        f"answered again {took} after wrk stopped"
                    )
    return lines


def _cells(run: dict) -> list:
    errors = run["non_2xx"] + run["socket_errors"]
    if run["requests"] == 0:
        # Not one answer in the whole run: percentiles of nothing mislead.
        return ["stalled", "-", "-", errors]
    return [round(run["requests_per_s"]), run["p50_ms"], run["p99_ms"], errors]


def _memory_table(result: dict) -> str:
    rows = [
        [f"shoal serve, {state}", m["rss_mib"], m["peak_mib"]]
        for state, m in result["shoal"]["memory"].items()
    ]
    for server in SERVERS[1:]:
        if result.get(server):
            m = result[server]["memory"]["after its run"]
            rows.append([f"{server}, after its run", m["rss_mib"], m["peak_mib"]])
    return report.table(["process", "RSS MiB", "peak MiB"], rows)


def _verdict_lines(v: dict) -> list[str]:
    def mark(met: bool) -> str:
        return "met" if met else "MISSED"

    return [
        f"get by id, best req/s: {v['get_by_id_best_req_per_s']:.0f}"
        f"  target >= {TARGETS['get_by_id_req_per_s']}: {mark(v['get_by_id_met'])}",
        f"200-item page, p99 at 16 conns: {v['list_200_p99_ms_at_16']:.1f} ms"
        f"  target < {TARGETS['list_200_p99_ms_at_16']} ms: {mark(v['list_200_met'])}",
        f"shoal serve RSS, highest: {v['rss_mib_highest']:.0f} MiB"
        f"  target < {TARGETS['rss_mib']} MiB: {mark(v['rss_met'])}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--droplets", type=int, default=10_000)
    parser.add_argument("--no-prism", dest="prism", action="store_false")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    args = parser.parse_args(argv)
    enter_namespace("bench.api")

    bodies = make_state_dir("shoal-bench-api-")
    try:
        # Not for libvirt's sake (no domains here) but for a quiet machine.
        with host_lock():
            result = _measure_all(args, bodies)
    finally:
        shutil.rmtree(bodies, ignore_errors=True)

    print(render(result))
    print(f"\nwritten {report.write('api', result)}")
    return 0


def _measure_all(args: argparse.Namespace, bodies: Path) -> dict:
    shoal = measure_shoal(args, bodies)
    ids = range(shoal["ids"][0], shoal["ids"][1] + 1)
    return {
        "settings": {
            "droplets": args.droplets,
            "seconds_per_run": args.seconds,
            "server_cpu": SERVER_CPU,
            "wrk_cpu": LOAD_CPU,
            "shoal": "shoal serve: one process, one uvicorn worker (httptools)",
            "shoal_settings": SETTINGS,
        },
        "shoal": shoal,
        "fastapi floor": measure_floor(ids, args.seconds, bodies),
        "prism": measure_prism(ids, args.seconds, bodies) if args.prism else None,
        "verdicts": verdicts(shoal),
    }


if __name__ == "__main__":
    sys.exit(main())
