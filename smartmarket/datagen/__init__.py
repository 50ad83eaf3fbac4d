"""Deterministic synthetic data for SmartMarket: landing files plus the ground truth behind them.

`generate(out_dir, size, seed)` writes `landing/<kind>/*.csv` in the canonical contracts and
`ground_truth/` (churn, demand curves, price-function parameters). Same seed, same bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from smartmarket.datagen.catalog import build_catalog, product_days
from smartmarket.datagen.customers import build_customers
from smartmarket.datagen.defects import DEFECT_KINDS, empty_counts
from smartmarket.datagen.files import MANIFEST, remove_previous_output, write_csv_lines
from smartmarket.datagen.ground_truth import (
    customer_truth,
    demand_truth,
    product_truth,
    write_params,
    write_tables,
)
from smartmarket.datagen.inventory import inventory_lines, unit_costs
from smartmarket.datagen.prices import (
    DIAMOND_PRICE_PARAMS,
    diamond_frame,
    gold_walk,
    metal_price_frame,
    true_diamond_price,
)
from smartmarket.datagen.profiles import PROFILES
from smartmarket.datagen.seasonality import Calendar, traffic_multiplier
from smartmarket.datagen.sizes import SIZES, get_size
from smartmarket.datagen.transactions import expected_units, simulate_tenant

__all__ = [
    "DEFECT_KINDS",
    "DIAMOND_PRICE_PARAMS",
    "SIZES",
    "GenerationReport",
    "generate",
    "true_diamond_price",
]


@dataclass
class GenerationReport:
    files: dict[str, list[Path]] = field(default_factory=dict)  # landing kinds plus "ground_truth"
    rows: dict[str, int] = field(default_factory=dict)  # data rows written per landing kind, defects included
    defects: dict[str, int] = field(default_factory=empty_counts)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    tenants: list[str] = field(default_factory=list)

    def to_json(self, root: Path, **extra: object) -> str:
        doc = {
            **extra,
            "files": {k: [p.relative_to(root).as_posix() for p in v] for k, v in self.files.items()},
            "rows": self.rows,
            "defects": self.defects,
            "start_date": self.start_date.isoformat() if self.start_date else None,
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "tenants": self.tenants,
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def generate(
    out_dir: Path,
    size: str = "demo",
    seed: int = 42,
    defect_rate: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> GenerationReport:
    """Write a full synthetic data set under `out_dir` and return what was written."""
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError(f"defect_rate must be between 0 and 1, got {defect_rate}")
    preset = get_size(size)
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    remove_previous_output(out_dir)
    landing, gt_dir = out_dir / "landing", out_dir / "ground_truth"
    cal = Calendar(preset.start_date, preset.end_date)
    report = GenerationReport(
        start_date=preset.start_date, end_date=preset.end_date, tenants=[t.tenant_id for t in preset.tenants]
    )
    report.files = {
        "transactions": [],
        "inventory": [],
        "metal_prices": [],
        "diamond_prices": [],
        "ground_truth": [],
    }
    report.rows = {"transactions": 0, "inventory": 0, "metal_prices": 0, "diamond_prices": 0}

    walks = gold_walk(cal, seed)
    metals = metal_price_frame(cal, walks)
    path = landing / "metal_prices" / "metal_prices.csv"
    write_csv_lines(
        path,
        "metal_prices",
        (f"{d},{m},{p},{v:.4f},{c},{s}" for d, m, p, v, c, s in metals.itertuples(index=False, name=None)),
    )
    report.files["metal_prices"].append(path)
    report.rows["metal_prices"] = len(metals)
    say(f"metal_prices: {len(metals):,} rows")

    diamonds = diamond_frame(cal, preset.diamond_rows, seed)
    path = landing / "diamond_prices" / "diamond_prices.csv"
    write_csv_lines(
        path,
        "diamond_prices",
        (
            f"{r.carat:.2f},{r.cut},{r.color},{r.clarity},{r.price:.2f},{r.depth:.1f},{r.table:.1f},"
            f"{r.x:.2f},{r.y:.2f},{r.z:.2f},{r.date}"
            for r in diamonds.itertuples(index=False)
        ),
    )
    report.files["diamond_prices"].append(path)
    report.rows["diamond_prices"] = len(diamonds)
    say(f"diamond_prices: {len(diamonds):,} rows")

    tables: dict[str, list] = {"customers": [], "demand": [], "products": []}
    profiles_doc = {}
    for index, tenant in enumerate(preset.tenants):
        profile = PROFILES[tenant.kind]
        profiles_doc[tenant.tenant_id] = {
            "spec": dataclasses.asdict(tenant),
            "profile": dataclasses.asdict(profile),
        }
        catalog = build_catalog(tenant, profile, cal, seed, index)
        customers = build_customers(tenant, profile, cal, seed, index)
        pdays = product_days(catalog, profile, cal, walks["gold"], seed, index)
        traffic = traffic_multiplier(cal, profile)
        sim = simulate_tenant(
            out_dir, catalog, profile, cal, customers, pdays, traffic, seed, index, defect_rate, say
        )
        report.files["transactions"].extend(sim.files)
        report.rows["transactions"] += sim.rows
        for k, v in sim.defects.items():
            report.defects[k] += v

        expected = expected_units(traffic, customers, profile, pdays)
        net_sales = sim.gross_units - sim.returned_units
        inv = inventory_lines(catalog, cal, net_sales, expected, unit_costs(catalog, cal, walks["gold"]))
        path = landing / "inventory" / f"{tenant.tenant_id}.csv"
        write_csv_lines(path, "inventory", inv)
        report.files["inventory"].append(path)
        report.rows["inventory"] += len(inv)
        say(f"inventory: {tenant.tenant_id} ... {len(inv):,} rows")

        tables["customers"].append(customer_truth(tenant.tenant_id, customers, cal))
        tables["demand"].append(demand_truth(catalog, cal, expected, pdays))
        tables["products"].append(product_truth(catalog))

    report.files["ground_truth"] = write_tables(gt_dir, tables) + write_params(gt_dir, profiles_doc)
    manifest = gt_dir / MANIFEST
    report.files["ground_truth"].append(manifest)
    manifest.write_text(
        report.to_json(out_dir, size=size, seed=seed, defect_rate=defect_rate), encoding="utf-8"
    )
    say(f"ground_truth: {len(report.files['ground_truth'])} files in {gt_dir}")
    return report
