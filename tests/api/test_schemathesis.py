"""Schemathesis over the live OpenAPI schema, authenticated: no 5xx, every response conforms to the schema.

Each operation gets positive (schema-valid) and negative (schema-violating) cases from Hypothesis. The checks
are the conformance ones plus not_a_server_error, negative_data_rejection and ignored_auth.
positive_data_acceptance is left out on purpose: some schema-valid requests are refused by design because
their validity depends on the data (a gold purity without a model, a date beyond the forecaster's horizon,
an id that does not exist), and those answer 404/422 with what to change.

The operations are driven through `APIOperation.as_strategy` rather than `schemathesis.pytest.from_fixture`,
whose lazy loader reads a pytest attribute that pytest 9 removed.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks

from tests.api.conftest import ApiServer, Keys

pytestmark = pytest.mark.slow
CHECKS = [
    not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
]
EXAMPLES = 25


def fuzz(url: str, key: str, examples: int = EXAMPLES) -> tuple[int, list[str]]:
    """(cases sent, failures) over every operation of the schema at ``url``."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    sent, failures = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
                      derandomize=True, database=None)
            def run(case) -> None:
                nonlocal sent
                sent += 1
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                # no parameters and no body (GET /health): nothing to make invalid
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # one failing operation must not hide the others
                failures.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {str(exc)[:1500]}")
    return sent, failures


def test_api_conforms_to_its_schema(api: ApiServer, keys: Keys) -> None:
    # A tenant key: tenant_id is then optional, so generated requests reach the real data paths.
    sent, failures = fuzz(api.url, keys.by_tenant["jeweller_01"])
    assert sent > 200
    assert failures == [], "\n\n".join(failures)
