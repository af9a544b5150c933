"""The split check: the proxies must split live traffic as the weights ask."""

from __future__ import annotations

from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.model import Activation
from controlplane.verdict import split_mismatch
from tests.evaluator._fakes import ScriptedSource, extra_failures, rate_judge
from tests.evaluator.test_loop import mesh


def checked_mesh() -> tuple[Controller, ScriptedSource, Evaluator]:
    c, source, _ = mesh()
    evaluator = Evaluator(
        c, source, judge=rate_judge, extra_failures=extra_failures, split_check=split_mismatch
    )
    c.change("new", Activation.live(1), actor="ops")  # old 9 : new 1
    return c, source, evaluator


async def test_a_split_as_asked_is_no_mismatch() -> None:
    _, source, evaluator = checked_mesh()
    await evaluator.step()  # the weights' window opens
    source.serve("web--old", 9_000)
    source.serve("web--new", 1_000)
    await evaluator.step()
    assert evaluator.splits["web"].mismatch is False


async def test_a_split_the_proxies_ignore_is_reported_naming_the_instance() -> None:
    _, source, evaluator = checked_mesh()
    await evaluator.step()
    source.serve("web--old", 5_000)
    source.serve("web--new", 5_000)  # half, not a tenth
    await evaluator.step()
    check = evaluator.splits["web"]
    assert check.mismatch is True
    assert "new" in check.reason or "old" in check.reason


async def test_new_weights_start_a_new_window() -> None:
    c, source, evaluator = checked_mesh()
    await evaluator.step()
    source.serve("web--old", 5_000)
    source.serve("web--new", 5_000)
    c.change("new", Activation.live(9), actor="ops")  # now 9 : 9
    await evaluator.step()
    assert "web" not in evaluator.splits  # the old counts say nothing about the new ask
    source.serve("web--old", 500)
    source.serve("web--new", 500)
    await evaluator.step()
    assert evaluator.splits["web"].mismatch is False
