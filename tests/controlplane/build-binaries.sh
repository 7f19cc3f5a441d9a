#!/usr/bin/env bash
# Builds the control-plane binaries the tests and the local demo run (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl) from their pinned upstream Go modules, once per machine.
#
# Output: $AIM_CACHE_DIR/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION/bin/ (outside any clone, keyed by version,
# so every clone and every CI run on this machine reuses it). Prints that bin directory on stdout.
# Safe to run concurrently: a lock serialises builders, and the directory is published by rename.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${AIM_CACHE_DIR:-$HOME/.cache/aim-operator}
out="$cache/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

complete() { for b in "${bins[@]}"; do [ -x "$out/bin/$b" ] || return 1; done; }
if complete; then echo "$out/bin"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.build-k8s.lock"
flock 9
if complete; then echo "$out/bin"; exit 0; fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
work=$(mktemp -d "$cache/.build-k8s.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "building etcd $ETCD_VERSION and Kubernetes $KUBE_VERSION from Go modules (first run only; takes a while)" >&2

# k8s.io/kubernetes points each staging module (k8s.io/api, k8s.io/client-go, ...) at ./staging; a module
# that requires it must replace each one with the published module of the matching v0.x version.
kube_gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
staging_version="v0.${KUBE_VERSION#v1.}"
{
  echo "module aim.local/k8s-binaries"
  echo "go 1.26"
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9./-]*\) => ./staging/src/.*#\1#p' "$kube_gomod" |
    while read -r m; do echo "replace $m => $m $staging_version"; done
} >go.mod
go mod tidy -e >/dev/null 2>&1 || true
# Stamp the version the way upstream's release build does, so `kubectl version` and /version tell the truth.
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
go build -trimpath -ldflags "-s -w$stamp" -o bin/ \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl

# etcd is its own module tree; build it in a module of its own so its dependency versions win.
mkdir etcd && (
  cd etcd
  printf 'module aim.local/etcd-binary\ngo 1.26\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >go.mod
  go mod tidy -e >/dev/null 2>&1 || true
  go build -trimpath -ldflags "-s -w" -o ../bin/etcd go.etcd.io/etcd/server/v3
)

rm -rf "$out.tmp" && mkdir -p "$out.tmp" && mv bin "$out.tmp/bin"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out/bin"
