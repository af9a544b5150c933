"""The cyclic garbage collector while `weir` starts.

Start-up allocates a great many objects that live until the process exits: modules, classes,
functions, click's commands and options. Python's collector would walk them again and again
while they load, and once more as the process exits, finding nothing to free. So the console
script starts with the collector off; once the command's code is loaded, what exists goes to
the permanent generation, which no collection walks (nor the one at exit), and collection
resumes as usual for what the command allocates while it runs (`weir serve`, `weir demo` and
`--watch` run for hours). Cyclic garbage start-up left, if any, is then never freed: a one-off
amount, bounded by what loading the code made.
"""

from __future__ import annotations

import gc


class _State:
    paused = False
    """True between `pause` and `resume`, and only in a process `pause` was called in."""


def pause() -> None:
    """The collector off until `resume` (unless it was off already, which `resume` keeps)."""
    if gc.isenabled():
        gc.disable()
        _State.paused = True


def resume() -> None:
    """Start-up is over: keep what it allocated out of every collection and collect again.
    Does nothing unless `pause` turned the collector off, so a process that merely imports the
    CLI (the tests) keeps its collector as it was."""
    if _State.paused:
        _State.paused = False
        gc.freeze()
        gc.enable()
