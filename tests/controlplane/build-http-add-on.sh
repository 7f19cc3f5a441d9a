#!/usr/bin/env bash
# Builds KEDA's HTTP add-on interceptor (the proxy that holds a request while its backend scales from zero, and
# counts the requests in flight) and its external scaler (which feeds those counts to KEDA) from the pinned Go
# module, once per machine, into $AIM_CACHE_DIR/http-add-on-$HTTP_ADD_ON_VERSION/bin, and prints that directory.
#
# The module proxy here refuses the module's version list, so `go install module@version` fails; the exact
# version downloads and both commands are built from a copy of it. The add-on's operator is not built: it only
# sets an InterceptorRoute's Ready condition (its own source calls it a placeholder); the interceptor and the
# scaler read InterceptorRoutes themselves.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/http-add-on-$HTTP_ADD_ON_VERSION"
once http-add-on "$out" test -x "$out/bin/keda-http-interceptor" -a -x "$out/bin/keda-http-scaler"
workdir http-add-on
echo "building the KEDA HTTP add-on $HTTP_ADD_ON_VERSION interceptor and scaler from their Go module (first run only; about 2 minutes)" >&2
src=$(cd "$work" && go mod download -json "github.com/kedacore/http-add-on@$HTTP_ADD_ON_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$src" "$work/add-on"
chmod -R u+w "$work/add-on"
mkdir -p "$work/bin"
(cd "$work/add-on" && go build -trimpath -ldflags "-s -w" -o "$work/cmd/" ./interceptor ./scaler)
mv "$work/cmd/interceptor" "$work/bin/keda-http-interceptor"
mv "$work/cmd/scaler" "$work/bin/keda-http-scaler"
publish "$work/bin" "$out"
