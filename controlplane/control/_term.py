"""The fencing token of the writes a leader makes.

The leader runs the evaluator, the rollout driver and the notifier inside `leading(term)`;
every submit made from those tasks (and the threads they hand work to: asyncio.to_thread
copies the context) carries the term to the store, which refuses it once another replica has
begun a later term. Operator writes, from the API's own tasks, carry none.
"""

from __future__ import annotations

from contextvars import ContextVar

_TERM: ContextVar[int | None] = ContextVar("weir_leader_term", default=None)


def leading(term: int) -> None:
    """From now on, in this task (and tasks and threads it starts), writes carry `term`."""
    _TERM.set(term)


def current_term() -> int | None:
    return _TERM.get()
