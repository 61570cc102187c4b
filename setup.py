"""Generates the protobuf socket's Python code when Overworld is built or installed.

`overworld/protocol/pb/realtime.proto` is the schema of the protobuf format of the realtime socket;
`realtime_pb2.py` (and its `.pyi` stub for mypy) are generated from it by grpcio-tools' protoc,
a build requirement pinned in pyproject.toml, on every build (`pip install .`, `pip install -e .`,
so `scripts/install`). The generated files are not committed (.gitignore).
"""

from __future__ import annotations

from pathlib import Path

from setuptools import Command, setup
from setuptools.command.build_py import build_py

PB_DIR = Path(__file__).parent / "overworld" / "protocol" / "pb"


def generate_protobuf() -> None:
    from grpc_tools import protoc  # a build requirement (pyproject.toml [build-system])

    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
    args = [
        "protoc",
        f"-I{PB_DIR}",
        f"-I{include}",
        f"--python_out={PB_DIR}",
        f"--pyi_out={PB_DIR}",
        str(PB_DIR / "realtime.proto"),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on overworld/protocol/pb/realtime.proto")


class BuildPy(build_py):
    def run(self) -> None:
        generate_protobuf()
        super().run()


class GenerateProtobuf(Command):
    """`python setup.py generate_protobuf`: regenerate without installing."""

    user_options: list[tuple[str, str | None, str]] = []

    def initialize_options(self) -> None:
        pass

    def finalize_options(self) -> None:
        pass

    def run(self) -> None:
        generate_protobuf()


setup(cmdclass={"build_py": BuildPy, "generate_protobuf": GenerateProtobuf})
