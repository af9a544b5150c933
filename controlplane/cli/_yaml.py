"""Service files as operators write them, read with YAML 1.2's idea of a boolean.

PyYAML follows YAML 1.1, where `on`, `off`, `yes` and `no` are booleans: the documented
`retries: {on: [5xx, reset]}` would arrive as `{true: [...]}`. Dates stay strings too; the
server's models decide what every value means.
"""

from __future__ import annotations

import re
from typing import IO, Any

import yaml

from controlplane.cli._errors import CliError

_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), None)


def load_service_file(stream: IO[str], name: str) -> dict[str, Any]:
    """The one mapping in a service file; a syntax error is reported with its line."""
    documents = load_documents(stream, name)
    if len(documents) != 1:
        raise CliError(
            f"{name}: a service file holds one service, not {len(documents)} YAML documents"
        )
    return documents[0]


def load_documents(stream: IO[str], name: str) -> list[dict[str, Any]]:
    """Every mapping in a file of one or more YAML documents (empty ones skipped); a syntax
    error is reported with its line."""
    try:
        documents = [doc for doc in yaml.load_all(stream, Loader=_Loader) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = exc.problem or exc.context or "invalid YAML"
        raise CliError(f"{name}: {where}: {problem}") from exc
    except yaml.reader.ReaderError as exc:  # its str() spans two lines
        raise CliError(
            f"{name}: character {exc.position + 1}: {exc.reason} (#x{exc.character:04x})"
            if isinstance(exc.character, int)
            else f"{name}: {exc.reason}"
        ) from exc
    except yaml.YAMLError as exc:
        raise CliError(f"{name}: {exc}") from exc
    if not documents:
        raise CliError(f"{name}: the file holds no service (it is empty)")
    for number, document in enumerate(documents, 1):
        if not isinstance(document, dict):
            where = f"{name}: document {number}" if len(documents) > 1 else name
            raise CliError(f"{where}: a service file is a mapping, starting with `name: <service>`")
    return documents
