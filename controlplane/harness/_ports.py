"""Free loopback ports, picked so that neither two picks in one process nor picks in several
processes at once (test workers, a benchmark and its children) collide."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()
_random = random.Random()
LISTEN_PORTS = (10_000, 65_535)
"""Where free_port looks, less the kernel's ephemeral range."""


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections (Linux: ip_local_port_range)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return (32_768, 60_999)  # Linux's default


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, outside the kernel's
    ephemeral range, that this process has not handed out before. Outside the range, because
    a port the kernel picks for us it may also give the next outgoing connection (a load
    generator opens hundreds a second) before our server binds it; picked at random, because
    several processes pick at once; never twice, because two picks made before either is bound
    (an Envoy's admin and listener) must differ."""
    low, high = _ephemeral_range()
    if low <= LISTEN_PORTS[0] and high >= LISTEN_PORTS[1]:
        low, high = 0, -1  # the kernel's range is all there is: pick within it
    while True:
        port = _random.randint(*LISTEN_PORTS)
        if low <= port <= high or port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
