"""`weir demo`: the scripted tour with a real controller, real Envoy and two instances."""

from __future__ import annotations

from collections.abc import Sequence

import click


@click.command()
@click.option("--keep", is_flag=True, help="Leave everything running to explore, until Ctrl-C.")
@click.pass_context
def demo(ctx: click.Context, keep: bool) -> None:
    """Run the whole story on this machine: weir serve, a real Envoy, instances of three
    versions under steady traffic, a canary that completes and one the evaluator rolls back,
    then the history with verdicts and costs. Stops everything it started."""
    from controlplane.demo import run_tour

    weir = ctx.find_root().command  # the `weir` group this command belongs to

    def run(args: Sequence[str]) -> None:
        weir.main(args=list(args), prog_name="weir", standalone_mode=False)

    run_tour(run, keep=keep)
