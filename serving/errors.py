"""One JSON error envelope for every failure: ``{"error": {"code", "message", "details"}}``.

Bad input is a 4xx whose message says what to fix; anything unexpected is logged and answered with the
same envelope (500), never with a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("smartmarket.api")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, invalid_request, unauthorized.")
    message: str = Field(description="What went wrong and what to change, for a person.")
    details: dict[str, Any] = Field(default_factory=dict, description="Structured context (fields, limits...).")


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}
        self.headers = headers


def not_found(kind: str, ident: str, **details: Any) -> ApiError:
    # The same words whether the id does not exist or belongs to another tenant: nothing leaks.
    return ApiError(404, "not_found", f"{kind} {ident!r} not found", {"kind": kind, "id": ident, **details})


def unavailable(code: str, message: str, **details: Any) -> ApiError:
    return ApiError(503, code, message, details)


def invalid(message: str, **details: Any) -> ApiError:
    return ApiError(422, "invalid_request", message, details)


def envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details or {}))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value if not isinstance(value, str) else value[:200]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in list(value)[:20]]
    if isinstance(value, dict):
        return {str(k)[:100]: _jsonable(v) for k, v in list(value.items())[:20]}
    return repr(value)[:200]


def validation_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    problems = []
    for err in exc.errors():
        problems.append({"location": _location(tuple(err.get("loc", ()))), "message": err.get("msg", "invalid"),
                         "input": _jsonable(err.get("input"))})
    return problems


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return envelope(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = validation_problems(exc)
        broken = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if broken:
            why = (broken[0].get("ctx") or {}).get("error", "not JSON")
            return envelope(422, "invalid_request", f"the request body is not valid JSON ({why}): send a JSON "
                            "object with 'Content-Type: application/json'", {"errors": problems})
        shown = "; ".join(f"{p['location']}: {p['message']}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        return envelope(422, "invalid_request", f"fix the request: {shown}{more}", {"errors": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8, not JSON): a request to fix, like the rest.
            return envelope(422, "invalid_request", "the request body could not be read: send a JSON object, "
                            "UTF-8 encoded, with 'Content-Type: application/json'",
                            {"errors": [{"location": "body", "message": str(exc.detail), "input": None}]})
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route: see /docs for the API"
        return envelope(exc.status_code, codes.get(exc.status_code, "http_error"), message,
                        headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(500, "internal_error", "the server failed to answer this request; it has been logged",
                        {"type": type(exc).__name__})


def json_error(description: str) -> dict[str, Any]:
    """An error response documented as JSON even on a route whose success is another media type (CSV)."""
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorEnvelope, "description": "No API key, or a key that is not valid."},
    422: {"model": ErrorEnvelope, "description": "Invalid request: the message says which field to fix."},
    503: {"model": ErrorEnvelope, "description": "Snapshot or model not available yet (see /ready)."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorEnvelope, "description": "No such id for this tenant (also for another tenant's ids)."}}
