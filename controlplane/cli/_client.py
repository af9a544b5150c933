"""The CLI's client of the weir HTTP API, on a socket (controlplane.cli._http).

Not httpx: importing it (and what it pulls in) costs a client command more than the rest of
its start-up together, and a CLI call is one short request. `Transport` is the one seam for
tests: a subclass (tests adapt an httpx transport, MockTransport or one bound to an ASGI app)
stands in for the network. Errors become CliError with the exit status the CLI promises, so
no network exception ever reaches an operator as a traceback.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode, urlsplit

from controlplane.cli._errors import REFUSED, UNREACHABLE, USAGE, CliError

TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""An answer larger than this is refused unread: no API answer comes near it."""


def segment(value: str) -> str:
    """One path segment, escaped, so an odd id cannot walk to another endpoint."""
    return quote(value, safe="")


class Reply(NamedTuple):
    status: int
    reason: str
    body: bytes


class Unreachable(Exception):
    """No answer: nothing listens there, the connection broke, or a name did not resolve."""


class TimedOut(Unreachable):
    """No answer within the timeout."""


class BadHeader(Exception):
    """A header that cannot be sent (the message names the header, never its value)."""


class BadUrl(Exception):
    """The server's URL is not http:// or https://, or not a URL at all."""


class Transport:
    """One HTTP request and its whole answer."""

    def request(
        self, method: str, url: str, *, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Reply:
        from controlplane.cli._http import NotHttp, Unsendable, exchange

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadUrl(f"unsupported URL {url!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise BadUrl(str(exc)) from exc
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            answer = exchange(
                method,
                parts.scheme,
                parts.hostname,
                port,
                target,
                headers=headers,
                body=body,
                timeout=timeout,
                limit=MAX_ANSWER_BYTES,
            )
        except Unsendable as exc:
            raise BadHeader(f"the request could not be sent: {exc}") from exc
        except TimeoutError as exc:
            raise TimedOut(str(exc) or "timed out") from exc
        except (OSError, NotHttp) as exc:  # ssl's errors too, a certificate refused among them
            raise Unreachable(str(exc) or type(exc).__name__) from exc
        except ValueError as exc:  # a host name no resolver takes (a NUL, a label too long)
            raise BadUrl(str(exc)) from exc
        if len(answer.body) > MAX_ANSWER_BYTES:
            raise Unreachable(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
        return Reply(answer.status, answer.reason, answer.body)


class ApiClient:
    def __init__(
        self,
        server: str,
        *,
        token: str | None = None,
        token_source: str = "",
        transport: Transport | None = None,
    ) -> None:
        # `weir --server 10.0.0.5:8080` means http; nobody types a scheme for a local server.
        self.server = (server if "://" in server else f"http://{server}").rstrip("/")
        self._token = _checked_token(token, token_source) if token else token
        self._token_source = token_source
        """Where the token came from, for the message when the server refuses it."""
        self._transport = transport or Transport()

    @classmethod
    def from_environment(
        cls, server: str, transport: Transport | None = None, token: str | None = None
    ) -> ApiClient:
        """The token given (--token), else WEIR_TOKEN, else the file WEIR_TOKEN_FILE names,
        else the one `weir serve` saved on this machine for this server."""
        if token:
            return cls(server, token=token, token_source="--token", transport=transport)
        if token := os.environ.get("WEIR_TOKEN"):
            return cls(server, token=token, token_source="WEIR_TOKEN", transport=transport)
        if path := os.environ.get("WEIR_TOKEN_FILE"):
            source = f"WEIR_TOKEN_FILE={path}"
            return cls(
                server, token=_read_token_file(path), token_source=source, transport=transport
            )
        # Here, not above: it loads pathlib, which no other client command needs.
        from controlplane.token_file import local_token_path, read_local_token

        if token := read_local_token(server):
            source = f"{local_token_path(server)}, saved by `weir serve`"
            return cls(server, token=token, token_source=source, transport=transport)
        return cls(server, transport=transport)

    @property
    def has_token(self) -> bool:
        return bool(self._token)

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: object = None) -> Any:
        return self._request("POST", path, body=body)

    def put(self, path: str, body: object) -> Any:
        return self._request("PUT", path, body=body)

    def delete(self, path: str, body: object = None) -> Any:
        return self._request("DELETE", path, body=body)

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
        import json

        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            # default=str: YAML may hand over values JSON has no type for.
            content = json.dumps(body, default=str).encode()
        url = self.server + path + (f"?{urlencode(params)}" if params else "")
        try:
            reply = self._transport.request(
                method, url, headers=headers, body=content, timeout=TIMEOUT_S
            )
        except BadUrl as exc:
            raise CliError(
                f"--server {self.server!r} is not an http:// or https:// URL ({exc})", USAGE
            ) from exc
        except BadHeader as exc:
            raise CliError(str(exc), USAGE) from exc
        except TimedOut as exc:
            raise CliError(
                f"the weir server at {self.server} did not answer within {TIMEOUT_S:g}s",
                UNREACHABLE,
            ) from exc
        except Unreachable as exc:
            raise CliError(
                f"cannot reach the weir server at {self.server} ({exc}); "
                "is `weir serve` running there? Set --server or WEIR_SERVER to point elsewhere",
                UNREACHABLE,
            ) from exc
        return _answer(reply, self._token_source)


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
        with open(path) as file:
            token = file.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the token in WEIR_TOKEN_FILE={path}: {exc}", USAGE) from exc
    if not token:
        raise CliError(f"WEIR_TOKEN_FILE={path} is empty", USAGE)
    return token


def _answer(reply: Reply, token_source: str = "") -> Any:
    import json

    try:
        data = json.loads(reply.body) if reply.body else None
    except ValueError:
        data = None
    if 200 <= reply.status < 300:
        if data is None:
            raise CliError(f"the server answered {reply.status} without JSON")
        return data
    retryable = reply.status >= 500
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        message = data["error"]
        if reply.status == 401 and token_source:
            message += f" (the token came from {token_source})"
        raise CliError(message, REFUSED, retryable=retryable)
    text = reply.body.decode("utf-8", "replace").strip()[:200] or reply.reason
    raise CliError(f"the server answered {reply.status}: {text}", REFUSED, retryable=retryable)
