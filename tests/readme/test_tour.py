"""The README's five-minute tour, run as written: every `$` line, verbatim, in one fresh bash,
each command's output compared with the lines the README shows after it.

The tour uses weir's default ports (8080, 18000, 15001, 9901) and fixed upstream ports, as a
reader's machine would. So that it can run beside anything else on a shared machine, the shell
gets a network namespace of its own (util-linux's `unshare`, with a user namespace: no root
needed) whose loopback is brought up first. Nothing else differs from a reader's shell: the
working directory has the repository's `deploy/` and `.venv`, HOME and XDG_CONFIG_HOME are
fresh, PATH is the system's.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.readme._tour import Step, matches, tour_steps

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
TOUR_TIMEOUT_S = 200.0

LOOPBACK_UP = textwrap.dedent(
    """\
    import fcntl, socket, struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    request = struct.pack("16sh22x", b"lo", 0)
    flags = struct.unpack("16sh22x", fcntl.ioctl(s, 0x8913, request))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(s, 0x8914, struct.pack("16sh22x", b"lo", flags | 1))  # SIOCSIFFLAGS: IFF_UP
    """
)


def script(steps: list[Step]) -> str:
    """Each command as typed, between markers that say where its output starts and ends."""
    lines = ["exec 2>&1"]
    for i, step in enumerate(steps):
        lines += [f"echo '@@ {i}'", step.command, 'echo "@@ end $?"']
    return "\n".join(lines) + "\n"


def outputs(text: str, count: int) -> list[tuple[list[str], int]]:
    """(output lines, exit status) of each command, from the script's whole output."""
    found = []
    for i in range(count):
        match = re.search(rf"^@@ {i}\n(.*?)^@@ end (\d+)$", text, re.S | re.M)
        assert match, f"command {i} did not finish:\n{text[-3000:]}"
        found.append((match.group(1).splitlines(), int(match.group(2))))
    return found


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    steps = tour_steps((REPO / "README.md").read_text())
    assert len(steps) >= 15 and steps[0].command.startswith(". .venv/bin/activate")
    (tmp_path / "deploy").symlink_to(REPO / "deploy")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "lo.py").write_text(LOOPBACK_UP)
    (tmp_path / "tour.sh").write_text(script(steps))
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "LANG": "C.UTF-8",
    }
    shell = subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "--net", "sh", "-c",
         "python3 lo.py && exec bash tour.sh"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        text, _ = shell.communicate(timeout=TOUR_TIMEOUT_S)
    finally:
        # The tour's last line stops its background jobs; whatever is left of this session
        # (the shell and everything it started, in its own namespace) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()

    for step, (lines, status) in zip(steps, outputs(text, len(steps)), strict=True):
        logs = "".join(
            f"\n--- {log.name}\n{log.read_text()[-2000:]}" for log in sorted(tmp_path.glob("*.log"))
        )
        assert status == 0, f"$ {step.command}\nexited {status}:\n" + "\n".join(lines) + logs
        assert matches(step.expected, lines), (
            f"$ {step.command}\nthe README says:\n" + "\n".join(step.expected)
            + "\nit printed:\n" + "\n".join(lines)
        )  # fmt: skip
