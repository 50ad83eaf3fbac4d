"""Dagster resources. Settings are read from the environment when a resource is used, not at import."""


import os

import dagster as dg

from smartmarket.config import Settings, load_settings
from smartmarket.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse the pipeline writes to: embedded DuckDB by default, Postgres when configured.

    Leave the fields empty to take them from SMARTMARKET_* environment variables.
    """

    data_dir: str | None = None
    warehouse: str | None = None

    def settings(self) -> Settings:
        env = dict(os.environ)
        if self.data_dir:
            env["SMARTMARKET_DATA_DIR"] = self.data_dir
        if self.warehouse:
            env["SMARTMARKET_WAREHOUSE"] = self.warehouse
        return load_settings(env)

    def client(self) -> Warehouse:
        return Warehouse(self.settings())

    def tenants(self) -> list[str] | None:
        """Optional allow-list of tenants (SMARTMARKET_TENANTS=a,b,c); rows of other tenants are quarantined."""
        raw = os.environ.get("SMARTMARKET_TENANTS", "").strip()
        return [t.strip() for t in raw.split(",") if t.strip()] or None
