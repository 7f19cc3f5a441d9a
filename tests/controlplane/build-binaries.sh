#!/usr/bin/env bash
# Builds the control-plane binaries the tests and the local demo run (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl) from their pinned upstream Go modules, once per machine.
#
# Output: $AIM_CACHE_DIR/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION/bin/ (outside any clone, keyed by version,
# so every clone and every CI run on this machine reuses it). Prints that bin directory on stdout.
# Safe to run concurrently: a lock serialises builders, and the directory is published by rename.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"
complete() { for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do [ -x "$out/bin/$b" ] || return 1; done; }
once k8s "$out" complete
workdir k8s
cd "$work"
echo "building etcd $ETCD_VERSION and Kubernetes $KUBE_VERSION from Go modules (first run only; takes a while)" >&2
kubernetes_module aim.local/k8s-binaries
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
publish bin "$out"
