"""Keep dbt's partial-parse state per warehouse profile, so each dbt invocation does not re-parse the project.

dbt re-parses every file when the rendered profile differs from the one its saved state was parsed with. The
state shipped in `dbt_project/target/` comes from `make prepare`, which parses without the warehouse settings,
so every pipeline dbt step used to start with a full parse; with one step per branch that cost is paid several
times a run. The last state parsed with this warehouse's profile is kept under the data dir and handed to the
next invocation, whose own target directory it is copied into (dbt reads and rewrites it there).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from smartmarket.config import Settings

PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def partial_parse_cache(settings: Settings) -> Path:
    """Where the state for this warehouse's profile is kept (keyed by a hash: the password never shows)."""
    key = hashlib.sha256(json.dumps(settings.dbt_env(), sort_keys=True).encode()).hexdigest()[:16]
    return settings.data_dir / "dbt" / f"partial_parse-{key}.msgpack"


def restore_partial_parse(settings: Settings, target_path: Path) -> bool:
    """Put the kept state into a fresh dbt target directory; False when there is none yet."""
    cache = partial_parse_cache(settings)
    if not cache.exists():
        return False
    target_path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache, target_path / PARTIAL_PARSE_FILE)
    return True


def keep_partial_parse(settings: Settings, target_path: Path) -> bool:
    """Keep the state a finished invocation left in `target_path`, replacing the old one atomically."""
    produced = target_path / PARTIAL_PARSE_FILE
    if not produced.exists():
        return False
    cache = partial_parse_cache(settings)
    cache.parent.mkdir(parents=True, exist_ok=True)
    # several dbt steps can finish at once: each writes its own temporary file, the rename is atomic
    tmp = cache.with_name(f"{cache.name}.{uuid.uuid4().hex[:8]}.tmp")
    shutil.copyfile(produced, tmp)
    os.replace(tmp, cache)
    return True
