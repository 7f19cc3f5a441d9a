#!/usr/bin/env bash
# Builds Traefik (the real node's Gateway API implementation: its kubernetesGateway provider accepts HTTPRoutes
# and its proxy serves them) from its pinned Go module, once per machine, into
# $AIM_CACHE_DIR/traefik-$TRAEFIK_VERSION/bin, and prints that directory.
#
# Its go.mod has `replace` lines, so `go install` refuses it and it is built from a copy of the module. One of
# them points at a nested module, ./pkg/config/dynamic/ext, which the module zip leaves out (a nested module is
# its own module) and the proxy does not serve; Traefik's own tree holds there only two empty types for its
# plugin extension points. The copy gets that module back as a go.mod and those two types.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/traefik-$TRAEFIK_VERSION"
once traefik "$out" test -x "$out/bin/traefik"
workdir traefik
echo "building Traefik $TRAEFIK_VERSION from its Go module (first run only; about 5 minutes)" >&2
src=$(cd "$work" && go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$src" "$work/traefik"
chmod -R u+w "$work/traefik"
ext="$work/traefik/pkg/config/dynamic/ext"
mkdir -p "$ext"
printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24\n' >"$ext/go.mod"
cat >"$ext/ext.go" <<'GO'
// Package ext holds the extension points of Traefik's dynamic configuration; the open-source build has none.
package ext

// HTTP extends the HTTP configuration.
type HTTP struct{}

// Router extends an HTTP router.
type Router struct{}
GO
(cd "$work/traefik" && go build -trimpath -ldflags "-s -w" -o "$work/bin/traefik" ./cmd/traefik)
publish "$work/bin" "$out"
