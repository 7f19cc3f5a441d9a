#!/usr/bin/env bash
# Builds kwok (the kubelet and volume provisioner of the local cluster's fake GPU nodes) from its pinned Go module,
# once per machine, into $AIM_CACHE_DIR/kwok-$KWOK_VERSION/bin, and prints that directory. The stage files come
# from the same module (read at start-up, never committed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${AIM_CACHE_DIR:-$HOME/.cache/aim-operator}
out="$cache/kwok-$KWOK_VERSION"
if [ -x "$out/bin/kwok" ]; then echo "$out/bin"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.build-kwok.lock"
flock 9
if [ -x "$out/bin/kwok" ]; then echo "$out/bin"; exit 0; fi

export GOTOOLCHAIN=local CGO_ENABLED=0
work=$(mktemp -d "$cache/.build-kwok.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "building kwok $KWOK_VERSION from its Go module (first run only)" >&2
GOBIN="$work/bin" GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
rm -rf "$out.tmp" && mkdir -p "$out.tmp" && mv "$work/bin" "$out.tmp/bin"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out/bin"
