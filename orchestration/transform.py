"""dbt models as Dagster assets, one `dbt build` step per branch; dbt tests surface as asset checks.

Keys follow the warehouse layout: sources are `raw/<table>` (the ingestion assets), models are
`<schema>/<model>` (staging, intermediate, marts), so lineage in the UI reads like the warehouse.
"""


import os
import shutil
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
from smartmarket.dbt_partial_parse import keep_partial_parse, restore_partial_parse

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

# One dbt step per landing kind's branch (dbt selection syntax: select, exclude). Dagster skips a whole
# step when a blocking check upstream of it fails, so with one step for the project a bad transactions batch
# stopped the metal and diamond marts too; per branch, only what is downstream of the failing data waits.
# Sales is everything downstream of transactions that does not need stock; whatever needs stock (inventory
# position, cash flow) is the inventory branch, which also reads sales marts and so runs after sales.
# Every model belongs to exactly one branch (tests/test_dbt_branches.py proves it on the manifest).
DBT_BRANCHES: dict[str, tuple[str, str | None]] = {
    "sales": ("stg_raw__transactions+", "stg_raw__inventory+"),
    "inventory": ("stg_raw__inventory+", None),
    "metal_prices": ("stg_raw__metal_prices+", None),
    "diamond_prices": ("stg_raw__diamond_prices+", None),
}


def build_dbt_branch(branch: str, select: str, exclude: str | None = None) -> dg.AssetsDefinition:
    """`dbt build` of one branch as a multi-asset: its models are assets, its dbt tests asset checks."""

    @dbt_assets(
        manifest=ensure_manifest(),
        project=dbt_project,
        select=select,
        exclude=exclude,
        name=f"dbt_{branch}",
        dagster_dbt_translator=translator,
        op_tags=WAREHOUSE_TAGS,
    )
    def _dbt_branch(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                    warehouse: WarehouseResource) -> Iterator[Any]:
        settings = warehouse.settings()
        # profiles.yml reads the warehouse location from SMARTMARKET_* variables derived from settings.
        os.environ.update(settings.dbt_env())
        # one target directory per invocation, under the data dir like every other dbt run of this project
        target = settings.data_dir / "dbt" / "dagster" / f"{context.run.run_id[:8]}-{branch}"
        restore_partial_parse(settings, target)
        yield from dbt.cli(["build"], context=context, target_path=target).stream()
        keep_partial_parse(settings, target)
        # compiled SQL stays behind only for a failed build (stream() raised before this line)
        shutil.rmtree(target, ignore_errors=True)

    return _dbt_branch


dbt_branches = {branch: build_dbt_branch(branch, select, exclude)
                for branch, (select, exclude) in DBT_BRANCHES.items()}


def dbt_resource() -> DbtCliResource:
    # The dbt installed beside this interpreter, so `dagster dev` works without an activated venv.
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                          dbt_executable=str(_dbt_executable()))


defs = dg.Definitions(assets=list(dbt_branches.values()))
