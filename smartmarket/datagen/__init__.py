"""Deterministic synthetic data for SmartMarket: landing files plus the ground truth behind them.

`generate(out_dir, size, seed)` writes `landing/<kind>/*.csv` in the canonical contracts and
`ground_truth/` (churn, demand curves, price-function parameters, and in `generation_report.json` the merchant
shapes: sales-only and early-ending tenants, new products, pre-history returns). Same seed, same bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from smartmarket.datagen.catalog import build_catalog, product_days
from smartmarket.datagen.customers import build_customers
from smartmarket.datagen.defects import DEFECT_KINDS
from smartmarket.datagen.files import MANIFEST, remove_previous_output, write_csv_lines
from smartmarket.datagen.ground_truth import (
    customer_truth,
    demand_truth,
    product_truth,
    write_params,
    write_tables,
)
from smartmarket.datagen.inventory import inventory_lines, unit_costs
from smartmarket.datagen.prehistory import PrehistoryReturns, plan_prehistory_returns
from smartmarket.datagen.prices import (
    DIAMOND_PRICE_PARAMS,
    diamond_frame,
    gold_walk,
    metal_price_frame,
    true_diamond_price,
)
from smartmarket.datagen.profiles import PROFILES
from smartmarket.datagen.report import (
    GenerationReport,
    NetNegativeCustomer,
    NewProduct,
    PrehistoryReturner,
    TenantShape,
)
from smartmarket.datagen.seasonality import Calendar, traffic_multiplier
from smartmarket.datagen.sizes import SIZES, TenantSpec, get_size
from smartmarket.datagen.transactions import (
    TenantTransactions,
    concat_lines,
    expected_units,
    launch_sales,
    simulate_tenant,
)

__all__ = [
    "DEFECT_KINDS",
    "DIAMOND_PRICE_PARAMS",
    "SIZES",
    "GenerationReport",
    "generate",
    "true_diamond_price",
]


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
        # Each tenant lives on its own window: one that ends early has no days after its end date.
        tcal = Calendar(preset.start_date, preset.end_date - dt.timedelta(days=tenant.ends_days_early))
        gold = walks["gold"][: tcal.n_days]
        catalog = build_catalog(tenant, profile, tcal, seed, index)
        pdays = product_days(catalog, profile, tcal, gold, seed, index)
        returns = plan_prehistory_returns(
            build_customers(tenant, profile, tcal, seed, index),
            profile,
            pdays,
            tcal,
            tenant.prehistory_returners,
            seed,
            index,
        )
        customers = returns.customers
        planned = concat_lines(launch_sales(catalog, customers, profile, seed, index), returns.purchases)
        traffic = traffic_multiplier(tcal, profile)
        sim = simulate_tenant(
            out_dir,
            catalog,
            profile,
            tcal,
            customers,
            pdays,
            traffic,
            seed,
            index,
            defect_rate,
            say,
            planned,
            returns.returns,
        )
        report.files["transactions"].extend(sim.files)
        report.rows["transactions"] += sim.rows
        for k, v in sim.defects.items():
            report.defects[k] += v

        expected = expected_units(traffic, customers, profile, pdays, planned)
        if tenant.has_inventory:
            net_sales = sim.gross_units - sim.returned_units
            inv = inventory_lines(catalog, tcal, net_sales, expected, unit_costs(catalog, tcal, gold))
            path = landing / "inventory" / f"{tenant.tenant_id}.csv"
            write_csv_lines(path, "inventory", inv)
            report.files["inventory"].append(path)
            report.rows["inventory"] += len(inv)
            say(f"inventory: {tenant.tenant_id} ... {len(inv):,} rows")
        else:
            say(f"inventory: {tenant.tenant_id} ... none (sales-only tenant)")
        _record_shapes(report, tenant, tcal, catalog.products, customers.ids, returns, sim)

        tables["customers"].append(customer_truth(tenant.tenant_id, customers, tcal, returns, sim.net_cents))
        tables["demand"].append(demand_truth(catalog, tcal, expected, pdays))
        tables["products"].append(product_truth(catalog, tcal))

    report.files["ground_truth"] = write_tables(gt_dir, tables) + write_params(gt_dir, profiles_doc)
    manifest = gt_dir / MANIFEST
    report.files["ground_truth"].append(manifest)
    manifest.write_text(
        report.to_json(out_dir, size=size, seed=seed, defect_rate=defect_rate), encoding="utf-8"
    )
    say(f"ground_truth: {len(report.files['ground_truth'])} files in {gt_dir}")
    return report


def _record_shapes(
    report: GenerationReport,
    tenant: TenantSpec,
    cal: Calendar,
    products: pd.DataFrame,
    customer_ids: list[str],
    returns: PrehistoryReturns,
    sim: TenantTransactions,
) -> None:
    """Note the tenant's shapes from the simulation itself (clean rows, before any injected defect)."""
    tid = tenant.tenant_id
    last = cal.start + dt.timedelta(days=sim.last_day)
    report.tenant_shapes[tid] = TenantShape(tenant.kind, tenant.has_inventory, cal.end, last)
    pids = products["product_id"].tolist()
    for j in np.flatnonzero(products["is_new"].to_numpy()).tolist():
        launch = cal.start + dt.timedelta(days=int(products["launch_day"].iat[j]))
        report.new_products.append(
            NewProduct(tid, pids[j], launch, (cal.end - launch).days, (last - launch).days + 1)
        )
    for i, c in enumerate(returns.returner.tolist()):
        report.prehistory_returners.append(
            PrehistoryReturner(
                tid,
                customer_ids[c],
                cal.start + dt.timedelta(days=int(returns.returns["day"][i])),
                pids[int(returns.returns["prod"][i])],
                bool(sim.purchase_lines[c] > 0),
            )
        )
    for c in np.flatnonzero(sim.net_cents[: len(customer_ids)] < 0).tolist():
        report.net_negative_customers.append(
            NetNegativeCustomer(
                tid, customer_ids[c], int(sim.net_cents[c]) / 100, bool(sim.purchase_lines[c] > 0)
            )
        )
