"""Throughput and latency of the prediction API, with `mlflow models serve` on the same diamond champion.

Usage: python bench/bench_api.py [--data-dir DIR] [--seconds 8] [--concurrency 1 16 64]
Writes bench/results/api.json.

Serves what a pipeline run published: the data dir given, else SMARTMARKET_DATA_DIR / ./data when it holds a
snapshot (after `make demo`), else a `tiny` pipeline run in a temporary directory. Three routes of ours:
``POST /v1/predict/diamond-price``, ``GET /v1/customers/{id}`` and ``GET /v1/products/{id}/forecast?days=30``,
and the reference ``POST /invocations`` of ``mlflow models serve -m models:/diamond_price_regressor@champion
--env-manager local``, the same stone (all dimensions given, so both run the same model path) in both. Both
servers run one uvicorn worker with OMP_NUM_THREADS=1 (what `make serve` sets; without it the reference is
slower still), and both are measured in the same run, one after the other at each concurrency, because the
machine is shared: the ratios are the figures to read, the absolute numbers move with the load average.
The load generator is an asyncio httpx client with one keep-alive connection per concurrent caller, running
in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from smartmarket.api_keys import append_key
from smartmarket.config import PROJECT_ROOT, load_settings

RESULTS = Path(__file__).resolve().parent / "results" / "api.json"
DIAMOND = "diamond_price_regressor"
STONE = {"carat": 1.01, "cut": "Very Good", "color": "G", "clarity": "VS2", "depth": 61.8, "table": 57.0,
         "x": 6.4, "y": 6.43, "z": 3.96}
TARGETS = {"diamond_throughput_vs_mlflow_serve": 3.0, "p99_ms_at_16": 50.0}


def say(msg: str) -> None:
    print(f"[bench_api {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_pipeline(directory: Path) -> Path:
    import dagster as dg

    data_dir = directory / "data"
    os.environ["SMARTMARKET_DATA_DIR"] = str(data_dir)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    from orchestration.definitions import defs
    from smartmarket.datagen import generate

    say(f"no published snapshot: running the tiny pipeline in {data_dir} (1-3 minutes)")
    generate(data_dir, size="tiny", seed=11)
    result = defs.resolve_job_def("smartmarket_pipeline").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    if not result.success:
        raise SystemExit("the tiny pipeline run failed")
    return data_dir


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not up after {timeout} s: {log.read_text()[-3000:]}")


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def measure(method: str, url: str, body: Any, headers: dict[str, str], concurrency: int,
                  seconds: float, warmup: float = 1.0) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        record_from, stop_at = started + warmup, started + warmup + seconds

        async def caller() -> None:
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    r = await client.request(method, url, json=body)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                t1 = time.perf_counter()
                if t0 >= record_from:
                    if ok:
                        latencies.append(t1 - t0)
                    else:
                        errors += 1

        await asyncio.gather(*(caller() for _ in range(concurrency)))
    latencies.sort()

    def pct(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2) if latencies else None

    return {"requests": len(latencies), "errors": errors, "throughput_rps": round(len(latencies) / seconds, 1),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "mean_ms": round(1000 * statistics.fmean(latencies), 2) if latencies else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="a data dir a pipeline run published into (default: see above)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per route and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench_api_"))
    data_dir = Path(args.data_dir).resolve() if args.data_dir else load_settings().data_dir
    if not (data_dir / "serving" / "snapshot.duckdb").exists():
        data_dir = tiny_pipeline(work)
    settings = load_settings({**os.environ, "SMARTMARKET_DATA_DIR": str(data_dir), "SMARTMARKET_WAREHOUSE": "duckdb"})
    key = append_key(work / "api_keys.txt", "*")
    env = {**os.environ, "SMARTMARKET_DATA_DIR": str(data_dir), "SMARTMARKET_WAREHOUSE": "duckdb",
           "SMARTMARKET_API_KEYS_FILE": str(work / "api_keys.txt"), "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
           "OMP_NUM_THREADS": "1", "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    ours_port, ref_port = free_port(), free_port()
    ours = start([sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory", "--port", str(ours_port),
                  "--log-level", "warning"], env, work / "api.log")
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    ref = start([mlflow, "models", "serve", "-m", f"models:/{DIAMOND}@champion", "--env-manager", "local",
                 "-p", str(ref_port), "-w", "1"], env, work / "mlflow_serve.log")
    try:
        say("starting the API and mlflow models serve")
        wait_http(f"http://127.0.0.1:{ours_port}/ready", ours, work / "api.log")
        wait_http(f"http://127.0.0.1:{ref_port}/ping", ref, work / "mlflow_serve.log")
        api = f"http://127.0.0.1:{ours_port}"
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=api, headers=auth) as c:
            tenant = c.get("/v1/tenants").json()["items"][0]["tenant_id"]
            customer = c.get("/v1/customers", params={"tenant_id": tenant, "limit": 1}).json()["items"][0]
            product = c.get("/v1/forecasts", params={"tenant_id": tenant, "limit": 1}).json()["items"][0]
            version = next(m for m in c.get("/v1/models").json()["models"] if m["name"] == DIAMOND)["serving_version"]
            snapshot_id = c.get("/ready").json()["snapshot"]["snapshot_id"]
        ref_body = {"dataframe_records": [STONE]}
        check = httpx.post(f"http://127.0.0.1:{ref_port}/invocations", json=ref_body, timeout=60)
        check.raise_for_status()
        routes = {
            "mlflow_models_serve_invocations": ("POST", f"http://127.0.0.1:{ref_port}/invocations", ref_body, {}),
            "POST /v1/predict/diamond-price": ("POST", f"{api}/v1/predict/diamond-price", STONE, auth),
            "GET /v1/customers/{id}": ("GET", f"{api}/v1/customers/{customer['customer_id']}?tenant_id={tenant}",
                                       None, auth),
            "GET /v1/products/{id}/forecast": ("GET", f"{api}/v1/products/{product['product_id']}/forecast"
                                                      f"?tenant_id={tenant}&days=30", None, auth),
        }
        results: dict[str, dict[str, Any]] = {name: {} for name in routes}
        load_before = os.getloadavg()
        for conc in args.concurrency:
            for name, (method, url, body, headers) in routes.items():
                r = asyncio.run(measure(method, url, body, headers, conc, args.seconds))
                results[name][str(conc)] = r
                say(f"c={conc:<3} {name:<36} {r['throughput_rps']:>8} req/s  p50 {r['p50_ms']} ms  "
                    f"p99 {r['p99_ms']} ms  errors {r['errors']}")
        load_after = os.getloadavg()
    finally:
        stop(ours)
        stop(ref)

    ours_d, ref_d = results["POST /v1/predict/diamond-price"], results["mlflow_models_serve_invocations"]
    ratios = {c: round(ours_d[c]["throughput_rps"] / ref_d[c]["throughput_rps"], 2) if ref_d[c]["throughput_rps"]
              else None for c in ours_d}
    p99_16 = {name: r["16"]["p99_ms"] for name, r in results.items() if "16" in r and name.startswith(("GET", "POST"))}
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_before": load_before,
                    "load_avg_after": load_after},
        "data_dir": str(data_dir), "snapshot_id": snapshot_id, "diamond_champion_version": version,
        "seconds_per_measurement": args.seconds, "workers_each": 1, "omp_num_threads": 1,
        "stone": STONE, "routes": results,
        "diamond_throughput_ratio_vs_mlflow_serve": ratios,
        "p99_ms_at_concurrency_16": p99_16,
        "targets": TARGETS,
        "meets_targets": {
            "diamond_3x_mlflow_serve_at_every_concurrency": all(v is not None and v >= 3 for v in ratios.values()),
            "p99_under_50ms_at_16": all(v is not None and v < 50 for v in p99_16.values()) if p99_16 else None,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    say(f"diamond throughput vs mlflow models serve: {ratios}; p99 at 16: {p99_16}; written to {RESULTS}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
