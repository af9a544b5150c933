"""A real PostgreSQL server for tests: initdb in a temporary directory, 127.0.0.1 on a free port.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as `nobody`
(the data directory is made theirs). Each test gets its own database from `fresh_database`.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from controlplane.harness import free_port, stop_process
from tests.support._net import HOST

SUPERUSER = "weir"
START_TIMEOUT_S = 30.0


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise RuntimeError(
            "no PostgreSQL server in /usr/lib/postgresql/*/bin: install Debian's `postgresql` "
            "package (.ci/run does)"
        )
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self._bin = _bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="weir-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as: dict[str, object] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def start(self) -> PostgresServer:
        subprocess.run(
            [str(self._bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
             "--auth=trust", "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, **self._as,  # type: ignore[call-overload]
        )  # fmt: skip
        log = open(self.dir / "postgres.log", "wb")  # noqa: SIM115 - the server's lifetime
        # fsync off: the tests kill weir, never this server, and the disk is shared.
        self._process = subprocess.Popen(
            [str(self._bin / "postgres"), "-D", str(self.data),
             "-c", f"listen_addresses={HOST}", "-c", f"port={self.port}",
             "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, **self._as,  # type: ignore[call-overload]
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.log_tail()}") from None
                time.sleep(0.1)

    def fresh_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"t{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        path = self.dir / "postgres.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, signal.SIGINT)  # fast shutdown: clients are cut off
        shutil.rmtree(self.dir, ignore_errors=True)
