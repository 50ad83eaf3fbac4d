"""Schedules and sensors: the daily pipeline, and runs triggered by new files in the landing zone."""


import json
import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from smartmarket.alerts import RunFailure, post_webhook, record_failure
from smartmarket.config import load_settings
from smartmarket.contracts import KINDS
from smartmarket.ingest.loader import landing_files

# DuckDB takes one writer: cap concurrent warehouse steps at 1 (Postgres users may raise it).
_RUN_CONFIG = {
    "execution": {"config": {"multiprocess": {
        "tag_concurrency_limits": [
            {"key": "dagster/concurrency_key", "value": "warehouse", "limit": 1},
            # the embedded MLflow store is one SQLite file: one training step at a time
            {"key": "dagster/concurrency_key", "value": "mlflow", "limit": 1},
        ]
    }}}
}

pipeline_job = dg.define_asset_job(
    "smartmarket_pipeline",
    selection=dg.AssetSelection.all(),
    description="Everything: ingest new landing files, build and test the dbt models, train and score.",
    config=_RUN_CONFIG,
)

daily_schedule = dg.ScheduleDefinition(
    name="daily_pipeline",
    job=pipeline_job,
    cron_schedule="0 2 * * *",
    # The schedule is defined when the code location loads, so its time zone is read then.
    execution_timezone=os.environ.get("SMARTMARKET_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 02:00: ingest, rebuild marts, retrain and re-score.",
)


def landing_fingerprint(landing_dir: Path) -> dict[str, dict[str, str]]:
    """Per kind: relative path -> size and mtime of every landing file (cheap: no file is read)."""
    state: dict[str, dict[str, str]] = {}
    for kind in KINDS:
        files = {}
        for path in landing_files(landing_dir, kind):
            st = path.stat()
            files[path.relative_to(landing_dir).as_posix()] = f"{st.st_size}:{st.st_mtime_ns}"
        state[kind] = files
    return state


def changed_kinds(previous: dict[str, dict[str, str]], current: dict[str, dict[str, str]]) -> list[str]:
    return [k for k in KINDS if any(previous.get(k, {}).get(p) != v for p, v in current.get(k, {}).items())]


# New files refresh the warehouse (ingest + dbt); retraining stays on the daily schedule.
landing_refresh_job = dg.define_asset_job(
    "landing_refresh",
    selection=dg.AssetSelection.groups("ingest").downstream() - dg.AssetSelection.groups("ml"),
    description="Ingest new landing files and rebuild the dbt models that depend on them.",
    config=_RUN_CONFIG,
)


@dg.sensor(
    job=landing_refresh_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches ingestion and the dbt rebuild when files appear or change in landing/.",
)
def landing_zone_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    # Only the file system is looked at: a sensor must never hold a DuckDB connection a run needs.
    settings = load_settings()
    current = landing_fingerprint(settings.landing_dir)
    previous = json.loads(context.cursor) if context.cursor else {}
    kinds = changed_kinds(previous, current)
    if not kinds:
        return dg.SkipReason(f"no new or changed files under {settings.landing_dir}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(tags={"smartmarket/trigger": "landing", "smartmarket/kinds": ",".join(kinds)})],
        cursor=json.dumps(current, sort_keys=True),
    )


@dg.run_failure_sensor(
    name="run_failure_alerts",
    monitor_all_code_locations=False,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run under <data dir>/alerts/ and posts it to "
                "SMARTMARKET_ALERT_WEBHOOK_URL when that is set (off by default).",
)
def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
    failed_steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
    failure = RunFailure(
        run_id=context.dagster_run.run_id,
        job_name=context.dagster_run.job_name,
        failed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        error=context.failure_event.message or "run failed",
        failed_steps=failed_steps,
    )
    record_failure(load_settings().data_dir / "alerts" / "run_failures.jsonl", failure)
    url = os.environ.get("SMARTMARKET_ALERT_WEBHOOK_URL", "").strip()
    if url:
        problem = post_webhook(url, failure)
        if problem:
            context.log.warning(problem)


defs = dg.Definitions(jobs=[pipeline_job, landing_refresh_job], schedules=[daily_schedule],
                      sensors=[landing_zone_sensor, run_failure_alerts])
