"""`weir demo` tells its story with a real Envoy and leaves nothing running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

WEIR = str(Path(sys.executable).parent / "weir")


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain `text` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in command:
                found.append(command)
    return found


def test_weir_demo_shifts_traffic_prints_history_and_stops_everything() -> None:
    result = subprocess.run(
        [WEIR, "demo"],
        capture_output=True,
        text=True,
        timeout=170,
        env=os.environ | {"NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    # traffic through the real Envoy followed each change
    shares = re.findall(r"(checkout-v[12])\s+█*\s+([\d.]+)%", out)
    assert shares[0] == ("checkout-v1", "100.0")
    assert shares[-1] == ("checkout-v2", "100.0")
    v2_canary = float(dict(shares[1:3])["checkout-v2"])
    assert 3 < v2_canary < 20, out  # weight 10 of 110: about 9%

    # the history shows each change, with who made it and why
    assert "inactive → live weight 10" in out and "canary step 1" in out
    assert "inactive → retired" in out
    assert "demo-front" in out  # the Envoy is listed by `weir proxies`

    # and no process it started outlives it: weir serve and Envoy both ran from its workdir
    workdir = re.search(r"working in (\S+)", out)
    assert workdir is not None, out
    assert processes_mentioning(workdir.group(1)) == []
