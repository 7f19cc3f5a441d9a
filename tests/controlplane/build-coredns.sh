#!/usr/bin/env bash
# Builds CoreDNS (the cluster DNS every Kubernetes distribution runs: `<service>.<namespace>` answered from the
# API server's Services, everything else forwarded to the host's resolver) from its pinned Go module, once per
# machine, into $AIM_CACHE_DIR/coredns-$COREDNS_VERSION/bin, and prints that directory.
#
# Built as CoreDNS documents for a build with chosen plugins: a main package that imports `coremain` and the
# plugins the cluster's Corefile uses, and sets the directive order (plugin.cfg's, for those plugins). The
# full build links every cloud provider's SDK (route53, azure, clouddns), which a local cluster never uses.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/coredns-$COREDNS_VERSION"
once coredns "$out" test -x "$out/bin/coredns"
workdir coredns
echo "building CoreDNS $COREDNS_VERSION (kubernetes, forward, cache, errors, health, ready) from its Go module (first run only; about 2 minutes)" >&2
mkdir -p "$work/coredns"
cd "$work/coredns"
cat >main.go <<'GO'
// CoreDNS with the plugins a cluster's DNS needs.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugins' order in CoreDNS's plugin.cfg, which decides the order a query passes them in.
func init() {
	dnsserver.Directives = []string{"bind", "ready", "health", "errors", "cache", "kubernetes", "forward"}
}

func main() { coremain.Run() }
GO
printf 'module aim.local/coredns\n\ngo 1.24\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" >go.mod
go mod tidy >/dev/null
go build -trimpath -ldflags "-s -w" -o "$work/bin/coredns" .
cd - >/dev/null
publish "$work/bin" "$out"
