"""Benchmarks 5 and 6: the API under load, and the memory of ``shoal serve``.

A real ``shoal serve`` (API, engine, metadata service; libvirt only for its
startup) with 10,000 droplet rows written into its database, loaded by wrk
at 1, 16 and 64 connections; the same requests against Prism mocking
DigitalOcean's own spec; the server's resident memory idle, with the rows,
and after the load; a py-spy profile of each endpoint at 16 connections.

The server is pinned to one core and wrk to the other, so the load
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
from pathlib import Path

import httpx

from bench import profiling, report, wrk
from bench.fill import fill
from bench.isolation import enter_namespace, host_lock
from bench.lab import FIRST_ID, IMAGE, Shoal, running_shoal
from bench.memory import resident_mib

CONNECTIONS = (1, 16, 64)
SERVER_CPU, LOAD_CPU = "1", "0"
SPEC = Path(os.environ.get("SHOAL_BENCH_SPEC", "/work/shared/reference/do-openapi"))
PRISM = os.environ.get("SHOAL_BENCH_PRISM", "prism")
GET_BY_ID, LIST_200 = "GET /v2/droplets/{id}", "GET /v2/droplets?per_page=200"
TARGETS = {
    "get_by_id_req_per_s_min": 1500,
    "list_200_p99_ms_at_16_max": 50,
    "rss_mib_max": 250,
}


def _endpoints(ids: range) -> dict[str, tuple[str, str | None]]:
    """(URL path, Lua expression for each request's path) per endpoint."""
    random_id = f'"/v2/droplets/" .. math.random({ids.start}, {ids.stop - 1})'
    return {
        GET_BY_ID: ("/v2/droplets/1", random_id),
        LIST_200: ("/v2/droplets?per_page=200", None),
    }


def load(url: str, token: str, ids: range, seconds: int, workdir: Path) -> dict:
    """wrk at each concurrency on each endpoint, after a short warm-up."""
    results = {}
    for endpoint, (path, paths) in _endpoints(ids).items():
        lua = wrk.script(workdir / f"{len(results)}.lua", token, paths)
        runs = []
        for connections in CONNECTIONS:
            wrk.run(url + path, lua, connections, 2, LOAD_CPU)
            runs.append(wrk.run(url + path, lua, connections, seconds, LOAD_CPU))
        results[endpoint] = {
            "response_bytes": _body_size(url + path, token),
            "runs": [r.as_dict() for r in runs],
        }
    return results


def _body_size(url: str, token: str) -> int:
    answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    return len(answer.content)


def _touch_every_page(shoal: Shoal, count: int) -> None:
    # "With 10,000 droplets" means the server has served them, not only
    # that they sit in the file.
    for page in range(1, count // 200 + 2):
        shoal.client.get("/v2/droplets", params={"page": page, "per_page": 200})


def profile(shoal: Shoal, ids: range, seconds: int, workdir: Path) -> dict:
    """py-spy on the server while wrk holds 16 connections on each endpoint."""
    profiles = {}
    for n, (endpoint, (path, paths)) in enumerate(_endpoints(ids).items()):
        lua = wrk.script(workdir / f"profile-{n}.lua", shoal.token, paths)
        raw = report.RESULTS / "runs" / f"api-profile-{n}.txt"
        raw.parent.mkdir(parents=True, exist_ok=True)
        spy = profiling.start(shoal.pid, seconds, raw)
        wrk.run(shoal.url + path, lua, 16, seconds, LOAD_CPU)
        _, errors = spy.communicate(timeout=60)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {errors.decode()}")
        profiles[endpoint] = {"raw": str(raw), **profiling.summarize(raw)}
    return profiles


def measure_shoal(args: argparse.Namespace) -> dict:
    with host_lock(), running_shoal(cpus=SERVER_CPU) as shoal:
        time.sleep(3)
        memory = {"idle": resident_mib(shoal.pid)}

        started = time.monotonic()
        ids = fill(_db_url(shoal), IMAGE, args.droplets, FIRST_ID)
        fill_seconds = time.monotonic() - started
        _touch_every_page(shoal, args.droplets)
        memory[f"{args.droplets} droplets, every page served"] = resident_mib(shoal.pid)

        results = load(shoal.url, shoal.token, ids, args.seconds, shoal.state_dir)
        memory["after the API run"] = resident_mib(shoal.pid)

        profiles = {}
        if args.profile and profiling.available():
            profiles = profile(shoal, ids, args.seconds, shoal.state_dir)
    return {
        "ids": [ids.start, ids.stop - 1],
        "fill_seconds": fill_seconds,
        "load": results,
        "memory": memory,
        "profiles": profiles,
    }


def _db_url(shoal: Shoal) -> str:
    return f"sqlite:///{shoal.state_dir / 'shoal.db'}"


def measure_prism(ids: range, seconds: int) -> dict | None:
    """The same load against Prism mocking DigitalOcean's spec, if installed."""
    if shutil.which(PRISM) is None and not Path(PRISM).exists():
        print(f"prism not found ({PRISM}); skipping the mock", file=sys.stderr)
        return None
    port = _free_port()
    server = subprocess.Popen(
        [
            "taskset", "-c", SERVER_CPU, PRISM, "mock", "-h", "127.0.0.1",
            "-p", str(port), "-v", "warn", str(SPEC / "bundled.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_answering(url + "/v2/droplets/1")
        workdir = Path(os.environ.get("TMPDIR", "/tmp"))
        results = load(url, "bench", ids, seconds, workdir)
        return {"load": results, "memory": resident_mib(server.pid)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_answering(url: str, timeout: float = 120) -> None:
    # Prism parses the 3.5 MB spec before it answers.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers={"Authorization": "Bearer x"}).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def verdicts(shoal: dict) -> dict:
    by_id = shoal["load"][GET_BY_ID]["runs"]
    at_16 = next(r for r in shoal["load"][LIST_200]["runs"] if r["connections"] == 16)
    best = max(r["requests_per_s"] for r in by_id)
    rss = max(m["rss_mib"] for m in shoal["memory"].values())
    return {
        "get_by_id_best_req_per_s": best,
        "get_by_id_met": best >= TARGETS["get_by_id_req_per_s_min"],
        "list_200_p99_ms_at_16": at_16["p99_ms"],
        "list_200_met": at_16["p99_ms"] < TARGETS["list_200_p99_ms_at_16_max"],
        "rss_mib_highest": rss,
        "rss_met": rss < TARGETS["rss_mib_max"],
    }


def render(result: dict) -> str:
    shoal, prism = result["shoal"], result.get("prism")
    out = [_load_table(shoal, prism), "", _memory_table(shoal, prism), ""]
    out += _verdict_lines(result["verdicts"])
    for endpoint, summary in shoal["profiles"].items():
        out += [
            "",
            f"py-spy, {endpoint} at 16 connections ({summary['samples']} samples)",
        ]
        out.append(report.table(["self time in", "%"], summary["self_by_package_pct"]))
        out.append(
            report.table(
                ["Shoal function (inclusive)", "%"], summary["inclusive_shoal_pct"]
            )
        )
    return "\n".join(out)


def _load_table(shoal: dict, prism: dict | None) -> str:
    rows = []
    for endpoint, measured in shoal["load"].items():
        theirs = prism["load"][endpoint]["runs"] if prism else [None] * 3
        for ours, mock in zip(measured["runs"], theirs, strict=True):
            rows.append(
                [
                    endpoint,
                    ours["connections"],
                    round(ours["requests_per_s"]),
                    ours["p50_ms"],
                    ours["p99_ms"],
                    ours["non_2xx"] + ours["socket_errors"],
                    *(
                        [round(mock["requests_per_s"]), mock["p50_ms"], mock["p99_ms"]]
                        if mock
                        else ["-", "-", "-"]
                    ),
                ]
            )
    headers = [
        "endpoint", "conns", "Shoal req/s", "p50 ms", "p99 ms", "errors",
        "Prism req/s", "p50 ms", "p99 ms",
    ]  # fmt: skip
    sizes = ", ".join(
        f"{e}: Shoal {m['response_bytes']} B"
        + (f", Prism {prism['load'][e]['response_bytes']} B" if prism else "")
        for e, m in shoal["load"].items()
    )
    return report.table(headers, rows) + f"\nresponse sizes: {sizes}"


def _memory_table(shoal: dict, prism: dict | None) -> str:
    rows = [
        [state, m["rss_mib"], m["peak_mib"]] for state, m in shoal["memory"].items()
    ]
    if prism:
        rows.append(
            [
                "(Prism, after its run)",
                prism["memory"]["rss_mib"],
                prism["memory"]["peak_mib"],
            ]
        )
    return report.table(["shoal serve", "RSS MiB", "peak MiB"], rows)


def _verdict_lines(v: dict) -> list[str]:
    def mark(met: bool) -> str:
        return "met" if met else "MISSED"

    return [
        f"get by id, best req/s: {v['get_by_id_best_req_per_s']:.0f}"
        f"  target >= 1500: {mark(v['get_by_id_met'])}",
        f"200-item page, p99 at 16 conns: {v['list_200_p99_ms_at_16']:.1f} ms"
        f"  target < 50 ms: {mark(v['list_200_met'])}",
        f"shoal serve RSS, highest: {v['rss_mib_highest']:.0f} MiB"
        f"  target < 250 MiB: {mark(v['rss_met'])}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--droplets", type=int, default=10_000)
    parser.add_argument("--no-prism", dest="prism", action="store_false")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    args = parser.parse_args(argv)
    enter_namespace("bench.api")

    shoal = measure_shoal(args)
    ids = range(shoal["ids"][0], shoal["ids"][1] + 1)
    prism = measure_prism(ids, args.seconds) if args.prism else None
    result = {
        "settings": {
            "droplets": args.droplets,
            "seconds_per_run": args.seconds,
            "server_cpu": SERVER_CPU,
            "wrk_cpu": LOAD_CPU,
            "server": "shoal serve (one process, one uvicorn worker)",
        },
        "shoal": shoal,
        "prism": prism,
        "verdicts": verdicts(shoal),
    }
    print(render(result))
    print(f"\nwritten {report.write('api', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
