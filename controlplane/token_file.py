"""The local operator's token file: one per server address, mode 0600, in the user's config.

`weir serve` writes the admin token it issues at first start there; the CLI reads it when no
WEIR_TOKEN or --token is given, so a server on this machine needs no setup. Files live in
$XDG_CONFIG_HOME/weir/tokens/ (else ~/.config/weir/tokens/), named after host and port.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
"""A server bound to every address is reached over loopback from this machine."""
_LOOPBACK_NAMES = {"localhost": "127.0.0.1"}
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


def _config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "weir" / "tokens"


def _key(server: str) -> str:
    """host_port of an API address (`127.0.0.1:8080`, `[::1]:8080`) or URL."""
    url = urlsplit(server if "://" in server else f"http://{server}")
    host = (url.hostname or "").lower()
    host = _WILDCARDS.get(host, _LOOPBACK_NAMES.get(host, host))
    port = url.port or (443 if url.scheme == "https" else 80)
    return _UNSAFE.sub("_", f"{host}_{port}")


def local_token_path(server: str) -> Path:
    return _config_dir() / _key(server)


def save_local_token(server: str, secret: str) -> Path:
    """Write the token for `server` where only this user can read it, atomically."""
    path = local_token_path(server)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, (secret + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    return path


def read_local_token(server: str) -> str | None:
    try:
        secret = local_token_path(server).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return secret or None


def forget_local_token(server: str, secret: str | None = None) -> None:
    """Remove the file for `server` (only if it holds `secret`, when given)."""
    if secret is not None and read_local_token(server) != secret:
        return
    with contextlib.suppress(FileNotFoundError):
        local_token_path(server).unlink()
