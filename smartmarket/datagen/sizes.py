"""Size presets: every knob that changes with `--size` lives here, nowhere else.

History windows are fixed dates (never the wall clock) so the same seed always yields the same files.
Each preset carries the shapes real merchants have: products launched in the last weeks, a tenant that
sends sales but no inventory feed, a tenant whose data ends weeks before the others', and customers
whose first lines are returns of goods bought before the data starts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

# Days before a tenant's last day on which its new products are launched (first sold): two series shorter
# than a week, four shorter than a 28-day holdout, and one with only two days before that holdout's cut.
NEW_PRODUCT_AGES = (2, 5, 10, 20, 30)
# A shop that closed for a month or sends its batches late: its data stops this many days early.
EARLY_END_DAYS = 35


@dataclass(frozen=True)
class TenantSpec:
    tenant_id: str
    kind: str  # "jeweller" | "grocer" | "fashion": selects the behaviour profile in profiles.py
    code: str  # short prefix for product, customer and invoice ids
    n_products: int  # products sold from the start or launched mid-history
    n_customers: int
    new_product_ages: tuple[int, ...] = (
        NEW_PRODUCT_AGES  # extra products launched this many days before the end
    )
    prehistory_returners: int = 0  # customers whose first line returns goods bought before the data starts
    has_inventory: bool = True  # False: a sales-only shop, no inventory file at all
    ends_days_early: int = 0  # the tenant's last day is this many days before the preset's end date


@dataclass(frozen=True)
class SizePreset:
    name: str
    start_date: dt.date
    end_date: dt.date  # inclusive; the last day of the tenants that do not end early
    tenants: tuple[TenantSpec, ...]
    diamond_rows: int

    @property
    def n_days(self) -> int:
        return (self.end_date - self.start_date).days + 1


def _tenants(
    counts: dict[str, tuple[int, int]],
    copies: int = 1,
    *,
    returners: int,
    ends_early: tuple[str, ...] = (),
    sales_only: tuple[TenantSpec, ...] = (),
) -> tuple[TenantSpec, ...]:
    codes = {"jeweller": "JW", "grocer": "GR", "fashion": "FA"}
    specs = []
    for copy in range(1, copies + 1):
        for kind, (n_products, n_customers) in counts.items():
            tenant_id = f"{kind}_{copy:02d}"
            specs.append(
                TenantSpec(
                    tenant_id,
                    kind,
                    f"{codes[kind]}{copy:02d}",
                    n_products,
                    n_customers,
                    prehistory_returners=returners,
                    ends_days_early=EARLY_END_DAYS if tenant_id in ends_early else 0,
                )
            )
    specs.extend(
        dataclasses.replace(s, prehistory_returners=returners, has_inventory=False) for s in sales_only
    )
    return tuple(specs)


SIZES: dict[str, SizePreset] = {
    # Tests: seconds to build; 18 months so one full year of seasonality plus a second December.
    "tiny": SizePreset(
        "tiny",
        dt.date(2024, 7, 1),
        dt.date(2025, 12, 31),
        _tenants(
            {"jeweller": (6, 40), "grocer": (6, 40), "fashion": (6, 40)},
            returners=3,
            ends_early=("jeweller_01",),
            sales_only=(TenantSpec("kiosk_01", "grocer", "KI01", 5, 30),),
        ),
        diamond_rows=1_000,
    ),
    # The default demo: two years, product counts kept modest so per-product forecasting stays fast.
    "demo": SizePreset(
        "demo",
        dt.date(2024, 1, 1),
        dt.date(2025, 12, 31),
        _tenants(
            {"jeweller": (20, 400), "grocer": (25, 400), "fashion": (24, 400)},
            returners=5,
            ends_early=("jeweller_01",),
            sales_only=(TenantSpec("kiosk_01", "grocer", "KI01", 8, 120),),
        ),
        diamond_rows=10_000,
    ),
    # Volume test: >= 5M transaction rows, written per tenant per quarter to bound memory.
    "large": SizePreset(
        "large",
        dt.date(2023, 1, 1),
        dt.date(2025, 12, 31),
        _tenants(
            {"jeweller": (60, 6_000), "grocer": (200, 12_000), "fashion": (150, 20_000)},
            copies=2,
            returners=20,
            ends_early=("jeweller_01",),
            sales_only=(TenantSpec("kiosk_01", "grocer", "KI01", 30, 1_500),),
        ),
        diamond_rows=50_000,
    ),
}


def get_size(name: str) -> SizePreset:
    try:
        return SIZES[name]
    except KeyError:
        raise ValueError(f"unknown size {name!r}; expected one of {', '.join(SIZES)}") from None
