"""dbt models as Dagster assets; dbt tests surface as asset checks.

Keys follow the warehouse layout: sources are `raw/<table>` (the ingestion assets), models are
`<schema>/<model>` (staging, intermediate, marts), so lineage in the UI reads like the warehouse.
"""


import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.ingest import DAILY_FRESHNESS, WAREHOUSE_TAGS
from orchestration.resources import WarehouseResource
from smartmarket.config import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _dbt_executable() -> Path:
    return Path(sys.executable).with_name("dbt")


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Return the dbt manifest, parsing the project first when it is missing or under `dagster dev`.

    `make prepare` (run by `make demo`/`make test`) builds it ahead of time so the code location loads
    fast. Under `dagster dev` it is re-parsed so model edits show up; we do that ourselves instead of
    `DbtProject.prepare_if_dev()`, which looks for `dbt` on PATH and fails when the venv is not activated.
    """
    manifest = Path(project.manifest_path)
    if os.environ.get("DAGSTER_IS_DEV_CLI") or not manifest.exists():
        subprocess.run(
            [str(_dbt_executable()), "parse", "--quiet", "--project-dir", str(project.project_dir),
             "--profiles-dir", str(project.profiles_dir)],
            check=True, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        )
    return manifest


class SmartMarketTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
                       ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=dg.AssetKey([props["source_name"], props["name"]]))
        layer = props["fqn"][1] if len(props["fqn"]) > 2 else "marts"
        return spec.replace_attributes(
            key=dg.AssetKey([layer, props["name"]]), group_name=layer,
            freshness_policy=DAILY_FRESHNESS if layer == "marts" else None)


translator = SmartMarketTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    op_tags=WAREHOUSE_TAGS,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
               warehouse: WarehouseResource) -> Iterator[Any]:
    # profiles.yml reads the warehouse location from SMARTMARKET_* variables derived from settings.
    os.environ.update(warehouse.settings().dbt_env())
    yield from dbt.cli(["build"], context=context).stream()


def dbt_resource() -> DbtCliResource:
    # The dbt installed beside this interpreter, so `dagster dev` works without an activated venv.
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                          dbt_executable=str(_dbt_executable()))


defs = dg.Definitions(assets=[dbt_models])
