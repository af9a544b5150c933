"""Operators' bearer tokens: issued into the ledger as a digest, checked against the folded
state, and the local admin token kept in a per-user file for the CLI on this machine."""

from controlplane.auth._issue import FIRST_ADMIN, SERVE_ACTOR, issue_first_admin, issue_token
from controlplane.auth._secrets import digest, find_token, new_secret
from controlplane.token_file import (
    forget_local_token,
    local_token_path,
    read_local_token,
    save_local_token,
)

__all__ = [
    "FIRST_ADMIN",
    "SERVE_ACTOR",
    "digest",
    "find_token",
    "forget_local_token",
    "issue_first_admin",
    "issue_token",
    "local_token_path",
    "new_secret",
    "read_local_token",
    "save_local_token",
]
