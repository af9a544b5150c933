"""Durations and addresses as operators type them: 500ms, 2s, 30d; host:port, [::1]:80.

Standard library only: the CLI's client commands read these without loading the models
(pydantic), so that `weir` starts in a few tens of milliseconds.
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Patterns as text, compiled on first use (and kept by re's cache): every `weir` command imports
# this module as it starts, and most never parse a duration or an address.
_PATTERN = r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$"
_HOSTNAME = r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$"

MAX_HOST = 253
"""A DNS name: at most 253 characters, each label at most 63 (RFC 1035)."""
MAX_DNS_LABEL = 63
MAX_DURATION_TEXT = 400
"""A duration as text: `500ms`, `2s`, `30d` -- and the exact decimal of any float the ledger
writes back (up to some 330 digits)."""


def parse_duration(text: object) -> float:
    """Seconds from '2s', '500ms', '30d'; a bare number is seconds."""
    if isinstance(text, bool):
        raise ValueError("a duration such as 2s, 500ms or 30d")
    if isinstance(text, int | float):
        seconds = float(text)
    elif isinstance(text, str) and len(text) > MAX_DURATION_TEXT:
        raise ValueError(f"a duration is at most {MAX_DURATION_TEXT} characters (such as 30d)")
    elif isinstance(text, str) and (match := re.fullmatch(_PATTERN, text)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"{text!r} is not a duration such as 2s, 500ms or 30d")
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a finite duration")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest text that parses back to exactly `seconds` (the ledger must round-trip)."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            text = f"{int(seconds // size)}{unit}"
            if parse_duration(text) == seconds:
                return text
    millis = f"{seconds * 1000:g}ms"
    if "e" not in millis and parse_duration(millis) == seconds:  # 1000.5 s is 1.0005e+06ms
        return millis
    # Plain decimal digits (the pattern takes no exponent) of the float's shortest repr.
    from decimal import Decimal

    return f"{Decimal(repr(seconds)):f}s"


def say_duration(seconds: float) -> str:
    """A duration as people read it, rounded: 45 s, 12 min, 3.5 h, 2.0 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def split_address(address: str) -> tuple[str, int]:
    """('10.0.0.1', 8080) from '10.0.0.1:8080'; ('::1', 80) from '[::1]:80'."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} in {address!r} is not between 1 and 65535")
    if host.startswith("[") and host.endswith("]"):
        import ipaddress

        host = host[1:-1]
        ipaddress.IPv6Address(host)  # raises ValueError naming the text
        return host, port
    if ":" in host:
        raise ValueError(f"{address!r}: an IPv6 host must be in brackets, as [::1]:80")
    if len(host) > MAX_HOST or any(len(label) > MAX_DNS_LABEL for label in host.split(".")):
        raise ValueError(
            f"the host name {host[:40]!r}... is longer than a DNS name may be ({MAX_HOST} "
            f"characters, {MAX_DNS_LABEL} between dots)"
        )
    if not re.fullmatch(_HOSTNAME, host):
        raise ValueError(f"{host!r} in {address!r} is not a host name or IP address")
    return host, port
