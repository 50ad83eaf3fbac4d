"""Customer-driven basket simulation, written per tenant per quarter.

Each customer visits as a Poisson process with their own rate times the shop's daily traffic multiplier,
only between joining and dropping out. A visit is a basket of lines; each line's product is drawn from
the day's choice probabilities (seasonality, trend, promotions). Some lines come back later as returns.
Planned purchases (a new product's launch sale, an exchange) are added as visits of their own.
Because every step is a known distribution, the expected units per product and day are exact ground truth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smartmarket.datagen.catalog import Catalog, ProductDays
from smartmarket.datagen.customers import Customers, alive_rate_by_day
from smartmarket.datagen.defects import empty_counts, inject_defects
from smartmarket.datagen.files import write_csv_lines
from smartmarket.datagen.profiles import Profile
from smartmarket.datagen.seasonality import Calendar

_TIMES = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]
_RETURN_KEEP_SHARE = 0.4  # chance each extra unit of a returned multi-unit line is also returned
LAUNCH_SALE_UNITS = 1  # units of a new product sold on its launch day, on top of the simulated demand


@dataclass
class TenantTransactions:
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    defects: dict[str, int] = field(default_factory=empty_counts)
    gross_units: np.ndarray | None = None  # realised day x product units sold
    returned_units: np.ndarray | None = None  # realised day x product units returned
    net_cents: np.ndarray | None = None  # per customer (walk-in last): sum of amounts written, in cents
    purchase_lines: np.ndarray | None = None  # per customer (walk-in last): purchase lines written
    last_day: int = -1  # index of the last day with a transaction


def quarters(cal: Calendar) -> list[tuple[int, int, str]]:
    """(first day, end day exclusive, label) of each calendar quarter touching the window."""
    out = []
    year, q = cal.start.year, (cal.start.month - 1) // 3
    while True:
        q_start = dt.date(year, 3 * q + 1, 1)
        if q_start > cal.end:
            return out
        nxt = dt.date(year + (q == 3), 3 * ((q + 1) % 4) + 1, 1)
        lo, hi = max(cal.index_of(q_start), 0), min(cal.index_of(nxt), cal.n_days)
        out.append((lo, hi, f"{year}Q{q + 1}"))
        year, q = year + (q == 3), (q + 1) % 4


PLANNED_KEYS = ("day", "cust", "prod", "qty", "pay", "time")
RETURN_KEYS = ("day", "cust", "prod", "qty", "price", "pay", "time")  # time -1: drawn when emitted


def planned_lines(**columns: np.ndarray) -> dict[str, np.ndarray]:
    """Purchase lines decided before the simulation (launch sales, exchanges), as int64 columns."""
    n = len(columns["day"])
    return {
        k: np.asarray(columns[k], dtype=np.int64) if k in columns else np.zeros(n, np.int64)
        for k in PLANNED_KEYS
    }


def concat_lines(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]).astype(np.int64) for k in PLANNED_KEYS}


def launch_sales(
    catalog: Catalog, customers: Customers, profile: Profile, seed: int, tenant_index: int
) -> dict[str, np.ndarray]:
    """A new product is first sold on its launch day: one unit to a customer active that day, else a walk-in."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, tenant_index, 6]))
    p = catalog.products
    prod = np.flatnonzero(p["is_new"].to_numpy())
    day = p["launch_day"].to_numpy()[prod]
    shopper = np.full(len(day), customers.n, dtype=np.int64)
    for i, d in enumerate(day.tolist()):
        active = np.flatnonzero((customers.join_day <= d) & (customers.churn_day > d))
        if len(active):
            shopper[i] = active[int(rng.integers(len(active)))]
    return planned_lines(
        day=day,
        cust=shopper,
        prod=prod,
        qty=np.full(len(day), LAUNCH_SALE_UNITS),
        pay=rng.choice(len(profile.payment_methods), len(day), p=profile.payment_probs),
        time=profile.open_hour * 3600
        + rng.integers(0, (profile.close_hour - profile.open_hour) * 3600, len(day)),
    )


