"""Run-failure alerts: always recorded to a JSON-lines file, optionally posted to a webhook.

The webhook is off unless SMARTMARKET_ALERT_WEBHOOK_URL is set; posting failures are reported back,
never raised, so a broken alert channel cannot fail the sensor that watches the runs.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job_name: str
    failed_at: str  # ISO timestamp
    error: str
    failed_steps: list[str]

    def text(self) -> str:
        steps = ", ".join(self.failed_steps) or "the run itself"
        return f"SmartMarket run {self.run_id[:8]} of {self.job_name} failed in {steps}: {self.error[:500]}"


def record_failure(path: Path, failure: RunFailure) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(failure)) + "\n")


def post_webhook(url: str, failure: RunFailure, timeout: float = 10.0) -> str | None:
    """POST the failure as JSON (`text` for chat tools, plus the fields); return an error text or None."""
    payload = json.dumps({"text": failure.text(), **asdict(failure)}).encode()
    request = urllib.request.Request(url, data=payload, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status >= 300:
                return f"webhook answered HTTP {response.status}"
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        return f"webhook post failed: {exc}"
    return None
