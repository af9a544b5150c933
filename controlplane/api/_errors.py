"""Every refusal as `{"error": message, "field": field}` with the status its cause names.

Domain errors carry their own status (controlplane.errors); request validation becomes a 422
whose message names each field at fault, e.g. `slo.success_rate: Input should be less than or
equal to 100`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from controlplane.errors import WeirError
from controlplane.model import DNS_LABEL, SERVICE_NAME

log = logging.getLogger(__name__)

_LOCATIONS = {"body", "query", "path", "header", "cookie"}
_PREFIXES = ("Value error, ", "Assertion failed, ")
MAX_NAMED_ERRORS = 10


class ErrorBody(BaseModel):
    """What every 4xx and 5xx answer holds."""

    error: str
    field: str | None = None


def error_response(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(error=message, field=field).model_dump(), status_code=status)


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> tuple[str, str | None]:
    """One message naming every field at fault, and the first of those fields."""
    parts: list[str] = []
    fields: list[str] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if len(loc) > 1 and loc[0] in _LOCATIONS:
            loc = loc[1:]
        where = ".".join(loc) or "body"
        message = _message(error)
        parts.append(f"{where}: {message}")
        fields.append(where)
    if len(parts) > MAX_NAMED_ERRORS:  # a batch of thousands can be wrong thousands of times
        parts[MAX_NAMED_ERRORS:] = [f"and {len(parts) - MAX_NAMED_ERRORS} more"]
    return "; ".join(parts) or "invalid request", (fields[0] if fields else None)


def _message(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if error.get("type") == "string_pattern_mismatch":
        # The regex alone tells an operator little; say what an id or name may hold.
        style = (
            f"{error.get('input')!r} is not DNS-label style: lower-case letters, digits and "
            "'-', starting and ending with a letter or digit"
        )
        if ctx.get("pattern") == DNS_LABEL.pattern:
            return style
        if ctx.get("pattern") == SERVICE_NAME.pattern:
            return style + ", and no '--' (it joins service and instance in cluster names)"
    message = str(error.get("msg", "invalid"))
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


async def _weir_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WeirError)
    return error_response(exc.status, exc.message, exc.field)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    message, field = describe_errors(exc.errors())
    return error_response(422, message, field)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        # FastAPI's one 400: a body it could not even decode (not UTF-8, say).
        return error_response(
            400, f"the request body cannot be read as JSON ({exc.detail})", "body"
        )
    return error_response(exc.status_code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error ({type(exc).__name__}); see the weir server log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WeirError, _weir_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    # A model built inside an endpoint (not from the request itself) is still bad input.
    app.add_exception_handler(ValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` documenting the ErrorBody an endpoint may answer with."""
    return {status: {"model": ErrorBody} for status in statuses}
