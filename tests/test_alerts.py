"""Run-failure alerting: recorded to a file always, posted to a webhook when configured."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from smartmarket.alerts import RunFailure, post_webhook


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


@dg.op
def explode() -> None:
    raise RuntimeError("landing folder unreadable")


@dg.job
def failing_job() -> None:
    explode()


def _failure_context(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    failure_event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts", dagster_event=failure_event, dagster_instance=instance,
        dagster_run=run).for_run_failure()


def test_failed_run_is_recorded_and_posted(data_dir: Path, webhook, monkeypatch) -> None:
    from orchestration.automation import run_failure_alerts

    url, received = webhook
    monkeypatch.setenv("SMARTMARKET_ALERT_WEBHOOK_URL", url)
    with dg.instance_for_test() as instance:
        context = _failure_context(instance)
        run_failure_alerts(context)

    lines = (data_dir / "alerts" / "run_failures.jsonl").read_text().splitlines()
    recorded = json.loads(lines[0])
    assert recorded["job_name"] == "failing_job"
    assert recorded["failed_steps"] == ["explode"]
    assert len(received) == 1
    assert received[0]["run_id"] == recorded["run_id"]
    assert "failing_job failed in explode" in received[0]["text"]


def test_without_a_webhook_nothing_is_posted_but_the_failure_is_recorded(data_dir: Path, webhook,
                                                                          monkeypatch) -> None:
    from orchestration.automation import run_failure_alerts

    _, received = webhook
    monkeypatch.delenv("SMARTMARKET_ALERT_WEBHOOK_URL", raising=False)
    with dg.instance_for_test() as instance:
        run_failure_alerts(_failure_context(instance))
    assert received == []
    assert len((data_dir / "alerts" / "run_failures.jsonl").read_text().splitlines()) == 1


def test_an_unreachable_webhook_is_reported_not_raised() -> None:
    failure = RunFailure("abc", "job", "2026-01-01T00:00:00", "boom", [])
    problem = post_webhook("http://127.0.0.1:9/nothing-listens-here", failure, timeout=2)
    assert problem is not None and problem.startswith("webhook post failed")
