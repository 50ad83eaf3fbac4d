"""`smartmarket` command: generate data and ingest the landing zone without the Dagster UI.

    smartmarket generate --size tiny --out data
    smartmarket ingest [--kind transactions ...]
    smartmarket held [--kind transactions] [--all]
    smartmarket release --kind transactions [--tenant shop_a] [--batch "2026-01-15 02:00:00"]
    smartmarket api-key create --tenant jeweller_01     (or --tenant '*' for every tenant)

Ingestion prints the accounting of every file and exits 1 when a file was rejected or rows were
quarantined, so it can gate a shell pipeline. `held` lists the batches the raw checks held back from
staging; `release` lets them flow on the next run, after review (exit 1 when nothing matched).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smartmarket.contracts import KINDS


def _ingest(args: argparse.Namespace) -> int:
    from smartmarket.config import load_settings
    from smartmarket.ingest.loader import ingest_kind

    settings = load_settings()
    tenants = [t.strip() for t in args.tenants.split(",") if t.strip()] if args.tenants else None
    clean = True
    for kind in args.kind or KINDS:
        result = ingest_kind(settings, kind, tenants=tenants, progress=print)
        totals = result.as_metadata()
        print(f"{kind}: read {totals['rows_read']:,} = loaded {totals['rows_loaded']:,} + quarantined "
              f"{totals['rows_quarantined']:,} + duplicates {totals['rows_duplicate']:,} + skipped by mapping "
              f"{totals['rows_skipped']:,}")
        for f in result.files:
            for line in f.examples:
                print(f"  {line}")
            if f.status == "rejected":
                print(f"  rejected: {f.message}")
        clean = clean and totals["rows_quarantined"] == 0 and totals["files_rejected"] == 0
    return 0 if clean else 1


def _show_hold(h: object) -> str:
    state = f"released {h.released_at:%Y-%m-%d %H:%M:%S} by {h.released_by}" if h.released else "HELD"
    return (f"{h.kind:<14} {h.tenant_id:<20} batch {h.batch_ingested_at:%Y-%m-%d %H:%M:%S.%f}  {state}\n"
            f"    {h.reasons}")


def _held(args: argparse.Namespace) -> int:
    from smartmarket.config import load_settings
    from smartmarket.held_batches import holds
    from smartmarket.warehouse import Warehouse

    found = holds(Warehouse(load_settings()), args.kind, include_released=args.all)
    for h in found:
        print(_show_hold(h))
    if not found:
        print("no batch is held back" + (f" for {args.kind}" if args.kind else ""))
    return 0


def _release(args: argparse.Namespace) -> int:
    from datetime import datetime

    from smartmarket.config import load_settings
    from smartmarket.held_batches import holds, release
    from smartmarket.warehouse import Warehouse

    batch = None
    if args.batch:
        try:
            batch = datetime.fromisoformat(args.batch)
        except ValueError:
            print(f"--batch {args.batch!r} is not a timestamp; copy it from `smartmarket held` "
                  "(e.g. 2026-01-15 02:00:00.123456)", file=sys.stderr)
            return 2
    wh = Warehouse(load_settings())
    done = release(wh, args.kind, tenant_id=args.tenant, batch_ingested_at=batch)
    if not done:
        still = holds(wh, args.kind, include_released=False)
        what = " ".join(x for x in (args.kind, f"tenant {args.tenant}" if args.tenant else "",
                                    f"batch {args.batch}" if args.batch else "") if x)
        print(f"nothing held matches {what}; held now: "
              + (", ".join(f"{h.tenant_id} ({h.batch_ingested_at})" for h in still) or "none"), file=sys.stderr)
        return 1
    for h in done:
        print("released " + _show_hold(h))
    print("the next pipeline run (make demo DEMO_ARGS=--skip-generate, or the Dagster UI) builds them into staging "
          "and the marts")
    return 0


def _api_key(args: argparse.Namespace) -> int:
    from smartmarket.api_keys import append_key, keys_file

    path = Path(args.keys_file).expanduser().resolve() if args.keys_file else keys_file()
    try:
        key = append_key(path, args.tenant)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scope = "every tenant" if args.tenant.strip() == "*" else f"tenant {args.tenant.strip()}"
    print(f"New API key for {scope} (shown once; only its sha256 is stored, in {path}):")
    print(key)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartmarket", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="generate a synthetic data set (see: smartmarket generate --help)",
                   add_help=False)
    ingest = sub.add_parser("ingest", help="ingest new files from the landing zone into the warehouse")
    ingest.add_argument("--kind", action="append", choices=KINDS, help="only this kind (repeatable)")
    ingest.add_argument("--tenants", help="comma-separated allow-list; other tenants are quarantined")
    held = sub.add_parser("held", help="list the batches the raw checks held back from staging")
    held.add_argument("--kind", choices=KINDS, help="only this kind")
    held.add_argument("--all", action="store_true", help="include released holds")
    rel = sub.add_parser("release", help="let held batches flow into staging on the next run, after review")
    rel.add_argument("--kind", choices=KINDS, required=True)
    rel.add_argument("--tenant", help="only this tenant (default: every held tenant of the kind)")
    rel.add_argument("--batch", help="only this batch (its ingestion time, as `smartmarket held` prints it)")
    api_key = sub.add_parser("api-key", help="manage prediction API keys")
    api_key_sub = api_key.add_subparsers(dest="api_key_command", required=True)
    create = api_key_sub.add_parser(
        "create", help="create a key, append its hash to the keys file and print the key once")
    create.add_argument("--tenant", required=True, help="the tenant_id the key may read, or '*' for every tenant")
    create.add_argument("--keys-file", help="default: SMARTMARKET_API_KEYS_FILE, else <data dir>/api_keys.txt")
    args, rest = parser.parse_known_args(argv)
    if args.command == "generate":
        from smartmarket.datagen.__main__ import main as generate_main

        return generate_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "api-key":
        return _api_key(args)
    return {"ingest": _ingest, "held": _held, "release": _release}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
