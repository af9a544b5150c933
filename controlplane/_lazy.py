"""Re-exports a package loads on first use (PEP 562), so that importing one pure module of a
package does not load the I/O beside it (grpc, psycopg, httpx).

A package lists the names it re-exports this way twice: under `TYPE_CHECKING`, for the type
checker, and in the table given here, for the interpreter; tests/quality/test_imports.py checks
that every name in a package's `__all__` resolves.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that imports `name` from its submodule `where[name]`
    (a name relative to the package, such as "_server") the first time it is asked for."""

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # asked once: later reads skip this hook
        return value

    return __getattr__
