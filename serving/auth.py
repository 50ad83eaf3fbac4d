"""Bearer API keys scoped to one tenant or to all (``*``), checked against the hashes in the keys file.

The file is re-read when it changes (checked at most once a second), so ``smartmarket api-key create``
takes effect without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.errors import ApiError
from smartmarket.api_keys import ALL_TENANTS, hash_key, read_keys

log = logging.getLogger("smartmarket.api")
_RECHECK_SECONDS = 1.0
CREATE_HINT = "create one with `smartmarket api-key create --tenant <tenant_id>`"


@dataclass(frozen=True)
class Principal:
    scope: str  # the tenant the key may read, or "*"

    @property
    def all_tenants(self) -> bool:
        return self.scope == ALL_TENANTS


class KeyStore:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._by_digest: dict[str, str] = {}
        self._problems: list[str] = []
        self._error: str | None = None
        self._checked = 0.0

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < _RECHECK_SECONDS:
            return
        with self._lock:
            if now - self._checked < _RECHECK_SECONDS:
                return
            self._checked = now
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._by_digest, self._problems = None, {}, []
                self._error = f"API keys file {self.path} does not exist: {CREATE_HINT}"
                return
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp == self._stamp:
                return
            try:
                parsed = read_keys(self.path)
            except OSError as exc:
                self._error = f"cannot read API keys file {self.path}: {exc}"
                return
            for problem in parsed.problems:
                log.warning("ignored: %s", problem)
            self._stamp, self._by_digest, self._problems = stamp, parsed.by_digest(), parsed.problems
            self._error = None if self._by_digest else f"API keys file {self.path} holds no valid key: {CREATE_HINT}"

    def scope_of(self, key: str) -> str | None:
        self._refresh()
        return self._by_digest.get(hash_key(key))

    def status(self) -> dict[str, Any]:
        self._refresh()
        return {"file": str(self.path), "keys": len(self._by_digest), "ignored_lines": self._problems[:20],
                "error": self._error}


bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                    description="An API key: `Authorization: Bearer <key>`. " + CREATE_HINT.capitalize() + ".")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def principal(request: Request,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]) -> Principal:
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing API key: send the header 'Authorization: Bearer <key>' (" + CREATE_HINT + ")")
    store: KeyStore = request.app.state.keys
    scope = store.scope_of(credentials.credentials.strip())
    if scope is None:
        raise _unauthorized("API key not recognised: check it was copied whole, or " + CREATE_HINT)
    return Principal(scope)
