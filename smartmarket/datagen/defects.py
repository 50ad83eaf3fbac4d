"""Deliberate data-quality defects for transaction files, so ingestion and quarantine have work to do."""

from __future__ import annotations

import numpy as np

DEFECT_KINDS = ("duplicate_rows", "malformed_rows", "negative_prices", "bad_dates", "unknown_products")

# Column positions in the transactions contract.
_TS, _PRODUCT, _QTY, _PRICE, _AMOUNT = 2, 4, 7, 8, 9
_BAD_DATES = ("2025-13-45 10:00:00", "not-a-date", "2025-02-30 12:00:00", "31/31/2025")


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(DEFECT_KINDS, 0)


def inject_defects(
    lines: list[str], rate: float, rng: np.random.Generator
) -> tuple[list[str], dict[str, int]]:
    """Corrupt distinct clean rows: about rate/5 of the rows for each defect kind.

    Each affected row carries exactly one defect, so downstream counts can be checked exactly.
    """
    counts = empty_counts()
    n = len(lines)
    if rate <= 0 or n == 0:
        return lines, counts
    per_kind = rng.binomial(n, min(rate, 1.0) / len(DEFECT_KINDS), size=len(DEFECT_KINDS))
    while per_kind.sum() > n:  # only reachable with rates close to 1
        per_kind[int(np.argmax(per_kind))] -= 1
    rows = rng.choice(n, size=int(per_kind.sum()), replace=False)
    groups = np.split(rows, np.cumsum(per_kind)[:-1])
    out = list(lines)
    for kind, idx in zip(DEFECT_KINDS, groups, strict=True):
        counts[kind] = len(idx)
        if kind == "duplicate_rows":
            continue
        for i in idx.tolist():
            fields = out[i].split(",")
            if kind == "malformed_rows":
                if rng.random() < 0.5:
                    fields[_QTY] = "abc"
                else:
                    fields = fields[: _QTY + 1]  # a truncated line: too few fields
            elif kind == "negative_prices":
                cents = round(float(fields[_PRICE]) * 100)
                fields[_PRICE] = f"{-cents / 100:.2f}"
                fields[_AMOUNT] = f"{-cents * int(fields[_QTY]) / 100:.2f}"
            elif kind == "bad_dates":
                fields[_TS] = _BAD_DATES[int(rng.integers(len(_BAD_DATES)))]
            else:
                fields[_PRODUCT] = f"UNKNOWN-{int(rng.integers(100, 1000))}"
            out[i] = ",".join(fields)
    dups = np.sort(groups[0]).tolist()
    if dups:
        # An exact copy placed right after its original, as a double-submitted till export would.
        spliced: list[str] = []
        prev = 0
        for i in dups:
            spliced.extend(out[prev : i + 1])
            spliced.append(out[i])
            prev = i + 1
        spliced.extend(out[prev:])
        out = spliced
    return out, counts
