"""`weir bootstrap`: print an Envoy bootstrap (YAML) that points a proxy at this controller."""

from __future__ import annotations

import shlex

import click

from controlplane import defaults
from controlplane.bootstrap import BootstrapTls, bootstrap_yaml, render_bootstrap
from controlplane.cli._options import address_option, host_port
from controlplane.errors import InvalidInput


@click.command()
@click.option("--node-id", required=True, help="node.id: names this proxy; unique per Envoy.")
@click.option("--cluster", required=True, help="node.cluster: the group this proxy belongs to.")
@click.option("--delta", is_flag=True, help="Incremental xDS (DELTA_GRPC) instead of SotW.")
@click.option(
    "--lean-stats",
    is_flag=True,
    help="Envoy keeps only the stats weir reads (a stats matcher), not its own: for large "
    "fleets on --stats push, whose every flush otherwise carries all of Envoy's stats.",
)
@address_option(
    "--listen", defaults.SIDECAR_LISTEN, "Where this proxy's HTTP listener accepts traffic."
)
@address_option("--admin", defaults.ENVOY_ADMIN, "Envoy's admin.")
@click.option(
    "--access-log",
    metavar="PATH",
    help="Log every request of this proxy's listener to PATH (absolute, on the proxy's "
    "machine), a JSON object a line: status, response flags and details, the instance "
    "cluster and host, attempts, duration.",
)
@click.option(
    "--xds",
    multiple=True,
    callback=lambda ctx, param, values: tuple(host_port(ctx, param, v) for v in values),
    metavar="HOST:PORT",
    help=f"weir's ADS address [default: {defaults.XDS}]. Repeat it to name every replica "
    "of an HA weir, in order of preference: Envoy health-checks them and moves to a survivor.",
)
@click.option(
    "--calls",
    metavar="SERVICE,...",
    help="Scope this proxy to the services it calls: weir serves it their virtual hosts and "
    "clusters (and those of services whose files name its --cluster among their callers), "
    "nothing else. '' scopes it to the latter alone. Without it, every service.",
)
@click.option(
    "--tls-cert",
    metavar="FILE",
    help="mTLS to weir (serve --xds-tls-*): this proxy's PEM client certificate, whose SAN "
    "names the node id. Takes --tls-key and --tls-ca too; paths as Envoy will see them.",
)
@click.option("--tls-key", metavar="FILE", help="The PEM private key of --tls-cert.")
@click.option("--tls-ca", metavar="FILE", help="PEM CA certificates that sign weir's certificate.")
@click.option(
    "--tls-server-name",
    metavar="NAME",
    help="The name weir's certificate must carry, sent as SNI. [default: the --xds host]",
)
def bootstrap(
    node_id: str,
    cluster: str,
    delta: bool,
    lean_stats: bool,
    listen: str,
    admin: str,
    access_log: str | None,
    xds: tuple[str, ...],
    tls_cert: str | None,
    tls_key: str | None,
    tls_ca: str | None,
    tls_server_name: str | None,
    calls: str | None,
) -> None:
    """Print an Envoy bootstrap (YAML) for one proxy, pointing it at weir over ADS.

    Save it as a .yaml file for `envoy -c FILE`, or pass it inline:
    `envoy --config-yaml "$(weir bootstrap ...)"`.
    """
    try:
        tls = BootstrapTls.from_options(tls_cert, tls_key, tls_ca, tls_server_name)
    except InvalidInput as exc:
        raise click.UsageError(exc.message) from exc
    replicas = list(xds) or [defaults.XDS]
    try:
        called = None if calls is None else [c.strip() for c in calls.split(",") if c.strip()]
        rendered = render_bootstrap(
            node_id,
            cluster,
            xds=replicas,
            listen=listen,
            admin=admin,
            delta=delta,
            tls=tls,
            calls=called,
            lean_stats=lean_stats,
            access_log=access_log,
        )
    except InvalidInput as exc:
        raise click.UsageError(exc.message) from exc
    # The header repeats the flags that matter, so a checked-in file says how to remake it.
    words = ["weir", "bootstrap", "--node-id", node_id, "--cluster", cluster]
    words += ["--delta"] if delta else []
    words += ["--lean-stats"] if lean_stats else []
    for flag, value, default in (
        ("--listen", listen, defaults.SIDECAR_LISTEN),
        ("--admin", admin, defaults.ENVOY_ADMIN),
        ("--access-log", access_log, None),
        *(("--xds", address, defaults.XDS if len(replicas) == 1 else None) for address in replicas),
        ("--tls-cert", tls_cert, None),
        ("--tls-key", tls_key, None),
        ("--tls-ca", tls_ca, None),
        ("--tls-server-name", tls_server_name, None),
        ("--calls", calls, None),
    ):
        words += [flag, value] if value is not None and value != default else []
    click.echo(bootstrap_yaml(rendered, command=shlex.join(words)), nl=False)
