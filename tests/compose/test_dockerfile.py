"""The Dockerfile docker-compose.yml builds: what it copies is there and not ignored, the package
it installs has every file weir reads, and its default command is the controller's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.compose._compose import CONTROLLER, DOCKERFILE, REPO, dockerfile_cmd, service

DOCKERIGNORE = REPO / ".dockerignore"
PACKAGE = "controlplane"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments left out."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines if line and line[0] != "#")
    ]


def _copied() -> list[str]:
    """The build-context paths the Dockerfile COPYs (the last word of each COPY is its target)."""
    sources = []
    for instruction, arguments in _instructions():
        if instruction == "COPY":
            words = json.loads(arguments) if arguments.startswith("[") else arguments.split()
            sources += [word for word in words[:-1] if not word.startswith("--")]
    return sources


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore glob as a regex: `*` and `?` within a name, `**` across folders."""
    regex, i = "", 0
    while i < len(glob):
        if glob.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif glob.startswith("**", i):
            regex, i = regex + ".*", i + 2
        else:
            regex += {"*": "[^/]*", "?": "[^/]"}.get(glob[i], re.escape(glob[i]))
            i += 1
    return re.compile(regex)


def _ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context, by Docker's rule: the last
    pattern matching the path or one of its folders decides; `!` takes it back in."""
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for line in DOCKERIGNORE.read_text().splitlines():
        glob = line.strip()
        if not glob or glob.startswith("#"):
            continue
        keep = glob.startswith("!")
        pattern = _pattern(glob.removeprefix("!").strip("/"))
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            ignored = not keep
    return ignored


def test_the_image_is_python_311_slim_installing_this_checkout() -> None:
    instructions = _instructions()

    assert ("FROM", "python:3.11-slim") in instructions
    runs = " ".join(arguments for instruction, arguments in instructions if instruction == "RUN")
    assert "pip install ." in runs


def test_what_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    sources = _copied()

    assert PACKAGE in sources and "pyproject.toml" in sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file"
        assert not _ignored(source), f".dockerignore keeps {source} out of the build"
    assert _ignored("tests/cli/test_bootstrap.py")
    assert _ignored(f"{PACKAGE}/cli/__pycache__/_main.cpython-311.pyc")
    assert not _ignored(f"{PACKAGE}/cli/_main.py")


def test_the_image_runs_the_controller_as_compose_does() -> None:
    # Exec form (a JSON list): weir is the process that gets `docker stop`'s SIGTERM.
    assert dockerfile_cmd() == service(CONTROLLER)["command"]


def test_the_package_the_image_installs_has_every_file_weir_reads(tmp_path: Path) -> None:
    # The build context, as the Dockerfile copies it, then the wheel `pip install .` builds.
    context = tmp_path / "context"
    for source in _copied():
        if (REPO / source).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(REPO / source, context / source, ignore=ignore)
        else:
            (context / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / source, context / source)

    built = subprocess.run(
        # With build isolation, as in the image: setuptools as pyproject.toml asks for it.
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "--wheel-dir", str(tmp_path / "wheels"), str(context)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        path.relative_to(context).as_posix()
        for path in (context / PACKAGE).rglob("*")
        if path.is_file()
    }
    missing = sorted(shipped - packaged)
    assert not missing, f"pip install . leaves out {missing}: list them in package-data"
