#!/usr/bin/env bash
# Builds KEDA's operator (the ScaledObject controller: it activates a workload from zero and back, and makes
# the HorizontalPodAutoscaler that scales it between one and many) and its metrics adapter (the
# external.metrics.k8s.io API that HorizontalPodAutoscaler reads the triggers' values from) from KEDA's pinned Go
# module, once per machine, into $AIM_CACHE_DIR/keda-$KEDA_VERSION/bin, and prints that directory.
#
# KEDA's go.mod has `replace` lines, so `go install` refuses it; both commands are built from a copy of the
# module in one `go build`, which compiles their shared packages once.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/keda-$KEDA_VERSION"
once keda "$out" test -x "$out/bin/keda-operator" -a -x "$out/bin/keda-adapter"
workdir keda
echo "building the KEDA operator and metrics adapter $KEDA_VERSION from their Go module (first run only; about 6 minutes)" >&2
src=$(cd "$work" && go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$src" "$work/keda"
chmod -R u+w "$work/keda"
mkdir -p "$work/bin"
(cd "$work/keda" && go build -trimpath -ldflags "-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION" -o "$work/cmd/" ./cmd/operator ./cmd/adapter)
mv "$work/cmd/operator" "$work/bin/keda-operator"
mv "$work/cmd/adapter" "$work/bin/keda-adapter"
publish "$work/bin" "$out"
