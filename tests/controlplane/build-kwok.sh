#!/usr/bin/env bash
# Builds kwok (the kubelet and volume provisioner of the local cluster's fake GPU nodes) from its pinned Go module,
# once per machine, into $AIM_CACHE_DIR/kwok-$KWOK_VERSION/bin, and prints that directory. The stage files come
# from the same module (read at start-up, never committed).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/kwok-$KWOK_VERSION"
once kwok "$out" test -x "$out/bin/kwok"
workdir kwok
echo "building kwok $KWOK_VERSION from its Go module (first run only)" >&2
GOBIN="$work/bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
publish "$work/bin" "$out"
