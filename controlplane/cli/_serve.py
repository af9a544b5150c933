"""`weir serve`: run the control plane in this process until SIGINT or SIGTERM."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from controlplane import defaults
from controlplane.cli._errors import CliError
from controlplane.cli._local_token import announce_first_admin
from controlplane.cli._options import address_option, host_port, listen_address
from controlplane.logs import configure_logging

if TYPE_CHECKING:
    import grpc

    from controlplane.serve import ServeConfig


def compare_listen(ctx: click.Context, param: click.Parameter, value: str) -> str | None:
    """--compare: HOST:PORT to listen on, or `off`."""
    if value == "off":
        return None
    return listen_address(ctx, param, value)


def webhook_urls(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    from controlplane.notify import check_webhook_url

    try:
        return tuple(check_webhook_url(url) for url in value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


@click.command()
@click.option(
    "--store",
    default=defaults.STORE,
    show_default=True,
    metavar="URL",
    help="The ledger: a file path, sqlite:///relative.db or sqlite:////absolute/path.db; or "
    "postgresql://… to run as one of several replicas sharing it (one leads rollouts and the "
    "evaluator, every one serves xDS and the API).",
)
@address_option("--xds", defaults.XDS, "ADS for Envoy; port 0 picks a free one.", listen=True)
@address_option("--api", defaults.API, "The HTTP API; port 0 picks a free one.", listen=True)
@click.option(
    "--compare",
    default=defaults.COMPARE,
    show_default=True,
    callback=compare_listen,
    metavar="HOST:PORT",
    help="The comparator's listener: Envoy mirrors the requests of shadow instances of "
    "services with a `compare` section here, to be compared with the old version's answers. "
    "Port 0 picks a free one; `off` runs none (such shadows are then mirrored to directly).",
)
@click.option(
    "--compare-address",
    callback=host_port,
    metavar="HOST:PORT",
    help="Where the proxies reach the comparator, if not where it listens (needed when it "
    "listens on 0.0.0.0 or ::).",
)
@click.option(
    "--compare-concurrency",
    type=click.IntRange(min=1, max=10_000),
    default=defaults.COMPARE_CONCURRENCY,
    show_default=True,
    help="Compared requests in flight (three requests to instances each); more are dropped "
    "unread and counted, never queued.",
)
@click.option(
    "--compare-rate",
    type=click.FloatRange(min=0, min_open=True, max=1_000_000),
    default=defaults.COMPARE_RATE,
    show_default=True,
    help="Compared requests admitted per second; more are dropped and counted. Bounds the "
    "comparator's CPU in this process.",
)
@click.option(
    "--compare-max-body",
    type=click.IntRange(min=1, max=64 * 1024 * 1024),
    default=defaults.COMPARE_MAX_BODY,
    show_default=True,
    metavar="BYTES",
    help="The largest request body the comparator reads (a larger one is refused, 413), and "
    "the most it reads of each answer.",
)
@click.option(
    "--stats",
    type=click.Choice(["push", "pull", "promql", "off"]),
    default="push",
    show_default=True,
    help="Where the evaluator reads Envoy's stats: the metrics sink Envoy pushes to the xDS "
    "port, each proxy's admin, a Prometheus server (--prometheus), or off (no verdicts).",
)
@click.option("--prometheus", "prometheus_url", metavar="URL", help="With --stats promql.")
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    callback=webhook_urls,
    metavar="URL",
    help="POST a JSON notification here on rollout start, step, completion and rollback, on "
    "each pass or fail verdict, and when the error budget freezes; retried with backoff. "
    "Repeatable.",
)
@click.option(
    "--xds-tls-cert",
    metavar="FILE",
    help="mTLS on the xDS port (ADS, CSDS, metrics sink): weir's PEM certificate chain. "
    "Takes --xds-tls-key and --xds-client-ca too.",
)
@click.option("--xds-tls-key", metavar="FILE", help="The PEM private key of --xds-tls-cert.")
@click.option(
    "--xds-client-ca",
    metavar="FILE",
    help="PEM CA certificates that sign the proxies' client certificates. A proxy is served "
    "only if its node.id is its certificate's identity: a SAN DNS name equal to the node id, "
    "or a SAN URI whose last path segment is (spiffe://mesh.example/envoy/NODE_ID).",
)
@click.option(
    "--coalesce-ms",
    type=click.FloatRange(min=0, max=10_000),
    default=defaults.COALESCE_MS,
    show_default=True,
    help="Ledger changes this close together reach Envoy as one push; a lone change is "
    "pushed at once. 0 pushes every change.",
)
@click.option(
    "--xds-streams-per-peer",
    type=click.IntRange(min=1),
    default=defaults.XDS_STREAMS_PER_PEER,
    show_default=True,
    help="ADS streams one client address may hold open (a host running many proxies shares "
    "it); the next is refused.",
)
@click.option(
    "--xds-streams-per-proxy",
    type=click.IntRange(min=1),
    default=defaults.XDS_STREAMS_PER_PROXY,
    show_default=True,
    help="ADS streams one proxy (node id) may hold open from one address.",
)
@click.option(
    "--api-max-connections",
    type=click.IntRange(min=1),
    default=defaults.API_MAX_CONNECTIONS,
    show_default=True,
    help="Open connections to the API; at the cap a new one evicts the oldest that has not "
    "sent a request.",
)
@click.option(
    "--api-header-timeout",
    type=click.FloatRange(min=0.1),
    default=defaults.API_HEADER_TIMEOUT_S,
    show_default=True,
    metavar="SECONDS",
    help="A connection to the API must send a complete request head this soon.",
)
@click.option(
    "--stats-max-rps",
    type=click.FloatRange(min=1),
    default=defaults.STATS_MAX_RPS,
    show_default=True,
    metavar="RPS",
    help="Requests one proxy may claim per second through the metrics sink; a flush claiming "
    "more is not counted.",
)
@click.option(
    "--max-request-body",
    "max_body",
    type=click.IntRange(min=1),
    default=defaults.MAX_REQUEST_BODY,
    show_default=True,
    metavar="BYTES",
    help="The largest API request body accepted; a larger one is refused with 413, unread.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: a line for people; json: an object a line (time, level, logger, message, and "
    "each ledger change's seq, actor, kind, service, instance, reason).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="info logs every change appended to the ledger, with its actor.",
)
def serve(
    store: str,
    xds_tls_cert: str | None,
    xds_tls_key: str | None,
    xds_client_ca: str | None,
    log_format: str,
    log_level: str,
    **flags: Any,
) -> None:
    """Serve the ledger, ADS for the Envoy fleet and the HTTP API, judge every change from
    Envoy's stats and drive rollouts, in one process."""
    xds_credentials = _xds_credentials(xds_tls_cert, xds_tls_key, xds_client_ca)
    config = server_options(flags)
    # Imported here: the server side (grpc, FastAPI, uvicorn) costs every other command time.
    import uvloop

    from controlplane.auth import issue_first_admin, save_local_token
    from controlplane.errors import StoreError
    from controlplane.ledger import SqliteStore, open_store
    from controlplane.serve import Listening, exit_process
    from controlplane.serve import serve as run

    configure_logging(log_format, log_level)
    _use_every_file_descriptor()
    try:
        opened = open_store(store)
        if isinstance(opened, SqliteStore):
            opened.hold_exclusively()
        opened.verify()  # a damaged or edited ledger is never served
    except StoreError as exc:
        raise CliError(exc.message) from exc
    ledger = getattr(opened, "where", store)  # a PostgreSQL URL without its password
    first_admin = issue_first_admin(opened)
    if first_admin is not None and not config.api.endswith(":0"):
        # Saved before the API listens: were that to fail, the token is not lost with it.
        save_local_token(config.api, first_admin)

    def ready(listening: Listening) -> None:
        click.echo(
            f"weir serving xDS on {listening.xds} and the API on {listening.api_url} "
            f"(ledger {ledger})"
        )
        if listening.compare is not None:
            click.echo(f"comparator: {listening.compare}")
        if first_admin is not None:
            announce_first_admin(listening.api_url, first_admin)
        click.echo(f"dashboard: {listening.api_url}/ (it asks for a token)")

    try:
        uvloop.run(run(opened, config, xds_credentials=xds_credentials, on_ready=ready))
    except OSError as exc:
        raise CliError(str(exc)) from exc
    exit_process()  # stopped cleanly: the interpreter's teardown adds nothing but time


