"""Compile proto/*.proto into controlplane/stats/_proto/ (messages and their .pyi types).

    python proto/build.py              # regenerate the committed modules
    python proto/build.py --out DIR    # write them to DIR instead (the drift test does this)

The generated modules are committed, so `pip install` needs no compiler; the test
tests/stats/test_proto.py regenerates them and fails if they differ from the committed ones.
The protos import envoy/config/core/v3/base.proto (for Node), which xds-protos ships compiled
but not as source: its descriptors, and those of everything it imports, are taken from the
installed xds-protos and handed to protoc with --descriptor_set_in.
"""

from __future__ import annotations

import argparse
import importlib.resources
import shutil
import sys
import tempfile
from pathlib import Path

from envoy.config.core.v3 import base_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor
from grpc_tools import protoc

PROTO_DIR = Path(__file__).resolve().parent
ROOT = PROTO_DIR.parent
PACKAGE_PATH = "controlplane/stats/_proto"
"""The import path the protos are compiled under, so generated imports name weir's package."""
DEFAULT_OUT = ROOT / PACKAGE_PATH
SOURCES = ("prometheus_metrics.proto", "metrics_service.proto", "metrics_wire.proto")


def _descriptor_set(root: FileDescriptor) -> descriptor_pb2.FileDescriptorSet:
    """`root` and every file it imports, dependencies first."""
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            visit(dependency)
        ordered.append(file)

    visit(root)
    files = descriptor_pb2.FileDescriptorSet()
    for file in ordered:
        file.CopyToProto(files.file.add())
    return files


def build(out: Path) -> list[Path]:
    """Write the generated modules into `out`; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="weir-proto-") as scratch:
        work = Path(scratch)
        imports = work / "imports.binpb"
        imports.write_bytes(_descriptor_set(base_pb2.DESCRIPTOR).SerializeToString())
        generated = work / "out"
        generated.mkdir()
        well_known = importlib.resources.files("grpc_tools") / "_proto"
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"--proto_path={PACKAGE_PATH}={PROTO_DIR}",
                f"--proto_path={well_known}",
                f"--descriptor_set_in={imports}",
                f"--python_out={generated}",
                f"--pyi_out={generated}",
                *(f"{PACKAGE_PATH}/{source}" for source in SOURCES),
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed with status {code}")
        written = []
        for path in sorted((generated / PACKAGE_PATH).iterdir()):
            target = out / path.name
            shutil.copyfile(path, target)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write")
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path, file=sys.stderr)


if __name__ == "__main__":
    main()
