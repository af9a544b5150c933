"""bench/cli_startup.py runs, small: every command of both installs (this venv's editable one
and a regular one built in a scratch venv) starts, answers and exits 0 (the benchmark stops at
the first that does not)."""

from __future__ import annotations

import pytest

from bench.cli_startup import INSTALLED, _commands, main

pytestmark = pytest.mark.timeout(180)


def test_the_benchmark_times_every_command_of_both_installs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--runs", "1"])

    lines = capsys.readouterr().out.splitlines()
    for label in _commands("python", "weir"):
        for shown in (label, INSTALLED + label):
            assert any(line.startswith(f"{shown} ") for line in lines), shown
    assert lines[-1] == "(bytecode caches: written on the warm-up run)"
