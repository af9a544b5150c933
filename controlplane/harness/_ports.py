"""Free loopback ports, picked so that two picks in one process never collide."""

from __future__ import annotations

import socket

_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it), and that
    this process has not handed out before: the kernel may offer a port it just offered again,
    and two picks made before either is bound (an Envoy's admin and listener) must differ."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
