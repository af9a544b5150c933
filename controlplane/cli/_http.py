"""One HTTP/1.1 request and its answer over a socket (TLS for https), for the CLI's client.

Not the standard library's http.client: importing it loads the email package (its header
parser) and ssl, more than the rest of a client command loads beside click; the CLI sends one
request per connection and reads one answer, which takes this much. ssl loads only for https.

The answer is untrusted: its status line and head are capped (MAX_HEAD_BYTES, MAX_HEADERS), its
body is read by Content-Length, by chunks or until the server closes, never past the caller's
limit; anything else that is not HTTP/1.x raises NotHttp.
"""

from __future__ import annotations

import socket
from typing import BinaryIO, NamedTuple

MAX_HEAD_BYTES = 64 * 1024
"""The status line and all headers of an answer together."""
MAX_HEADERS = 100
MAX_CHUNK_SIZE_DIGITS = 16
"""Hex digits of one chunk's size: a longer size line is refused, not parsed."""
TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""The characters of a header name (RFC 9110's token)."""
NO_BODY = frozenset({204, 304})


class Answer(NamedTuple):
    status: int
    reason: str
    body: bytes
    """At most the caller's limit plus one byte: more than the limit means there was more."""


class NotHttp(Exception):
    """The server's answer is not HTTP/1.x, or is larger than its limits."""


class Unsendable(Exception):
    """A header that cannot be sent as it is; the message names no value (a token may be one).
    Not a ValueError: ssl's certificate errors are ValueErrors too, and mean something else."""


def request_bytes(
    method: str, target: str, host: str, headers: dict[str, str], body: bytes | None
) -> bytes:
    """The request as sent: `headers` plus Host, Content-Length, Accept-Encoding: identity and
    Connection: close. Unsendable when the target or a header cannot be sent as it is."""
    if not target.isascii() or any(c <= " " or c == "\x7f" for c in target):
        raise Unsendable("the URL's path holds a space, a control or a non-ASCII character")
    fields = {"Host": host, "Accept-Encoding": "identity", "Connection": "close"}
    if body is not None or method in ("POST", "PUT", "PATCH"):
        fields["Content-Length"] = str(len(body or b""))
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in (fields | headers).items():
        if not name or not set(name) <= TOKEN:
            raise Unsendable("a header name is not an HTTP token")
        if any((c < " " and c != "\t") or c == "\x7f" for c in value):
            raise Unsendable(f"the {name} header holds a control character")
        lines.append(f"{name}: {value}")
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise Unsendable("a header holds a character HTTP cannot carry") from None
    return head + (body or b"")


def read_answer(stream: BinaryIO, method: str, limit: int) -> Answer:
    """The answer to one request from `stream` (the connection's read side): interim 1xx
    answers skipped, the body at most `limit` + 1 bytes."""
    head = _Head(stream)
    while True:
        status, reason = _status_line(head.line())
        headers = _headers(head)
        if not 100 <= status < 200:
            break
    if method == "HEAD" or status in NO_BODY:
        return Answer(status, reason, b"")
    codings = headers.get("transfer-encoding")
    if codings is not None:
        if codings.rsplit(",", 1)[-1].strip().lower() == "chunked":
            return Answer(status, reason, _chunked(stream, limit))
        return Answer(status, reason, stream.read(limit + 1))  # framed by closing (RFC 9112)
    length = headers.get("content-length")
    if length is None:
        return Answer(status, reason, stream.read(limit + 1))
    if not length.isascii() or not length.isdigit():
        raise NotHttp(f"Content-Length {length[:20]!r} is not a number")
    want = min(int(length), limit + 1)
    body = stream.read(want)
    if len(body) < want:
        raise NotHttp(f"the connection closed {len(body)} bytes into a {length}-byte answer")
    return Answer(status, reason, body)


def exchange(
    method: str,
    url_scheme: str,
    hostname: str,
    port: int | None,
    target: str,
    *,
    headers: dict[str, str],
    body: bytes | None,
    timeout: float,
    limit: int,
) -> Answer:
    """`method target` to hostname:port over a new connection, and the answer. OSError when the
    connection fails or breaks (TimeoutError after `timeout` seconds of silence), NotHttp for an
    answer that is not HTTP, Unsendable (before connecting) for a header that cannot be sent."""
    https = url_scheme == "https"
    default = 443 if https else 80
    port = default if port is None else port
    shown = f"[{hostname}]" if ":" in hostname else hostname
    request = request_bytes(
        method, target, shown if port == default else f"{shown}:{port}", headers, body
    )
    # An ASCII name as bytes: the resolver then needs no IDNA codec (a module to load).
    address = hostname.encode() if hostname.isascii() else hostname
    connection = socket.create_connection((address, port), timeout=timeout)  # type: ignore[arg-type]
    try:
        if https:
            import ssl

            connection = ssl.create_default_context().wrap_socket(
                connection, server_hostname=hostname
            )
        connection.sendall(request)
        with connection.makefile("rb") as stream:
            return read_answer(stream, method, limit)
    finally:
        connection.close()


class _Head:
    """The lines of an answer's head (or a chunked body's trailers), at most MAX_HEAD_BYTES in
    all."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._room = MAX_HEAD_BYTES

    def line(self) -> bytes:
        """The next line without its line end."""
        line = self._stream.readline(self._room + 1)
        self._room -= len(line)
        if self._room < 0:
            raise NotHttp(f"the answer's head is larger than {MAX_HEAD_BYTES} bytes")
        if not line.endswith(b"\n"):
            raise NotHttp("the connection closed in the middle of the answer's head")
        return line.rstrip(b"\r\n")


def _status_line(line: bytes) -> tuple[int, str]:
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise NotHttp(f"the answer does not start with an HTTP/1.x status line: {line[:40]!r}")
    return int(code), reason.decode("latin-1").strip()


def _headers(head: _Head) -> dict[str, str]:
    """The head's headers by lower-case name, a repeated one's values joined by commas; a
    Content-Length that disagrees with itself is refused (RFC 9112: a smuggling attempt)."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = head.line()
        if not line:
            return headers
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or not set(name) <= TOKEN:
            raise NotHttp(f"the answer holds a line that is not a header: {line[:40]!r}")
        key, value = name.lower(), value.strip()
        if key not in headers:
            headers[key] = value
        elif key == "content-length":
            if headers[key] != value:
                raise NotHttp("the answer has two different Content-Length headers")
        else:
            headers[key] = f"{headers[key]}, {value}"
    raise NotHttp(f"the answer has more than {MAX_HEADERS} headers")


def _chunked(stream: BinaryIO, limit: int) -> bytes:
    """A chunked body, at most `limit` + 1 bytes of it; the trailers are read and dropped."""
    parts: list[bytes] = []
    taken = 0
    while True:
        size_field = _Head(stream).line().split(b";", 1)[0].strip()
        if not 0 < len(size_field) <= MAX_CHUNK_SIZE_DIGITS or not _is_hex(size_field):
            raise NotHttp(f"a chunk's size is not hexadecimal: {size_field[:20]!r}")
        size = int(size_field, 16)
        if size == 0:
            break
        want = min(size, limit + 1 - taken)
        data = stream.read(want)
        if len(data) < want:
            raise NotHttp("the connection closed in the middle of a chunk")
        parts.append(data)
        taken += len(data)
        if taken > limit:
            return b"".join(parts)
        if stream.read(2) != b"\r\n":
            raise NotHttp("a chunk does not end where its size says")
    trailers = _Head(stream)
    while trailers.line():
        pass
    return b"".join(parts)


def _is_hex(field: bytes) -> bool:
    return all(c in b"0123456789abcdefABCDEF" for c in field)
