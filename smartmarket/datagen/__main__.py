"""`python -m smartmarket.datagen --size tiny --seed 7 --out DIR [--defect-rate 0.02]`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from smartmarket.datagen import SIZES, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartmarket.datagen", description=__doc__)
    parser.add_argument("--size", choices=list(SIZES), default="demo")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out", type=Path, required=True, help="data dir: files go to OUT/landing and OUT/ground_truth"
    )
    parser.add_argument(
        "--defect-rate", type=float, default=0.0, help="share of transaction rows to corrupt (0..1)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        report = generate(
            args.out, size=args.size, seed=args.seed, defect_rate=args.defect_rate, progress=print
        )
    except ValueError as exc:
        parser.error(str(exc))
    for kind, rows in report.rows.items():
        print(
            f"{kind}: {rows:,} rows in {len(report.files[kind])} file(s) under {args.out / 'landing' / kind}"
        )
    print("defects: " + ", ".join(f"{k}={v}" for k, v in report.defects.items()))
    early = [f"{t} (last day {report.tenant_shapes[t].end_date})" for t in report.early_end_tenants]
    print(
        f"shapes: sales-only {', '.join(report.sales_only_tenants) or 'none'}; ends early {', '.join(early) or 'none'};"
        f" {len(report.new_products)} new products; {len(report.prehistory_returners)} pre-history returners,"
        f" {len(report.net_negative_customers)} net-negative customers"
    )
    print(
        f"history {report.start_date} .. {report.end_date}; tenants {', '.join(report.tenants)}; "
        f"{time.perf_counter() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
