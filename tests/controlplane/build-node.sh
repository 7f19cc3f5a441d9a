#!/usr/bin/env bash
# Builds the kubelet and kube-proxy from the pinned Kubernetes module, once per machine, into
# $AIM_CACHE_DIR/node-$KUBE_VERSION/bin, and prints that directory: a real node of the local cluster (a CPU node,
# with containerd and runc from Debian; tests/src/controlplane/real_node.rs) runs them. Kept apart from
# build-binaries.sh so a machine that has the control plane cached does not rebuild it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/node-$KUBE_VERSION"
complete() { [ -x "$out/bin/kubelet" ] && [ -x "$out/bin/kube-proxy" ]; }
once node "$out" complete
workdir node
cd "$work"
echo "building the kubelet and kube-proxy $KUBE_VERSION from their Go module (first run only)" >&2
kubernetes_module aim.local/node
go build -trimpath -ldflags "-s -w$stamp" -o bin/ k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
publish bin "$out"
