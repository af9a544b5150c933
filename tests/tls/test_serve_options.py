"""`weir serve --xds-tls-*`: all three files or none, and a bad file is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import InvalidInput
from controlplane.xds import XdsTls
from tests.cli._run import invoke
from tests.tls._certs import Pki


def serve(tmp_path: Path, *options: str) -> tuple[int, str]:
    store = tmp_path / "weir.db"
    listen = ("--xds", "127.0.0.1:0", "--api", "127.0.0.1:0", "--compare", "127.0.0.1:0")
    result = invoke("serve", "--store", str(store), *listen, *options)
    assert not store.exists(), "nothing may start on bad TLS options"
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        (("--xds-tls-cert",), "--xds-tls-key, --xds-client-ca"),
        (("--xds-tls-cert", "--xds-tls-key"), "--xds-client-ca"),
        (("--xds-client-ca",), "--xds-tls-cert, --xds-tls-key"),
    ],
)
def test_some_of_the_tls_options_is_a_usage_error(
    tmp_path: Path, pki: Pki, given: tuple[str, ...], missing: str
) -> None:
    options = [word for flag in given for word in (flag, str(pki.ca))]

    code, output = serve(tmp_path, *options)

    assert code == 2
    assert (
        f"takes --xds-tls-cert, --xds-tls-key and --xds-client-ca together; missing {missing}"
        in output
    )


def test_an_unreadable_file_is_named(tmp_path: Path, pki: Pki) -> None:
    weir = pki.server()
    absent = tmp_path / "absent.pem"

    code, output = serve(
        tmp_path, "--xds-tls-cert", str(weir.cert), "--xds-tls-key", str(weir.key),
        "--xds-client-ca", str(absent),
    )  # fmt: skip

    assert code == 1
    assert output == f"weir: --xds-client-ca {absent}: No such file or directory\n"


def test_files_that_are_not_what_they_should_be_are_named(tmp_path: Path, pki: Pki) -> None:
    weir, other = pki.server(), pki.proxy("web-1")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    files = {"cert": weir.cert, "key": weir.key, "ca": pki.ca}

    def refusal(**bad: Path) -> str:
        paths = {**files, **bad}
        with pytest.raises(InvalidInput) as refused:
            XdsTls(paths["cert"], paths["key"], paths["ca"]).credentials()
        return refused.value.message

    assert refusal(cert=garbage) == f"--xds-tls-cert {garbage}: holds no PEM certificate"
    assert refusal(cert=weir.key) == f"--xds-tls-cert {weir.key}: holds no PEM certificate"
    assert refusal(ca=garbage) == f"--xds-client-ca {garbage}: holds no PEM certificate"
    assert refusal(key=garbage).startswith(
        f"--xds-tls-key {garbage}: not an unencrypted PEM private key of the certificate"
    )
    assert refusal(key=other.key).startswith(f"--xds-tls-key {other.key}: not an unencrypted")
    # and through the command line, the same words
    code, output = serve(
        tmp_path, "--xds-tls-cert", str(weir.cert), "--xds-tls-key", str(other.key),
        "--xds-client-ca", str(pki.ca),
    )  # fmt: skip
    assert code == 1
    assert output.startswith(f"weir: --xds-tls-key {other.key}: not an unencrypted PEM")


def test_no_tls_options_is_plaintext() -> None:
    assert XdsTls.from_options(None, None, None) is None
    assert XdsTls.from_options("", "", "") is None
