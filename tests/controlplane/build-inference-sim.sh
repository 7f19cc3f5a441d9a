#!/usr/bin/env bash
# Builds llm-d-inference-sim (vLLM's OpenAI API and metrics without a GPU: the engine behind the AIM runtime
# stand-in, tests/runtime-sim) from its pinned Go module, once per machine, into
# $AIM_CACHE_DIR/inference-sim-$INFERENCE_SIM_VERSION/bin, and prints that directory.
#
# The module proxy here refuses its version list, so `go install module@version` fails; the exact version
# downloads, and the binary is built from a copy of it (the module cache is read-only). Pure Go (CGO off).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/inference-sim-$INFERENCE_SIM_VERSION"
once inference-sim "$out" test -x "$out/bin/llm-d-inference-sim"
workdir inference-sim
echo "building llm-d-inference-sim $INFERENCE_SIM_VERSION from its Go module (first run only; about 2 minutes)" >&2
src=$(cd "$work" && go mod download -json "github.com/llm-d/llm-d-inference-sim@$INFERENCE_SIM_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$src" "$work/sim"
chmod -R u+w "$work/sim"
(cd "$work/sim" && go build -trimpath -ldflags "-s -w" -o "$work/bin/llm-d-inference-sim" ./cmd/llm-d-inference-sim)
publish "$work/bin" "$out"
