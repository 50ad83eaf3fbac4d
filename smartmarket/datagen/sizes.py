"""Size presets: every knob that changes with `--size` lives here, nowhere else.

History windows are fixed dates (never the wall clock) so the same seed always yields the same files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class TenantSpec:
    tenant_id: str
    kind: str  # "jeweller" | "grocer" | "fashion": selects the behaviour profile in profiles.py
    code: str  # short prefix for product, customer and invoice ids
    n_products: int
    n_customers: int


@dataclass(frozen=True)
class SizePreset:
    name: str
    start_date: dt.date
    end_date: dt.date  # inclusive
    tenants: tuple[TenantSpec, ...]
    diamond_rows: int

    @property
    def n_days(self) -> int:
        return (self.end_date - self.start_date).days + 1


def _tenants(counts: dict[str, tuple[int, int]], copies: int = 1) -> tuple[TenantSpec, ...]:
    codes = {"jeweller": "JW", "grocer": "GR", "fashion": "FA"}
    specs = []
    for copy in range(1, copies + 1):
        for kind, (n_products, n_customers) in counts.items():
            specs.append(
                TenantSpec(f"{kind}_{copy:02d}", kind, f"{codes[kind]}{copy:02d}", n_products, n_customers)
            )
    return tuple(specs)


SIZES: dict[str, SizePreset] = {
    # Tests: seconds to build; 18 months so one full year of seasonality plus a second December.
    "tiny": SizePreset(
        "tiny",
        dt.date(2024, 7, 1),
        dt.date(2025, 12, 31),
        _tenants({"jeweller": (6, 40), "grocer": (6, 40), "fashion": (6, 40)}),
        diamond_rows=1_000,
    ),
    # The default demo: two years, product counts kept modest so per-product forecasting stays fast.
    "demo": SizePreset(
        "demo",
        dt.date(2024, 1, 1),
        dt.date(2025, 12, 31),
        _tenants({"jeweller": (20, 400), "grocer": (25, 400), "fashion": (24, 400)}),
        diamond_rows=10_000,
    ),
    # Volume test: >= 5M transaction rows, written per tenant per quarter to bound memory.
    "large": SizePreset(
        "large",
        dt.date(2023, 1, 1),
        dt.date(2025, 12, 31),
        _tenants({"jeweller": (60, 6_000), "grocer": (200, 12_000), "fashion": (150, 20_000)}, copies=2),
        diamond_rows=50_000,
    ),
}


def get_size(name: str) -> SizePreset:
    try:
        return SIZES[name]
    except KeyError:
        raise ValueError(f"unknown size {name!r}; expected one of {', '.join(SIZES)}") from None
