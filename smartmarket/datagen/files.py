"""Writing landing files byte-for-byte reproducibly (fixed line ending, no quoting, fixed float formats)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from smartmarket.contracts import contract_for

MANIFEST = "generation_report.json"


def write_csv_lines(path: Path, kind: str, lines: Iterable[str]) -> None:
    """Write pre-formatted data lines under the contract's canonical header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(contract_for(kind).names) + "\n")
        for line in lines:
            fh.write(line)
            fh.write("\n")


def remove_previous_output(out_dir: Path) -> None:
    """Delete the files a previous generation listed in its manifest, and nothing else.

    Without this a `tiny` run over an old `large` run would leave stale quarterly files behind, while
    files a user dropped into the landing zone themselves are never touched.
    """
    manifest = out_dir / "ground_truth" / MANIFEST
    if not manifest.exists():
        return
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
    except (json.JSONDecodeError, AttributeError):
        return
    root = out_dir.resolve()
    for paths in listed.values():
        for rel in paths:
            target = (out_dir / rel).resolve()
            if target.is_relative_to(root) and target.is_file():
                target.unlink()
