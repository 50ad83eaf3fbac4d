"""Weekly stock snapshots from a reorder-point policy replaying the simulated sales."""

from __future__ import annotations

import numpy as np

from smartmarket.datagen.catalog import Catalog
from smartmarket.datagen.seasonality import Calendar


def unit_costs(catalog: Catalog, cal: Calendar, gold_999: np.ndarray) -> np.ndarray:
    """Day x product purchase cost, always below the list price."""
    p = catalog.products
    if catalog.tenant.kind == "jeweller":
        # The metal content at the day's gold price; the making charge is the jeweller's margin.
        per_gram = np.round(gold_999[:, None] * p["purity"].to_numpy()[None, :] / 999, 4)
        return per_gram * p["grams"].to_numpy()[None, :]
    steps = (cal.year - cal.start.year)[:, None] if catalog.tenant.kind == "grocer" else 0
    return (p["base_price"] * p["cost_ratio"]).to_numpy()[None, :] * 1.03**steps * np.ones((cal.n_days, 1))


def inventory_lines(
    catalog: Catalog, cal: Calendar, net_sales: np.ndarray, expected: np.ndarray, costs: np.ndarray
) -> list[str]:
    """Monday-morning snapshots, (s, S) policy: order up to S when stock plus orders drop below s.

    A product enters the stock feed in the week of its launch (stocked before its first sale), so a product
    launched mid-week has a snapshot on the Monday before.
    """
    lead = catalog.products["lead_time_days"].to_numpy()
    launch = catalog.products["launch_day"].to_numpy()
    # Stock is sized on the demand while the product is on sale, not diluted by the days before its launch.
    on_sale = np.arange(cal.n_days)[:, None] >= launch[None, :]
    mean_demand = np.maximum((expected * on_sale).sum(axis=0) / np.maximum(on_sale.sum(axis=0), 1), 0.05)
    reorder = np.ceil(mean_demand * (lead + 7) * 1.3)
    order_up_to = reorder + np.ceil(mean_demand * 28)
    on_hand = order_up_to.copy()
    on_order = np.zeros(catalog.n)
    arrivals = np.zeros((cal.n_days + int(lead.max()) + 1, catalog.n))
    cols = np.arange(catalog.n)
    tid = catalog.tenant.tenant_id
    pids = catalog.products["product_id"].tolist()
    lines = []
    for d in range(cal.n_days):
        on_hand += arrivals[d]
        on_order -= arrivals[d]
        if cal.weekday[d] == 0:
            date = cal.date_strings[d]
            lines.extend(
                f"{date},{tid},{pids[j]},{int(on_hand[j])},{costs[d, j]:.2f},{int(lead[j])}"
                for j in np.flatnonzero(launch < d + 7).tolist()
            )
        # Sales the shelf could not cover are treated as back-orders filled from the next delivery.
        on_hand = np.maximum(on_hand - net_sales[d], 0)
        position = on_hand + on_order
        need = position < reorder
        qty = np.where(need, order_up_to - position, 0)
        arrivals[d + lead[need], cols[need]] += qty[need]
        on_order += qty
    return lines
