#!/usr/bin/env bash
# Builds gofakes3 (an S3-compatible server in Go that keeps objects in memory and serves a range as a slice of
# the object: the download benchmark's S3 server for large objects, where moto copies the whole object for every
# ranged GET) from its pinned Go module, once per machine, into $AIM_CACHE_DIR/gofakes3-$GOFAKES3_VERSION/bin,
# and prints that directory. Benchmark only: the tests' S3 is moto.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/gofakes3-$GOFAKES3_VERSION"
once gofakes3 "$out" test -x "$out/bin/gofakes3"
workdir gofakes3
echo "building gofakes3 $GOFAKES3_VERSION from its Go module (first run only)" >&2
GOBIN="$work/bin" go install -trimpath -ldflags "-s -w" "github.com/johannesboyne/gofakes3/cmd/gofakes3@$GOFAKES3_VERSION"
publish "$work/bin" "$out"
