"""`weir bootstrap`: print an Envoy bootstrap (YAML) that points a proxy at this controller."""

from __future__ import annotations

import shlex

import click

from controlplane import defaults
from controlplane.bootstrap import bootstrap_yaml, render_bootstrap
from controlplane.cli._options import host_port


@click.command()
@click.option("--node-id", required=True, help="node.id: names this proxy; unique per Envoy.")
@click.option("--cluster", required=True, help="node.cluster: the group this proxy belongs to.")
@click.option("--delta", is_flag=True, help="Incremental xDS (DELTA_GRPC) instead of SotW.")
@click.option(
    "--listen",
    default=defaults.SIDECAR_LISTEN,
    show_default=True,
    callback=host_port,
    metavar="HOST:PORT",
    help="Where this proxy's HTTP listener accepts traffic.",
)
@click.option(
    "--admin",
    default=defaults.ENVOY_ADMIN,
    show_default=True,
    callback=host_port,
    metavar="HOST:PORT",
    help="Envoy's admin.",
)
@click.option(
    "--xds",
    default=defaults.XDS,
    show_default=True,
    callback=host_port,
    metavar="HOST:PORT",
    help="weir's ADS address.",
)
def bootstrap(node_id: str, cluster: str, delta: bool, listen: str, admin: str, xds: str) -> None:
    """Print an Envoy bootstrap (YAML) for one proxy, pointing it at weir over ADS.

    Save it as a .yaml file for `envoy -c FILE`, or pass it inline:
    `envoy --config-yaml "$(weir bootstrap ...)"`.
    """
    rendered = render_bootstrap(node_id, cluster, xds=xds, listen=listen, admin=admin, delta=delta)
    # The header repeats the flags that matter, so a checked-in file says how to remake it.
    words = ["weir", "bootstrap", "--node-id", node_id, "--cluster", cluster]
    words += ["--delta"] if delta else []
    for flag, value, default in (
        ("--listen", listen, defaults.SIDECAR_LISTEN),
        ("--admin", admin, defaults.ENVOY_ADMIN),
        ("--xds", xds, defaults.XDS),
    ):
        words += [flag, value] if value != default else []
    click.echo(bootstrap_yaml(rendered, command=shlex.join(words)), nl=False)
