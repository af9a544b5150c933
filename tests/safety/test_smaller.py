"""Issue 15, item 5: the smaller holes, each closed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controlplane.api import create_app
from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.xds import ProxyRegistry
from tests.integration._weir import WEIR

BOMB = (
    "name: web\na: &a ["
    + ",".join(['"lol"'] * 9)
    + "]\n"
    + "".join(
        f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
)
"""A billion laughs: nine levels of nine aliases, 387 million strings once expanded."""


def weir_cli(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WEIR, *args], input=stdin, capture_output=True, text=True, timeout=60, env=env
    )


def test_a_yaml_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", WEIR, "--server", "127.0.0.1:1", "apply", "-f", str(bomb)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    print(
        f"\nweir apply -f a YAML bomb: exit {result.returncode}, peak RSS {peak_kb / 1024:.0f} MB"
    )

    assert result.returncode == 1
    assert "refused: more than 100,000 values once its aliases are expanded" in result.stderr
    assert peak_kb < 200 * 1024


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: web\nx: " + "[" * 33 + "]" * 33 + "\n", "nested more than 32 deep"),
        (
            "name: web\n" + "".join(f"k{n}: &x{n} 1\nr{n}: *x{n}\n" for n in range(101)),
            "more than 100 aliases",
        ),
        ("name: web\n# " + "x" * (1024 * 1024) + "\n", "at most 1,048,576 bytes"),
    ],
    ids=["depth", "aliases", "size"],
)
def test_yaml_limits_at_their_edge(text: str, says: str) -> None:
    result = weir_cli("--server", "127.0.0.1:1", "apply", "-f", "-", stdin=text)
    assert result.returncode == 1
    assert says in result.stderr


def test_a_token_with_a_character_no_header_carries_is_never_echoed() -> None:
    secret = "weir_Zm9vYmFyYmF6cXV4c2VjcmV0"
    for bad in (f"{secret}\x01", f"weir_Zm9v\nYmFy{secret}"):
        result = weir_cli(
            "--server", "127.0.0.1:1", "history", env={"WEIR_TOKEN": bad, "PATH": "/usr/bin"}
        )
        assert result.returncode != 0
        assert secret not in result.stdout + result.stderr
        assert "Zm9v" not in result.stdout + result.stderr
        assert "which no HTTP header can carry" in result.stderr


def test_a_token_ending_in_a_carriage_return_is_used_without_it() -> None:
    # The trailing \r of a file written on Windows is white space, not part of the token:
    # the request goes out (here to a port nothing listens on), and the token is never shown.
    secret = "weir_Zm9vYmFyYmF6cXV4c2VjcmV0"
    result = weir_cli(
        "--server", "127.0.0.1:1", "history", env={"WEIR_TOKEN": secret + "\r", "PATH": "/usr/bin"}
    )
    assert "cannot reach the weir server" in result.stderr
    assert secret not in result.stdout + result.stderr


def test_no_page_loads_a_script_from_elsewhere(tmp_path: Path) -> None:
    app = create_app(Controller(SqliteStore(tmp_path / "weir.db")), ProxyRegistry())
    with TestClient(app) as client:
        assert client.get("/redoc").status_code == 404
        pages = [client.get(path).text for path in ("/", "/docs")]
    for page in pages:  # the dashboard, and the API reference from packaged assets
        assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", page), page[:500]
        assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", page), page[:500]
    assert 'href="docs"' in pages[0]


def test_token_digests_are_shown_to_admins_only(tmp_path: Path) -> None:
    from controlplane.auth import issue_token
    from controlplane.model import Role

    controller = Controller(SqliteStore(tmp_path / "weir.db"))
    _, admin = issue_token(controller, "boss", Role.ADMIN, actor="test")
    _, viewer = issue_token(controller, "watcher", Role.VIEWER, actor="test")
    with TestClient(create_app(controller, ProxyRegistry())) as client:
        as_viewer = client.get("/v1/history", headers={"Authorization": f"Bearer {viewer}"})
        as_admin = client.get("/v1/history", headers={"Authorization": f"Bearer {admin}"})
    seen = [e["event"] for e in as_viewer.json() if e["event"]["kind"] == "token_created"]
    print(f"\n/v1/history as a viewer: token digests {[e['sha256'] for e in seen]}")

    assert as_viewer.status_code == as_admin.status_code == 200
    assert [(e["name"], e["sha256"]) for e in seen] == [("boss", None), ("watcher", None)]
    digests = [
        e["event"]["sha256"] for e in as_admin.json() if e["event"]["kind"] == "token_created"
    ]
    assert all(d is not None and len(d) == 64 for d in digests) and len(digests) == 2