def server_options(flags: Mapping[str, Any]) -> ServeConfig:
    """The server's options from `weir serve`'s flags, by parameter name: every flag but the
    store, the TLS files and logging, which the command itself opens, reads and configures.
    tests/serve/test_config.py checks that each flag reaches the config and each field of the
    config is reached."""
    from controlplane.api import ApiLimits
    from controlplane.compare import ComparatorLimits
    from controlplane.serve import ServeConfig
    from controlplane.stats import PushLimits
    from controlplane.xds import XdsLimits

    return ServeConfig(
        xds=flags["xds"],
        api=flags["api"],
        compare=flags["compare"],
        compare_address=flags["compare_address"],
        compare_limits=ComparatorLimits(
            concurrency=flags["compare_concurrency"],
            rate=flags["compare_rate"],
            max_body=flags["compare_max_body"],
        ),
        stats=flags["stats"],
        prometheus_url=flags["prometheus_url"],
        webhooks=flags["webhooks"],
        coalesce_ms=flags["coalesce_ms"],
        xds_limits=XdsLimits(
            streams_per_peer=flags["xds_streams_per_peer"],
            streams_per_proxy=flags["xds_streams_per_proxy"],
        ),
        push_limits=PushLimits(max_rps=flags["stats_max_rps"]),
        max_body=flags["max_body"],
        api_limits=ApiLimits(
            max_connections=flags["api_max_connections"],
            header_timeout_s=flags["api_header_timeout"],
        ),
    )


def _use_every_file_descriptor() -> None:
    """Raise the soft limit on open files to the hard one: the connection caps of both ports
    (README, "Limits") are meant to bind before the process runs out of descriptors."""
    import contextlib
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):  # else as it was: the caps bind sooner
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _xds_credentials(
    cert: str | None, key: str | None, client_ca: str | None
) -> grpc.ServerCredentials | None:
    """grpc server credentials from the --xds-tls-* files, checked before anything starts."""
    from controlplane.errors import InvalidInput
    from controlplane.xds import XdsTls

    try:
        tls = XdsTls.from_options(cert, key, client_ca)
    except InvalidInput as exc:
        raise click.UsageError(exc.message) from exc
    try:
        return tls.credentials() if tls is not None else None
    except InvalidInput as exc:
        raise CliError(exc.message) from exc
