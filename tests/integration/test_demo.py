"""`weir demo` tells its story with a real Envoy and real verdicts, and leaves nothing running."""

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


def test_weir_demo_runs_a_canary_rolls_back_bad_ones_and_stops_everything() -> None:
    result = subprocess.run(
        [WEIR, "demo"],
        capture_output=True,
        text=True,
        timeout=175,
        env=os.environ | {"NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    # the v2 canary completed and the v3 canary was rolled back by a fail verdict
    assert re.search(r"100\.0% on v2 — completed", out), out
    assert re.search(r"on v3 — rolled back", out), out
    assert re.search(
        r"verdict fail on #\d+: \d+/\d+ attempts failed, callers \d+/\d+, cost \d+\.\d\d", out
    ), out
    # v4 answered 200 but took fewer orders: failed on the objective and rolled back; v5 took
    # more: recorded as an improvement with a positive value, and completed
    assert re.search(r"on v4 — rolled back", out), out
    assert re.search(r"verdict fail on #\d+, value -[\d,.]+/h", out), out
    assert re.search(r"100\.0% on v5 — completed", out), out
    assert re.search(r"verdict improvement on #\d+, value \+[\d,.]+/h", out), out
    assert re.search(r"orders/request \u2212\d+% \[\u2212\d+%, \u2212\d+(\.\d+)?%\] harm", out), out
    assert re.search(r"checkout: value gained [\d,.]+, value lost [\d,.]+", out), out
    # traffic through the real Envoy ends entirely on v2
    last_sample = out.split("after the v3 rollback:")[1].split("\n\n")[0]
    assert re.search(r"checkout-v2-a\s+█+\s+100\.0%", last_sample), last_sample
    # the history totals the cost, and the dashboard is named
    assert re.search(r"checkout: \d+ changes judged, \d+ extra failed requests, cost", out)
    assert "dashboard: http://127.0.0.1:" in out

    # and no process it started outlives it: weir serve and Envoy both ran from its workdir
    workdir = re.search(r"working in (\S+)", out)
    assert workdir is not None, out
    assert processes_mentioning(workdir.group(1)) == []
