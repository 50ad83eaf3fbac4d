"""`make demo`: generate the demo data, run the whole pipeline on the embedded stack, print a summary.

Runs are recorded in the Dagster instance under the data dir, so `make ui` shows them afterwards.
Exit code 1 when a step failed or a check failed with ERROR severity (a blocking raw check, a mart
suite, `tenants_held`); checks that fail with WARN severity are listed as warnings and exit 0.
"""

import argparse
import os
import sys
import time
from dataclasses import dataclass, field

from smartmarket.config import Settings, load_settings


def _say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def prepare_instance(settings: Settings) -> "object":
    import dagster as dg

    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    return dg.DagsterInstance.get()


def run_pipeline(settings: Settings, job_name: str = "smartmarket_pipeline", log_level: str = "INFO") -> "object":
    """Execute a pipeline job in-process on the instance under the data dir."""
    from orchestration.definitions import defs

    instance = prepare_instance(settings)
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def mart_row_counts(settings: Settings) -> dict[str, int]:
    from smartmarket.warehouse import Warehouse

    wh = Warehouse(settings)
    tables = wh.query_df(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw', 'quarantine', 'marts', 'ml', 'serving') order by 1, 2")
    return {f"{s}.{t}": wh.row_count(f"{s}.{t}") for s, t in tables.itertuples(index=False)}


@dataclass
class RunSummary:
    """What a run did, for people: checks by outcome, failed steps, assets not materialized."""

    run_succeeded: bool  # Dagster's verdict: no step failed
    passed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "asset:check: first line of its description"
    warnings: list[str] = field(default_factory=list)
    step_failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Only step failures and ERROR-severity check failures fail a run; warnings do not."""
        return self.run_succeeded and not self.errors and not self.step_failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def headline(self) -> str:
        if not self.ok:
            return "FAILED"
        return f"SUCCESS with {len(self.warnings)} warning(s)" if self.warnings else "SUCCESS"


def summarize(result: "object") -> RunSummary:
    """Sort a run's check evaluations into passed / errors / warnings and collect failed and skipped steps."""
    import dagster as dg

    summary = RunSummary(run_succeeded=bool(result.success))
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            summary.passed.append(name)
            continue
        # the verdict line and the first finding under it
        first = [x.strip() for x in (evaluation.description or "").strip().splitlines()[:2]]
        line = f"{name}: {' '.join(first)[:240]}" if first else name
        if evaluation.severity == dg.AssetCheckSeverity.ERROR:
            summary.errors.append(line)
        else:
            summary.warnings.append(line)
    summary.step_failures = [f"{e.step_key}: {e.event_specific_data.error.message.strip()[:300]}"
                             for e in result.get_step_failure_events()]
    summary.skipped = not_materialized(result)
    return summary


def model_summary(settings: Settings) -> list[str]:
    """One line per registered model: champion version, how it got there, headline metrics (from MLflow)."""
    try:
        from ml.registry import HEADLINE_METRICS, MODEL_NAMES, champion_version, configure_tracking

        client = configure_tracking(settings.mlflow_tracking_uri)
    except Exception as exc:  # the summary must never hide the run's own outcome
        return [f"  models: registry unavailable ({type(exc).__name__}: {exc})"]
    lines = []
    for name in MODEL_NAMES:
        try:
            mv = champion_version(name, client)
        except Exception:
            mv = None
        if mv is None:
            lines.append(f"  {name:<25} no champion")
            continue
        metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        shown = ", ".join(f"{k} {metrics[k]:.4g}" for k in HEADLINE_METRICS.get(name, []) if k in metrics)
        status = (mv.tags or {}).get("validation_status", "?")
        lines.append(f"  {name:<25} champion v{mv.version} ({status}): {shown}")
    return lines


def not_materialized(result: "object") -> list[str]:
    """Assets the job planned but did not materialize (skipped behind a failed check or step)."""
    planned = result.job_def.asset_layer.asset_graph.get_all_asset_keys()
    done = {e.asset_key for e in result.get_asset_materialization_events()}
    return sorted(k.to_user_string() for k in planned - done)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default=os.environ.get("SMARTMARKET_DEMO_SIZE", "demo"),
                        choices=["tiny", "demo", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--defect-rate", type=float, default=0.0,
                        help="inject defects into the generated transactions (e.g. 0.02)")
    parser.add_argument("--skip-generate", action="store_true", help="use the files already in landing/")
    parser.add_argument("--job", default="smartmarket_pipeline", choices=["smartmarket_pipeline", "landing_refresh"],
                        help="landing_refresh = ingest + dbt only")
    args = parser.parse_args(argv)

    settings = load_settings()
    started = time.perf_counter()
    _say(f"data dir {settings.data_dir} (warehouse: {settings.warehouse})")
    if not args.skip_generate:
        from smartmarket.datagen import generate

        _say(f"generating the '{args.size}' data set (seed {args.seed}, defect rate {args.defect_rate})")
        report = generate(settings.data_dir, size=args.size, seed=args.seed, defect_rate=args.defect_rate,
                          progress=lambda line: _say(f"  {line}"))
        _say("  rows written: " + ", ".join(f"{k} {v:,}" for k, v in report.rows.items()))
        print(f"[timing] generate {time.perf_counter() - started:.1f} s", flush=True)
    _say(f"running {args.job} (ingest -> dbt -> checks -> ml); step logs follow")
    t0 = time.perf_counter()
    result = run_pipeline(settings, args.job)
    print(f"[timing] pipeline {time.perf_counter() - t0:.1f} s", flush=True)
    for event in result.get_step_success_events():
        print(f"[timing] step:{event.step_key} {event.event_specific_data.duration_ms / 1000:.1f} s", flush=True)
    summary = summarize(result)
    counts = mart_row_counts(settings)

    print("\n" + "=" * 72)
    print(f"SmartMarket demo: {summary.headline} "
          f"in {time.perf_counter() - started:,.0f} s (run id {result.run_id})")
    print("-" * 72)
    for table, n in counts.items():
        print(f"  {table:<45} {n:>12,} rows")
    print("-" * 72)
    print(f"  checks passed: {len(summary.passed)}   errors: {len(summary.errors)}   "
          f"warnings: {len(summary.warnings)}")
    if summary.errors:
        print("  errors (these fail the run):")
        for line in summary.errors:
            print(f"    ERROR {line}")
    if summary.warnings:
        print("  warnings (shown for review; they do not fail the run):")
        for line in summary.warnings:
            print(f"    WARN  {line}")
    if summary.skipped:
        print(f"  not materialized ({len(summary.skipped)}; downstream of a failed blocking check or step):")
        print("    " + ", ".join(summary.skipped[:12]) + (" ..." if len(summary.skipped) > 12 else ""))
    for line in summary.step_failures:
        print(f"    step failed: {line}")
    print("-" * 72)
    if args.job == "smartmarket_pipeline":
        print(f"  registered models (MLflow: {settings.mlflow_tracking_uri})")
        for line in model_summary(settings):
            print(line)
        print("-" * 72)
    where = settings.duckdb_path if settings.warehouse == "duckdb" else settings.postgres.conninfo
    print(f"  warehouse:       {where}")
    print(f"  dagster storage: {settings.dagster_home}")
    print("  open the UI:     make ui   (then http://127.0.0.1:3000)")
    print("=" * 72)
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
