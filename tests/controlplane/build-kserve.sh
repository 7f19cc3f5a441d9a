#!/usr/bin/env bash
# Builds the KServe controller manager from its pinned Go module (the same version as the CRDs the local cluster
# installs), once per machine, into $AIM_CACHE_DIR/kserve-$KSERVE_VERSION/bin, and prints that directory.
#
# KServe's go.mod has `replace` lines, so `go install module@version` is refused; the manager is built from a
# copy of the module's source instead (the module cache is read-only).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/kserve-$KSERVE_VERSION"
once kserve "$out" test -x "$out/bin/kserve-manager"
workdir kserve
echo "building the KServe $KSERVE_VERSION controller manager from its Go module (first run only; takes a few minutes)" >&2
src=$(cd "$work" && go mod download -json "github.com/kserve/kserve@$KSERVE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$src" "$work/kserve"
chmod -R u+w "$work/kserve"
(cd "$work/kserve" && go build -trimpath -ldflags "-s -w" -o "$work/bin/kserve-manager" ./cmd/manager)
publish "$work/bin" "$out"
