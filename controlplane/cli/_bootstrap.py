"""`weir bootstrap`: print an Envoy bootstrap (YAML) that points a proxy at this controller."""

from __future__ import annotations

import shlex

import click

from controlplane import defaults
from controlplane.bootstrap import bootstrap_yaml, render_bootstrap
from controlplane.cli._options import address_option


@click.command()
@click.option("--node-id", required=True, help="node.id: names this proxy; unique per Envoy.")
@click.option("--cluster", required=True, help="node.cluster: the group this proxy belongs to.")
@click.option("--delta", is_flag=True, help="Incremental xDS (DELTA_GRPC) instead of SotW.")
@address_option(
    "--listen", defaults.SIDECAR_LISTEN, "Where this proxy's HTTP listener accepts traffic."
)
@address_option("--admin", defaults.ENVOY_ADMIN, "Envoy's admin.")
@address_option("--xds", defaults.XDS, "weir's ADS address.")
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
