#!/usr/bin/env bash
# Builds metrics-server (the metrics.k8s.io API: the pods' CPU and memory, read from the kubelet, that a
# HorizontalPodAutoscaler on cpu or memory follows) from its pinned Go module, once per machine, into
# $AIM_CACHE_DIR/metrics-server-$METRICS_SERVER_VERSION/bin, and prints that directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/metrics-server-$METRICS_SERVER_VERSION"
once metrics-server "$out" test -x "$out/bin/metrics-server"
workdir metrics-server
echo "building metrics-server $METRICS_SERVER_VERSION from its Go module (first run only; about 2 minutes)" >&2
src=$(cd "$work" && go mod download -json "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$src" "$work/metrics-server"
chmod -R u+w "$work/metrics-server"
(cd "$work/metrics-server" && go build -trimpath -ldflags "-s -w" -o "$work/bin/metrics-server" ./cmd/metrics-server)
publish "$work/bin" "$out"
