"""The README's test command is CI's: `bash .ci/run`, which installs what the tests need."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_runs_the_tests_with_ci_s_own_script() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert blocks[1].strip() == "bash .ci/run"
    run = (REPO / ".ci" / "run").read_text()
    for package in ("prometheus", "postgresql", "chromium"):
        assert f"--no-install-recommends \\\n        {package}" in run, package
    assert run.rstrip().endswith(".venv/bin/python -m pytest -n 4 --dist worksteal")
    assert "pytest -n 4 --dist worksteal" in (REPO / "README.md").read_text()
