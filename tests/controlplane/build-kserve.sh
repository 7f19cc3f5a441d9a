#!/usr/bin/env bash
# Builds the KServe controller manager from its pinned Go module (the same version as the CRDs the local cluster
# installs), once per machine, into $AIM_CACHE_DIR/kserve-$KSERVE_VERSION/bin, and prints that directory.
#
# KServe's go.mod has `replace` lines, so `go install module@version` is refused; the manager is built from a
# copy of the module's source instead (the module cache is read-only).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${AIM_CACHE_DIR:-$HOME/.cache/aim-operator}
out="$cache/kserve-$KSERVE_VERSION"
if [ -x "$out/bin/kserve-manager" ]; then echo "$out/bin"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.build-kserve.lock"
flock 9
if [ -x "$out/bin/kserve-manager" ]; then echo "$out/bin"; exit 0; fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
work=$(mktemp -d "$cache/.build-kserve.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
echo "building the KServe $KSERVE_VERSION controller manager from its Go module (first run only; takes a few minutes)" >&2
src=$(cd "$work" && go mod download -json "github.com/kserve/kserve@$KSERVE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$src" "$work/kserve"
chmod -R u+w "$work/kserve"
(cd "$work/kserve" && go build -trimpath -ldflags "-s -w" -o "$work/bin/kserve-manager" ./cmd/manager)
rm -rf "$out.tmp" && mkdir -p "$out.tmp" && mv "$work/bin" "$out.tmp/bin"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out/bin"
