#!/usr/bin/env bash
# Builds helm (for the chart's tests: `helm template`, `helm install` into the local cluster) from its pinned Go
# module, once per machine, into $AIM_CACHE_DIR/helm-$HELM_VERSION/bin, and prints that directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/helm-$HELM_VERSION"
once helm "$out" test -x "$out/bin/helm"
workdir helm
echo "building helm $HELM_VERSION from its Go module (first run only)" >&2
GOBIN="$work/bin" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
publish "$work/bin" "$out"
