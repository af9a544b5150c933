"""Server credentials for mTLS on the xDS port, from the files `weir serve --xds-tls-*` names.

One port carries ADS, CSDS and the metrics sink, so the same credentials guard all three:
every client must present a certificate signed by the client CA. grpc reads PEM lazily and
reports a bad file only as failed handshakes, so each file is checked here first (with the
standard library's ssl) and a bad one is an error naming the option and the file.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from controlplane.errors import InvalidInput

OPTIONS = ("xds-tls-cert", "xds-tls-key", "xds-client-ca")


@dataclass(frozen=True, slots=True)
class XdsTls:
    """weir's certificate chain and key, and the CA that signs the proxies' certificates."""

    cert: Path
    key: Path
    client_ca: Path

    @classmethod
    def from_options(
        cls, cert: str | None, key: str | None, client_ca: str | None
    ) -> XdsTls | None:
        """All three files, or None for plaintext xDS; only some of them is an error."""
        given = dict(zip(OPTIONS, (cert, key, client_ca), strict=True))
        missing = [f"--{flag}" for flag, value in given.items() if not value]
        if len(missing) == len(OPTIONS):
            return None
        if missing:
            raise InvalidInput(
                "mTLS on the xDS port takes --xds-tls-cert, --xds-tls-key and --xds-client-ca "
                f"together; missing {', '.join(missing)}",
                field=missing[0].removeprefix("--"),
            )
        assert cert and key and client_ca
        return cls(Path(cert), Path(key), Path(client_ca))

    def credentials(self) -> grpc.ServerCredentials:
        """grpc server credentials that require and verify a client certificate."""
        cert = _read("xds-tls-cert", self.cert)
        key = _read("xds-tls-key", self.key)
        client_ca = _read("xds-client-ca", self.client_ca)
        _check_certificates("xds-tls-cert", self.cert, cert)
        _check_certificates("xds-client-ca", self.client_ca, client_ca)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
                self.cert, self.key, password=lambda: b""
            )
        except ssl.SSLError as exc:
            raise InvalidInput(
                f"--xds-tls-key {self.key}: not an unencrypted PEM private key of the "
                f"certificate in --xds-tls-cert ({exc.reason or exc})",
                field="xds-tls-key",
            ) from exc
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=True
        )


def _read(flag: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"--{flag} {path}: {exc.strerror or exc}", field=flag) from exc


def _check_certificates(flag: str, path: Path, pem: bytes) -> None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(
            cadata=pem.decode("ascii", errors="replace")
        )
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidInput(f"--{flag} {path}: holds no PEM certificate", field=flag) from exc


def add_port(
    server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None
) -> int:
    """Listen on `address`, over TLS when `credentials` are given; the bound port."""
    if credentials is None:
        port: int = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    return port