def expected_units(
    traffic: np.ndarray,
    customers: Customers,
    profile: Profile,
    pdays: ProductDays,
    planned: dict[str, np.ndarray],
) -> np.ndarray:
    """Expected gross units sold per day x product: the true demand curve, planned purchases included."""
    visits = traffic * (alive_rate_by_day(customers, len(traffic)) + customers.walkin_rate)
    expected = visits[:, None] * (1 + profile.extra_lines) * pdays.choice * pdays.qty_per_line[None, :]
    np.add.at(expected, (planned["day"], planned["prod"]), planned["qty"])
    return expected


def simulate_tenant(
    out_dir: Path,
    catalog: Catalog,
    profile: Profile,
    cal: Calendar,
    customers: Customers,
    pdays: ProductDays,
    traffic: np.ndarray,
    seed: int,
    tenant_index: int,
    defect_rate: float,
    progress: Callable[[str], None],
    planned: dict[str, np.ndarray],
    planned_returns: dict[str, np.ndarray],
) -> TenantTransactions:
    """Simulate and write one tenant's transactions, with the planned purchases and returns on top.

    Each planned purchase is its own visit (invoice); `planned_returns` are return lines (day, cust, prod,
    qty > 0 units back, price in cents, pay, time of day in seconds) emitted on their day.
    """
    tenant = catalog.tenant
    n_prod, n_cust = catalog.n, customers.n
    result = TenantTransactions(
        gross_units=np.zeros((cal.n_days, n_prod)),
        returned_units=np.zeros((cal.n_days, n_prod)),
        net_cents=np.zeros(n_cust + 1, dtype=np.int64),
        purchase_lines=np.zeros(n_cust + 1, dtype=np.int64),
    )
    cum_traffic = np.concatenate([[0.0], np.cumsum(traffic)])
    cum_choice = np.cumsum(pdays.choice, axis=1)
    cum_choice[:, -1] = 1.0
    # Offsetting row d by d makes one sorted array: a single searchsorted draws every line's product.
    flat_choice = (cum_choice + np.arange(cal.n_days)[:, None]).ravel()
    rates = np.append(customers.rate, customers.walkin_rate)
    joins = np.append(customers.join_day, 0)
    churns = np.append(customers.churn_day, cal.n_days)

    p = catalog.products
    product_text = [
        f"{a},{b},{c}" for a, b, c in zip(p["product_id"], p["product_name"], p["category"], strict=True)
    ]
    customer_text = [*customers.ids, ""]  # the last index is the anonymous walk-in shopper
    pay_text = list(profile.payment_methods)
    open_s, close_s = profile.open_hour * 3600, profile.close_hour * 3600
    invoice_seq = 0
    carry = {k: np.asarray(planned_returns[k], dtype=np.int64) for k in RETURN_KEYS}

    for chunk, (lo, hi, label) in enumerate(quarters(cal)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, tenant_index, 4, chunk]))
        start, stop = np.maximum(joins, lo), np.minimum(churns, hi)
        mass = np.where(stop > start, cum_traffic[np.maximum(stop, start)] - cum_traffic[start], 0.0)
        n_visits = rng.poisson(rates * mass)
        cust = np.repeat(np.arange(n_cust + 1), n_visits)
        # Place each visit on a day with probability proportional to traffic within the customer's window.
        u = cum_traffic[start[cust]] + rng.random(len(cust)) * mass[cust]
        vday = np.clip(np.searchsorted(cum_traffic, u, side="right") - 1, start[cust], stop[cust] - 1)
        vtime = open_s + (rng.beta(2.0, 2.0, len(cust)) * (close_s - open_s)).astype(np.int64)
        vpay = rng.choice(len(pay_text), len(cust), p=profile.payment_probs)

        lines_per_visit = 1 + rng.poisson(profile.extra_lines, len(cust))
        line_visit = np.repeat(np.arange(len(cust)), lines_per_visit)
        line_day = vday[line_visit]
        pos = np.searchsorted(flat_choice, line_day + rng.random(len(line_visit)), side="right")
        line_prod = np.clip(pos - line_day * n_prod, 0, n_prod - 1)
        line_qty = 1 + rng.poisson((pdays.qty_per_line - 1)[line_prod])
        # The same product twice in one basket becomes one line with the summed quantity.
        keys, inverse = np.unique(line_visit * n_prod + line_prod, return_inverse=True)
        qty = np.bincount(inverse, weights=line_qty).astype(np.int64)
        visit, prod = keys // n_prod, keys % n_prod
        inside = (planned["day"] >= lo) & (planned["day"] < hi)
        if inside.any():
            extra = {k: v[inside] for k, v in planned.items()}
            visit = np.concatenate([visit, len(cust) + np.arange(len(extra["day"]))])
            prod = np.concatenate([prod, extra["prod"]])
            qty = np.concatenate([qty, extra["qty"]])
            cust = np.concatenate([cust, extra["cust"]])
            vday = np.concatenate([vday, extra["day"]])
            vtime = np.concatenate([vtime, extra["time"]])
            vpay = np.concatenate([vpay, extra["pay"]])
        day = vday[visit]
        price = pdays.price_cents[day, prod]
        np.add.at(result.gross_units, (day, prod), qty)

        # Returns: only identified customers can bring goods back, before they drop out of the shop.
        who = cust[visit]
        back = (who < n_cust) & (rng.random(len(visit)) < profile.return_prob)
        rday = day + rng.integers(1, profile.return_max_days + 1, len(visit))
        back &= (rday < cal.n_days) & (rday < churns[who])
        extra = np.maximum(qty - 1, 0)
        new_returns = {
            "day": rday[back],
            "cust": who[back],
            "prod": prod[back],
            "qty": 1 + rng.binomial(extra[back], _RETURN_KEEP_SHARE),
            "price": price[back],
            "pay": vpay[visit][back],
            "time": np.full(int(back.sum()), -1, dtype=np.int64),
        }
        returns = {k: np.concatenate([carry[k], new_returns[k]]) for k in carry}
        now = returns["day"] < hi
        carry = {k: v[~now] for k, v in returns.items()}
        returns = {k: v[now] for k, v in returns.items()}
        np.add.at(result.returned_units, (returns["day"], returns["prod"]), returns["qty"])
        n_ret = len(returns["day"])

        # One table of purchase lines then return lines; a return is its own invoice.
        all_day = np.concatenate([day, returns["day"]])
        drawn = open_s + rng.integers(0, close_s - open_s, n_ret)
        all_time = np.concatenate([vtime[visit], np.where(returns["time"] >= 0, returns["time"], drawn)])
        group = np.concatenate([visit, len(cust) + np.arange(n_ret)])
        all_prod = np.concatenate([prod, returns["prod"]])
        order = np.lexsort((all_prod, group, all_time, all_day))
        group = group[order]
        new_invoice = np.concatenate([[True], group[1:] != group[:-1]])
        invoice = invoice_seq + np.cumsum(new_invoice)
        invoice_seq = int(invoice[-1]) if len(invoice) else invoice_seq
        cols = (
            invoice,
            all_day[order],
            all_time[order],
            np.concatenate([who, returns["cust"]])[order],
            all_prod[order],
            np.concatenate([qty, -returns["qty"]])[order],
            np.concatenate([price, returns["price"]])[order],
            np.concatenate([vpay[visit], returns["pay"]])[order],
        )
        np.add.at(result.net_cents, cols[3], cols[5] * cols[6])
        np.add.at(result.purchase_lines, cols[3], cols[5] > 0)
        if len(all_day):
            result.last_day = max(result.last_day, int(all_day.max()))
        tid, code, cur, dates = tenant.tenant_id, tenant.code, profile.currency, cal.date_strings
        lines = [
            f"{tid},{code}-{inv:08d},{dates[d]} {_TIMES[t]},{customer_text[c]},{product_text[j]},{q},"
            f"{pc / 100:.2f},{q * pc / 100:.2f},{pay_text[m]},{cur}"
            for inv, d, t, c, j, q, pc, m in zip(*(a.tolist() for a in cols), strict=True)
        ]
        if defect_rate > 0:
            lines, counts = inject_defects(
                lines,
                defect_rate,
                np.random.default_rng(np.random.SeedSequence([seed, tenant_index, 5, chunk])),
            )
            for k, v in counts.items():
                result.defects[k] += v
        path = out_dir / "landing" / "transactions" / f"{tenant.tenant_id}_{label}.csv"
        write_csv_lines(path, "transactions", lines)
        result.files.append(path)
        result.rows += len(lines)
        progress(f"transactions: {tenant.tenant_id} {label} ... {len(lines):,} rows")
    return result
