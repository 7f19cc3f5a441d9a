#!/usr/bin/env bash
# Builds helm (for the chart's tests: `helm template`, `helm install` into the local cluster) from its pinned Go
# module, once per machine, into $AIM_CACHE_DIR/helm-$HELM_VERSION/bin, and prints that directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${AIM_CACHE_DIR:-$HOME/.cache/aim-operator}
out="$cache/helm-$HELM_VERSION"
if [ -x "$out/bin/helm" ]; then echo "$out/bin"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.build-helm.lock"
flock 9
if [ -x "$out/bin/helm" ]; then echo "$out/bin"; exit 0; fi

export GOTOOLCHAIN=local CGO_ENABLED=0
work=$(mktemp -d "$cache/.build-helm.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "building helm $HELM_VERSION from its Go module (first run only)" >&2
GOBIN="$work/bin" GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
rm -rf "$out.tmp" && mkdir -p "$out.tmp" && mv "$work/bin" "$out.tmp/bin"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out/bin"
