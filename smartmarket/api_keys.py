"""API keys for the prediction API: generation, hashing and the keys file.

The file named by SMARTMARKET_API_KEYS_FILE (default ``<data dir>/api_keys.txt``) holds one key per line as
``<tenant_id or *>:<sha256 hex of the key>``; ``#`` starts a comment. It never holds a key itself: a leaked
file does not let anyone call the API. ``*`` scopes a key to every tenant.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from smartmarket.config import load_settings

ALL_TENANTS = "*"
KEY_PREFIX = "sm_"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Tenant ids come from the data (any string), but ':' separates the fields and whitespace would not survive
# a round trip through the file.
_TENANT = re.compile(r"^[^\s:#]+$")


def keys_file(env: dict[str, str] | None = None) -> Path:
    """The keys file: SMARTMARKET_API_KEYS_FILE, else ``api_keys.txt`` in the data dir."""
    env = dict(os.environ if env is None else env)
    explicit = env.get("SMARTMARKET_API_KEYS_FILE", "").strip()
    if explicit:
        return Path(explicit).expanduser().resolve()
    return load_settings(env).data_dir / "api_keys.txt"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def validate_tenant(tenant: str) -> str:
    tenant = tenant.strip()
    if tenant != ALL_TENANTS and not _TENANT.match(tenant):
        raise ValueError(f"tenant {tenant!r} is not usable in the keys file: use the tenant_id as it appears in "
                         f"the data (no spaces, ':' or '#'), or '{ALL_TENANTS}' for every tenant")
    return tenant


@dataclass(frozen=True)
class KeyEntry:
    scope: str  # a tenant id or "*"
    digest: str  # sha256 hex of the key
    line: int


@dataclass
class KeysFile:
    entries: list[KeyEntry]
    problems: list[str]  # malformed lines, with their line number (those lines are ignored)

    def by_digest(self) -> dict[str, str]:
        return {e.digest: e.scope for e in self.entries}


def parse_keys(text: str, source: str = "keys file") -> KeysFile:
    entries: list[KeyEntry] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        scope, sep, digest = line.rpartition(":")
        scope, digest = scope.strip(), digest.strip().lower()
        if not sep or not scope:
            problems.append(f"{source} line {number}: expected '<tenant_id or *>:<sha256 hex>', got {line[:80]!r}")
            continue
        if not _HEX64.match(digest):
            problems.append(f"{source} line {number}: {digest[:80]!r} is not a sha256 hex digest (64 hex characters)"
                            " -- the file holds hashes, never keys")
            continue
        try:
            validate_tenant(scope)
        except ValueError as exc:
            problems.append(f"{source} line {number}: {exc}")
            continue
        entries.append(KeyEntry(scope, digest, number))
    return KeysFile(entries, problems)


def read_keys(path: Path) -> KeysFile:
    return parse_keys(path.read_text(encoding="utf-8"), source=str(path))


def append_key(path: Path, tenant: str) -> str:
    """Create a key for ``tenant`` (or ``*``), append its hash to ``path`` and return the key (shown once)."""
    tenant = validate_tenant(tenant)
    key = new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    # The file only holds hashes, but there is no reason for other users to read it.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if not existed:
            fh.write("# SmartMarket API keys: <tenant_id or *>:<sha256 hex of the key>, one per line\n")
        elif path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            fh.write("\n")
        fh.write(f"{tenant}:{hash_key(key)}\n")
    return key
