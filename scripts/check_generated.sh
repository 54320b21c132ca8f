#!/usr/bin/env bash
# Fails if services/generated/ is not exactly what scripts/gen_protos.py makes from
# protos/ right now (a .proto edited without `make proto`, or generated code edited
# by hand). Used by `make check-proto` and so by `make test` and CI.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${VENV_PYTHON:-.venv/bin/python}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$python" scripts/gen_protos.py --out "$tmp/generated"

if [ ! -d services/generated ]; then
    echo "check-proto: services/generated is missing: generated code is stale: run make proto" >&2
    exit 1
fi

if ! diff -r -x __pycache__ "$tmp/generated" services/generated >"$tmp/diff.txt"; then
    # The diff names the fresh copy by its temp path; show it as "(fresh)".
    sed "s|$tmp/generated|(fresh)|g" "$tmp/diff.txt" | head -n 40 >&2
    echo >&2
    echo "check-proto: generated code is stale: run make proto" >&2
    exit 1
fi
echo "check-proto: services/generated is up to date"
