"""What a generation wrote: files, row counts, defects, and the merchant shapes tests assert on.

The shapes (sales-only and early-ending tenants, new products, pre-history returns, net-negative customers)
are recorded here from what was simulated, so downstream tests never re-derive them from the files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from smartmarket.datagen.defects import empty_counts


@dataclass(frozen=True)
class TenantShape:
    kind: str
    has_inventory: bool  # False: a sales-only tenant, no inventory file written
    end_date: (
        dt.date
    )  # last day of the tenant's data window (earlier than the report's for an early-ending tenant)
    last_transaction_date: dt.date  # last day with a transaction row: the tenant's own as-of date


@dataclass(frozen=True)
class NewProduct:
    tenant_id: str
    product_id: str
    launch_date: dt.date  # first day on sale and the day of its first transaction
    days_before_end: int  # launch_date = tenant end_date - days_before_end
    history_days: int  # days from launch_date to the tenant's last_transaction_date, both included


@dataclass(frozen=True)
class PrehistoryReturner:
    tenant_id: str
    customer_id: str
    return_date: (
        dt.date
    )  # date of the customer's first line: a return of a product they never bought in the data
    product_id: str
    buys_later: bool  # the customer has purchase lines after the return; half the returners never buy again


@dataclass(frozen=True)
class NetNegativeCustomer:
    tenant_id: str
    customer_id: str
    net_amount: float  # sum of `amount` over the customer's rows (clean rows: before any injected defect)
    has_purchases: bool  # True: the customer also bought in the data, so customer marts score them


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


@dataclass
class GenerationReport:
    files: dict[str, list[Path]] = field(default_factory=dict)  # landing kinds plus "ground_truth"
    rows: dict[str, int] = field(default_factory=dict)  # data rows written per landing kind, defects included
    defects: dict[str, int] = field(default_factory=empty_counts)
    start_date: dt.date | None = None
    end_date: dt.date | None = None  # the latest tenant end date
    tenants: list[str] = field(default_factory=list)
    tenant_shapes: dict[str, TenantShape] = field(default_factory=dict)
    new_products: list[NewProduct] = field(default_factory=list)
    prehistory_returners: list[PrehistoryReturner] = field(default_factory=list)
    net_negative_customers: list[NetNegativeCustomer] = field(default_factory=list)

    @property
    def sales_only_tenants(self) -> list[str]:
        return [t for t, s in self.tenant_shapes.items() if not s.has_inventory]

    @property
    def early_end_tenants(self) -> list[str]:
        return [t for t, s in self.tenant_shapes.items() if self.end_date and s.end_date < self.end_date]

    def shapes_doc(self) -> dict[str, object]:
        def rows(items: list) -> list[dict[str, object]]:
            return [{k: _plain(v) for k, v in dataclasses.asdict(i).items()} for i in items]

        return {
            "tenants": {
                t: {k: _plain(v) for k, v in dataclasses.asdict(s).items()}
                for t, s in self.tenant_shapes.items()
            },
            "sales_only_tenants": self.sales_only_tenants,
            "early_end_tenants": self.early_end_tenants,
            "new_products": rows(self.new_products),
            "prehistory_returners": rows(self.prehistory_returners),
            "net_negative_customers": rows(self.net_negative_customers),
        }

    def to_json(self, root: Path, **extra: object) -> str:
        doc = {
            **extra,
            "files": {k: [p.relative_to(root).as_posix() for p in v] for k, v in self.files.items()},
            "rows": self.rows,
            "defects": self.defects,
            "start_date": _plain(self.start_date),
            "end_date": _plain(self.end_date),
            "tenants": self.tenants,
            "shapes": self.shapes_doc(),
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
