"""Service files as operators write them, read with YAML 1.2's idea of a boolean, and bounded.

PyYAML follows YAML 1.1, where `on`, `off`, `yes` and `no` are booleans: the documented
`retries: {on: [5xx, reset]}` would arrive as `{true: [...]}`. Dates stay strings too; the
server's models decide what every value means.

A YAML file can describe far more than it holds: aliases repeat a node without copying it, so
a few hundred bytes of nested aliases (a "billion laughs") expand to gigabytes once sent as
JSON, in the CLI's memory first. So a service file is read only up to `MAX_FILE_BYTES`, with at
most `MAX_ALIASES` aliases, nesting `MAX_DEPTH` deep, and `MAX_NODES` values once every alias
is expanded; past any of them the file is refused before anything is built or sent.
"""

from __future__ import annotations

import re
from typing import IO, Any

import yaml

from controlplane.cli._errors import CliError

_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


MAX_FILE_BYTES = 1024 * 1024
"""As large as the API takes a request body (`weir serve --max-request-body`'s default)."""
MAX_ALIASES = 100
MAX_DEPTH = 32
MAX_NODES = 100_000
"""Values (scalars, lists, mappings) in the document with every alias expanded."""


class _TooBig(yaml.YAMLError):
    pass


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _TooBig(f"more than {MAX_ALIASES} aliases (*name) in one file")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooBig(f"values nested more than {MAX_DEPTH} deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values `node` holds once every alias in it is expanded (aliases share their
    node, so each distinct node is counted once and reused: a linear walk)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = size
    return size


def _documents(text: str) -> list[Any]:
    loader = _Loader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None and _expanded_size(node, {}) > MAX_NODES:
                raise _TooBig(f"more than {MAX_NODES:,} values once its aliases are expanded")
            documents.append(loader.construct_document(node))
        return documents
    finally:
        loader.dispose()


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
    text = stream.read(MAX_FILE_BYTES + 1)
    if len(text.encode()) > MAX_FILE_BYTES:
        raise CliError(f"{name}: a service file is at most {MAX_FILE_BYTES:,} bytes")
    try:
        documents = [doc for doc in _documents(text) if doc is not None]
    except _TooBig as exc:
        raise CliError(f"{name}: refused: {exc}") from exc
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
