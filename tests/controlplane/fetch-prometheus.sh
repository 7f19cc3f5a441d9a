#!/usr/bin/env bash
# Prometheus and promtool from Debian's `prometheus` package (pinned), once per machine, into
# $AIM_CACHE_DIR/prometheus-$PROMETHEUS_DEB_VERSION/bin, and prints that directory. The package is downloaded and
# unpacked, not installed: its service is not wanted, only the two programs (the alert rules' tests run promtool;
# the dashboards' test runs Prometheus against the real node's cluster).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/prometheus-$PROMETHEUS_DEB_VERSION"
once prometheus "$out" test -x "$out/bin/promtool"
workdir prometheus
echo "unpacking Debian's prometheus $PROMETHEUS_DEB_VERSION (first run only)" >&2
if ! (cd "$work" && apt-get download -q "prometheus=$PROMETHEUS_DEB_VERSION" >"$work/apt.log" 2>&1); then
  (apt-get update -q >/dev/null 2>&1 && cd "$work" && apt-get download -q "prometheus=$PROMETHEUS_DEB_VERSION" >"$work/apt.log" 2>&1) \
    || { cat "$work/apt.log" >&2; echo "fetch-prometheus.sh: apt-get download prometheus failed" >&2; exit 1; }
fi
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
mkdir -p "$work/bin"
install -m 0755 "$work/root/usr/bin/prometheus" "$work/root/usr/bin/promtool" "$work/bin/"
publish "$work/bin" "$out"
