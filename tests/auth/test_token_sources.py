"""Where the CLI finds its token: --token, WEIR_TOKEN, WEIR_TOKEN_FILE, then the file `weir
serve` saved for that server address; a server bound to every address is reached on loopback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from controlplane.auth import local_token_path, read_local_token, save_local_token
from tests.cli._run import invoke


def test_a_wildcard_bind_is_saved_where_a_loopback_client_looks() -> None:
    save_local_token("0.0.0.0:8080", "weir_a")
    save_local_token("[::]:9000", "weir_b")

    assert read_local_token("http://127.0.0.1:8080") == "weir_a"
    assert read_local_token("localhost:8080") == "weir_a"
    assert read_local_token("http://[::1]:9000/") == "weir_b"
    assert read_local_token("http://127.0.0.1:8081") is None
    assert local_token_path("http://127.0.0.1:8080").name == "127.0.0.1_8080"


def _seen(tmp_path: Path, env: dict[str, str | None], *args: str) -> tuple[str | None, str]:
    """The Authorization header one `weir instance list` sends, and the CLI's stderr."""
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("authorization"))
        return httpx.Response(401, json={"error": "the bearer token is unknown or revoked"})

    result = invoke(
        *args, "instance", "list", env={"WEIR_SERVER": "http://127.0.0.1:8080", **env},
        transport=httpx.MockTransport(answer),
    )  # fmt: skip
    assert result.exit_code != 0
    return sent[0] if sent else None, result.stderr


@pytest.mark.parametrize(
    ("args", "env", "header", "source"),
    [
        (("--token", "weir_flag"), {"WEIR_TOKEN": "weir_env"}, "weir_flag", "--token"),
        ((), {"WEIR_TOKEN": "weir_env"}, "weir_env", "WEIR_TOKEN"),
        ((), {"WEIR_TOKEN_FILE": "{file}"}, "weir_file", "WEIR_TOKEN_FILE="),
        ((), {}, "weir_saved", "saved by `weir serve`"),
    ],
    ids=["flag", "env", "file", "saved"],
)
def test_the_cli_takes_the_first_token_it_is_given(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], header: str, source: str
) -> None:
    save_local_token("127.0.0.1:8080", "weir_saved")
    (tmp_path / "token").write_text("weir_file\n")
    env = {k: v.format(file=tmp_path / "token") for k, v in env.items()}

    sent, stderr = _seen(tmp_path, dict(env), *args)

    assert sent == f"Bearer {header}"
    assert "unknown or revoked" in stderr and source in stderr


def test_an_unreadable_token_file_is_one_line_naming_it(tmp_path: Path) -> None:
    sent, stderr = _seen(tmp_path, {"WEIR_TOKEN_FILE": str(tmp_path / "missing")})

    assert sent is None
    assert "WEIR_TOKEN_FILE" in stderr and "missing" in stderr and "Traceback" not in stderr
