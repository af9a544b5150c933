"""The local operator needs no setup: `weir serve` on a new ledger issues an admin token, saves
it 0600 where the CLI finds it, and the CLI then issues, lists and revokes tokens."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from controlplane.auth import FIRST_ADMIN, local_token_path
from tests.cli._run import invoke
from tests.integration._weir import WeirServer
from tests.support import eventually


def test_first_start_saves_an_admin_token_the_cli_uses_without_setup(tmp_path: Path) -> None:
    with WeirServer(tmp_path, options=("--stats", "off")) as weir:
        path = local_token_path(weir.api_url)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        # The server says where it saved the token once it listens (the log lags the answer)
        log_file = tmp_path / "weir-serve.log"
        eventually(lambda: str(path) in log_file.read_text(), timeout=10)
        assert path.read_text().strip() not in log_file.read_text()  # not a TTY: no secret

        # the CLI finds the saved token: no WEIR_TOKEN, no --token
        env = {"WEIR_SERVER": weir.api_url}
        created = invoke("token", "create", "ci-bot", "--role", "operator", "--json", env=env)
        assert created.exit_code == 0, created.output
        secret = json.loads(created.stdout)["token"]

        listed = invoke("token", "list", env=env)
        assert listed.exit_code == 0, listed.output
        rows = [line.split()[:2] for line in listed.stdout.splitlines()]
        assert rows == [["NAME", "ROLE"], ["ci-bot", "operator"], [FIRST_ADMIN, "admin"]]
        assert secret not in listed.stdout

        # the new token's name is the actor; its role bounds it
        as_bot = {**env, "WEIR_TOKEN": secret}
        refused = invoke("apply", "-f", "-", stdin="name: web\n", env=as_bot)
        assert refused.exit_code != 0 and "needs admin" in refused.stderr
        assert invoke("apply", "-f", "-", stdin="name: web\n", env=env).exit_code == 0
        added = invoke(
            "instance", "add", "web", "--id", "web-1", "--version", "v1",
            "--address", "10.0.0.1:80", env=as_bot,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        assert weir.history()[-1]["actor"] == "ci-bot"

        # revoked: refused at once, and the CLI says where the token came from
        assert invoke("token", "revoke", "ci-bot", env=env).exit_code == 0
        gone = invoke("instance", "list", env=as_bot)
        assert gone.exit_code != 0 and "revoked" in gone.stderr and "WEIR_TOKEN" in gone.stderr

        # the ledger tells who issued and revoked which token, never a secret
        history = invoke("history", env=env)
        assert history.exit_code == 0, history.output
        assert "token ci-bot created (operator)" in history.stdout
        assert "token ci-bot revoked" in history.stdout and secret not in history.stdout

        # without any token at all, the API says how to get one
        bare = httpx.get(f"{weir.api_url}/v1/instances", timeout=5)
        assert bare.status_code == 401

    # a restart on the same ledger (here on other ports) issues nothing new; the token works
    (tmp_path / "again").mkdir()
    with WeirServer(tmp_path / "again", store=weir.store, options=("--stats", "off")) as again:
        assert again.token is None and "issued admin token" not in again.log_path.read_text()
        again.api.headers.update(weir.headers)
        assert [e["event"]["kind"] for e in again.history()].count("token_created") == 2
