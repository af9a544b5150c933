"""The CLI's client of the weir HTTP API.

`transport` is the one seam for tests: an httpx transport (MockTransport, or one bound to an
ASGI app) stands in for the network. Errors become CliError with the exit status the CLI
promises, so no httpx exception ever reaches an operator as a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from controlplane import defaults
from controlplane.cli._errors import REFUSED, UNREACHABLE, USAGE, CliError

DEFAULT_SERVER = f"http://{defaults.API}"
TIMEOUT_S = 10.0


def segment(value: str) -> str:
    """One path segment, escaped, so an odd id cannot walk to another endpoint."""
    return quote(value, safe="")


class ApiClient:
    def __init__(
        self,
        server: str,
        *,
        token: str | None = None,
        token_source: str = "",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        # `weir --server 10.0.0.5:8080` means http; nobody types a scheme for a local server.
        self.server = (server if "://" in server else f"http://{server}").rstrip("/")
        self._token = _checked_token(token, token_source) if token else token
        self._token_source = token_source
        """Where the token came from, for the message when the server refuses it."""
        self._transport = transport

    @classmethod
    def from_environment(
        cls, server: str, transport: httpx.BaseTransport | None = None, token: str | None = None
    ) -> ApiClient:
        """The token given (--token), else WEIR_TOKEN, else the file WEIR_TOKEN_FILE names,
        else the one `weir serve` saved on this machine for this server (controlplane.auth)."""
        from controlplane.auth import local_token_path, read_local_token

        if token:
            return cls(server, token=token, token_source="--token", transport=transport)
        if token := os.environ.get("WEIR_TOKEN"):
            return cls(server, token=token, token_source="WEIR_TOKEN", transport=transport)
        if path := os.environ.get("WEIR_TOKEN_FILE"):
            source = f"WEIR_TOKEN_FILE={path}"
            return cls(
                server, token=_read_token_file(path), token_source=source, transport=transport
            )
        if token := read_local_token(server):
            source = f"{local_token_path(server)}, saved by `weir serve`"
            return cls(server, token=token, token_source=source, transport=transport)
        return cls(server, transport=transport)

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: object = None) -> Any:
        return self._request("POST", path, body=body)

    def put(self, path: str, body: object) -> Any:
        return self._request("PUT", path, body=body)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: object = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            # default=str: YAML may hand over values JSON has no type for.
            content = json.dumps(body, default=str).encode()
        try:
            with httpx.Client(transport=self._transport, timeout=TIMEOUT_S) as http:
                response = http.request(
                    method, self.server + path, params=params, content=content, headers=headers
                )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise CliError(
                f"--server {self.server!r} is not an http:// or https:// URL ({exc})", USAGE
            ) from exc
        except httpx.TimeoutException as exc:
            raise CliError(
                f"the weir server at {self.server} did not answer within {TIMEOUT_S:g}s",
                UNREACHABLE,
            ) from exc
        except httpx.LocalProtocolError as exc:
            # Its message quotes the header it refused: never echo it, a token may be in it.
            raise CliError(
                "the request could not be sent: one of its headers is not valid HTTP", USAGE
            ) from exc
        except httpx.TransportError as exc:
            raise CliError(
                f"cannot reach the weir server at {self.server} ({exc or type(exc).__name__}); "
                "is `weir serve` running there? Set --server or WEIR_SERVER to point elsewhere",
                UNREACHABLE,
            ) from exc
        return _answer(response, self._token_source)


TOKEN_CHARACTERS = frozenset(map(chr, range(0x21, 0x7F)))
"""What a bearer token may hold: visible ASCII (weir's are `weir_` and URL-safe base64)."""


def _checked_token(token: str, source: str) -> str:
    """The token without the white space around it (a file or variable written on Windows
    ends in \r\n); a token holding anything a header cannot carry is refused, saying where and
    what -- never the token itself: an error message must not become its copy."""
    token = token.strip()
    for position, character in enumerate(token, start=1):
        if character not in TOKEN_CHARACTERS:
            raise CliError(
                f"the token from {source or 'the command line'} holds {character!r} at "
                f"character {position} of {len(token)}, which no HTTP header can carry; "
                "copy it again",
                USAGE,
            )
    if not token:
        raise CliError(f"the token from {source or 'the command line'} is empty", USAGE)
    return token


def _read_token_file(path: str) -> str:
    try:
        token = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the token in WEIR_TOKEN_FILE={path}: {exc}", USAGE) from exc
    if not token:
        raise CliError(f"WEIR_TOKEN_FILE={path} is empty", USAGE)
    return token


def _answer(response: httpx.Response, token_source: str = "") -> Any:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_success:
        if data is None:
            raise CliError(f"the server answered {response.status_code} without JSON")
        return data
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        message = data["error"]
        if response.status_code == 401 and token_source:
            message += f" (the token came from {token_source})"
        raise CliError(message, REFUSED)
    text = response.text.strip()[:200] or response.reason_phrase
    raise CliError(f"the server answered {response.status_code}: {text}", REFUSED)
