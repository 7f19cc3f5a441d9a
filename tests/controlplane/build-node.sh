#!/usr/bin/env bash
# Builds the kubelet and kube-proxy from the pinned Kubernetes module, once per machine, into
# $AIM_CACHE_DIR/node-$KUBE_VERSION/bin, and prints that directory: a real node of the local cluster (a CPU node,
# with containerd and runc from Debian; tests/src/controlplane/real_node.rs) runs them. Kept apart from
# build-binaries.sh so a machine that has the control plane cached does not rebuild it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${AIM_CACHE_DIR:-$HOME/.cache/aim-operator}
out="$cache/node-$KUBE_VERSION"
complete() { [ -x "$out/bin/kubelet" ] && [ -x "$out/bin/kube-proxy" ]; }
if complete; then echo "$out/bin"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.build-node.lock"
flock 9
if complete; then echo "$out/bin"; exit 0; fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
work=$(mktemp -d "$cache/.build-node.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "building the kubelet and kube-proxy $KUBE_VERSION from their Go module (first run only)" >&2
# As build-binaries.sh: the staging modules replaced by their published versions.
kube_gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
staging_version="v0.${KUBE_VERSION#v1.}"
{
  echo "module aim.local/node"
  echo "go 1.26"
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9./-]*\) => ./staging/src/.*#\1#p' "$kube_gomod" |
    while read -r m; do echo "replace $m => $m $staging_version"; done
} >go.mod
go mod tidy -e >/dev/null 2>&1 || true
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
go build -trimpath -ldflags "-s -w$stamp" -o bin/ k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
rm -rf "$out.tmp" && mkdir -p "$out.tmp" && mv bin "$out.tmp/bin"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out/bin"
