"""The CLI's own HTTP/1.1 exchange (controlplane.cli._http): what it sends, what it reads, and
how it refuses an answer that is not HTTP or is larger than its limits. The answers come from
a real socket on 127.0.0.1 where the exchange matters, from bytes in memory where the parser
does."""

from __future__ import annotations

import io
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from controlplane.cli import _client as client
from controlplane.cli._client import (
    BadHeader,
    Reply,
    TimedOut,
    Transport,
    Unreachable,
)
from controlplane.cli._http import MAX_HEAD_BYTES, MAX_HEADERS, NotHttp, read_answer
from tests.tls._certs import Pki

JSON_OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}'


class _OneAnswer:
    """A server on a free 127.0.0.1 port that answers one connection with `answer` (after
    reading the request's head and body) and keeps what it was sent."""

    def __init__(
        self, answer: bytes, *, silent: bool = False, tls: ssl.SSLContext | None = None
    ) -> None:
        self.answer = answer
        self.silent = silent
        self.tls = tls
        self.received = b""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._done = threading.Event()

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        if self.tls is not None:
            try:
                connection = self.tls.wrap_socket(connection, server_side=True)
            except OSError:  # the client refused the certificate
                connection.close()
                return
        with connection:
            while b"\r\n\r\n" not in self.received:
                self.received += connection.recv(65536)
            head, _, body = self.received.partition(b"\r\n\r\n")
            length = next(
                (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length:")),
                0,
            )  # fmt: skip
            while len(body) < length:
                chunk = connection.recv(65536)
                body += chunk
                self.received += chunk
            if self.silent:
                self._done.wait(10)
            else:
                connection.sendall(self.answer)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> _OneAnswer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(10)
        self._listener.close()


@contextmanager
def answering(
    answer: bytes, *, silent: bool = False, tls: ssl.SSLContext | None = None
) -> Iterator[_OneAnswer]:
    with _OneAnswer(answer, silent=silent, tls=tls) as server:
        yield server


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server's TLS context with a certificate for 127.0.0.1, and the CA that signed it."""
    pki = Pki(tmp_path)
    pair = pki.server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    return context, pki.ca


def send(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
) -> Reply:
    return Transport().request(method, url, headers=headers or {}, body=body, timeout=timeout)


def test_a_request_and_its_json_answer_over_a_real_socket() -> None:
    with answering(JSON_OK) as server:
        url = f"{server.url}/v1/instances?service=web"
        reply = send(url, headers={"Authorization": "Bearer t0k"})

    assert reply == Reply(200, "OK", b'{"a":1}')
    head = server.received.decode().split("\r\n")
    assert head[0] == "GET /v1/instances?service=web HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in head
    assert "Authorization: Bearer t0k" in head
    assert "Connection: close" in head


def test_a_body_goes_with_its_length() -> None:
    with answering(JSON_OK) as server:
        send(f"{server.url}/v1/services/web", "PUT", b'{"name":"web"}')

    assert b"\r\nContent-Length: 14\r\n" in server.received
    assert server.received.endswith(b'\r\n\r\n{"name":"web"}')


def test_a_chunked_answer_is_joined() -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer += b"4;ext=1\r\n[1, \r\n3\r\n2]\n\r\n0\r\nX-Trailer: y\r\n\r\n"
    with answering(answer) as server:
        assert send(server.url).body == b"[1, 2]\n"


def test_an_answer_framed_by_closing_is_read_to_the_end() -> None:
    with answering(b"HTTP/1.0 502 Bad Gateway\r\n\r\nupstream down") as server:
        assert send(server.url) == Reply(502, "Bad Gateway", b"upstream down")


def test_https_checks_the_certificate_against_the_trusted_cas(
    tls: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    context, ca = tls
    with answering(JSON_OK, tls=context) as server, pytest.raises(Unreachable) as caught:
        send(server.url)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)

    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # trusted as the system's CAs are
    with answering(JSON_OK, tls=context) as server:
        assert send(f"{server.url}/v1/proxies") == Reply(200, "OK", b'{"a":1}')
    assert server.received.startswith(b"GET /v1/proxies HTTP/1.1\r\n")


def test_nothing_listening_is_unreachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(Unreachable, match="Connection refused"):
        send(f"http://127.0.0.1:{port}/")


def test_a_server_that_never_answers_times_out() -> None:
    with answering(b"", silent=True) as server, pytest.raises(TimedOut):
        send(server.url, timeout=0.2)


def test_an_answer_that_is_not_http_is_unreachable_naming_what_came() -> None:
    with answering(b"SSH-2.0-OpenSSH_9.2\r\n") as server, pytest.raises(Unreachable) as caught:
        send(server.url)
    assert "not start with an HTTP/1.x status line: b'SSH-2.0-OpenSSH_9.2'" in str(caught.value)


def test_an_answer_larger_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "MAX_ANSWER_BYTES", 1000)
    too_large = b"HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001
    with answering(too_large) as server, pytest.raises(Unreachable, match="larger than 1000"):
        send(server.url)


def test_a_path_that_cannot_be_sent_is_refused() -> None:
    with pytest.raises(BadHeader, match="the URL's path holds a space"):
        send("http://127.0.0.1:1/v1/a b")


@pytest.mark.parametrize(
    "header", [{"X-Evil": "a\r\nInjected: 1"}, {"Bad Name": "v"}, {"X-Null": "a\x00b"}]
)
def test_a_header_that_cannot_be_sent_is_refused_without_its_value(
    header: dict[str, str],
) -> None:
    with pytest.raises(BadHeader) as caught:
        Transport().request("GET", "http://127.0.0.1:1/", headers=header, body=None, timeout=1)
    assert "Injected" not in str(caught.value) and "a\x00b" not in str(caught.value)


def answer_of(raw: bytes, limit: int = 1000, method: str = "GET") -> tuple[int, str, bytes]:
    return tuple(read_answer(io.BytesIO(raw), method, limit))  # type: ignore[return-value]


def test_interim_answers_are_skipped_and_a_204_has_no_body() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nleftover"
    assert answer_of(raw) == (204, "No Content", b"")


def test_a_body_is_read_to_the_limit_plus_one_byte_whatever_its_framing() -> None:
    sized = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n" + b"x" * 50
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n" + b"x" * 50
    closing = b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 50
    for raw in (sized, chunked, closing):
        assert answer_of(raw, limit=10)[2] == b"x" * 11


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "closed in the middle of the answer's head"),
        (b"HTTP/2 200\r\n\r\n", "HTTP/1.x status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "not a header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "is not a number"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "two different"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", "closed 5 bytes into"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not hexadecimal"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd", "does not end"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "middle of a chunk"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n", "more than"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_HEAD_BYTES + b"\r\n\r\n", "head is larger"),
    ],
)
def test_an_answer_that_is_not_http_is_refused_saying_what_is_wrong(
    raw: bytes, problem: str
) -> None:
    with pytest.raises(NotHttp, match=problem):
        answer_of(raw)
