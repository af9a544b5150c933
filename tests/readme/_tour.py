"""The README's tour as commands and the output shown after each, and how the two are compared.

In the README's console block, a line starting with `$ ` is a command (a comment after it is
bash's); the lines up to the next command are what it prints. `…` stands for any text within a
line, and a line of `…` alone for any number of lines (none included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN = "<!-- tour:begin -->"
END = "<!-- tour:end -->"
ANY = "…"


@dataclass(frozen=True, slots=True)
class Step:
    command: str
    expected: list[str]


def tour_steps(readme: str) -> list[Step]:
    block = readme[readme.index(BEGIN) + len(BEGIN) : readme.index(END)]
    lines = block.strip().splitlines()
    assert lines[0] == "```console" and lines[-1] == "```", "the tour is one console block"
    steps: list[Step] = []
    for line in lines[1:-1]:
        if line.startswith("$ "):
            steps.append(Step(line[2:], []))
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1].expected.append(line)
    return steps


def _line_pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in expected.rstrip().split(ANY)]
    return re.compile(".*".join(parts) + r"\s*")


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the printed lines are what the README shows, `…` standing in as described."""
    patterns = [None if line.strip() == ANY else _line_pattern(line) for line in expected]

    def match(i: int, j: int) -> bool:
        if i == len(patterns):
            return j == len(actual)
        pattern = patterns[i]
        if pattern is None:  # any number of lines
            return any(match(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and bool(pattern.fullmatch(actual[j])) and match(i + 1, j + 1)

    return match(0, 0)
