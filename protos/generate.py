"""Regenerates the Python stubs (with .pyi types) of the dgxmusic API from the .proto files.

Run `python protos/generate.py` after editing a .proto; tests/test_protos.py proves the checked-in stubs are current.
"""

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

# The well-known types (google/protobuf/timestamp.proto...) ship inside grpc_tools.
WELL_KNOWN_TYPES = Path(protoc.__file__).resolve().parent / "_proto"

PROTO_ROOT = Path(__file__).resolve().parent


def generate(out_dir: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "dgxmusic").rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{WELL_KNOWN_TYPES}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=PROTO_ROOT, help="output root (default: next to the protos)")
    generate(parser.parse_args().out)
