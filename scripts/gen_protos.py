"""Generate Python code from protos/ into services/generated/ (or --out DIR).

The generated modules import each other as ``skyroute.x.v1``; we rewrite those
imports to ``services.generated.skyroute.x.v1`` so the generated tree lives
inside the shared library without touching sys.path.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
PACKAGE = "services.generated"
DESCRIPTOR_SET = "descriptors_with_source_info.binpb"
_IMPORT = re.compile(r"^(from|import) skyroute\.", re.MULTILINE)


def generate(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    protos = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        # The protos' own files with their comments (source_code_info), which the
        # generated modules leave out: gRPC reflection serves these, so that
        # `grpcurl describe` shows the comments (services/reflection.py).
        f"--descriptor_set_out={out / DESCRIPTOR_SET}",
        "--include_source_info",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    for path in sorted(out.rglob("*.py*")):
        text = path.read_text()
        path.write_text(_IMPORT.sub(lambda m: f"{m.group(1)} {PACKAGE}.skyroute.", text))
    for directory in [out, *sorted(p for p in out.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").write_text("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "services" / "generated")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
