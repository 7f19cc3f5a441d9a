# Shared by the build scripts (sourced): the pinned versions, the machine's cache directory, building a thing at
# most once (a lock, and publishing the finished build by rename so a half-built one is never used), and a Go
# module that builds commands of the Kubernetes module.
# shellcheck shell=bash
lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$lib_dir/versions.env"
# Another supported KServe for one run (scripts/kserve-compat): its controller and CRDs instead of the pinned ones.
KSERVE_VERSION=${AIM_KSERVE_VERSION:-$KSERVE_VERSION}
cache=${AIM_CACHE_DIR:-$HOME/.cache/aim-operator}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# once NAME OUT CHECK...: prints OUT/bin and exits when the command CHECK... succeeds (the build is there);
# otherwise takes the build lock NAME (held until the script exits) and checks again, for a concurrent builder.
once() {
  local name=$1 out=$2
  shift 2
  if "$@"; then echo "$out/bin"; exit 0; fi
  mkdir -p "$cache"
  exec 9>"$cache/.build-$name.lock"
  flock 9
  if "$@"; then echo "$out/bin"; exit 0; fi
}

# workdir NAME: a scratch directory in the cache, removed when the script exits.
workdir() {
  work=$(mktemp -d "$cache/.build-$1.XXXXXX")
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
}

# publish BIN OUT: moves the built BIN directory to OUT/bin in one rename, and prints it.
publish() {
  rm -rf "$2.tmp" && mkdir -p "$2.tmp" && mv "$1" "$2.tmp/bin"
  rm -rf "$2" && mv "$2.tmp" "$2"
  echo "$2/bin"
}

# kubernetes_module NAME: writes go.mod (in the current directory) for module NAME requiring k8s.io/kubernetes
# at KUBE_VERSION, and sets `stamp` to the -ldflags that stamp the version as upstream's release build does (so
# `kubectl version` and /version tell the truth). k8s.io/kubernetes points each staging module (k8s.io/api,
# k8s.io/client-go, ...) at ./staging; a module that requires it must replace each one with the published module
# of the matching v0.x version.
kubernetes_module() {
  local gomod staging minor pkg
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  staging="v0.${KUBE_VERSION#v1.}"
  {
    echo "module $1"
    echo "go 1.26"
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9./-]*\) => ./staging/src/.*#\1#p' "$gomod" |
      while read -r m; do echo "replace $m => $m $staging"; done
  } >go.mod
  go mod tidy -e >/dev/null 2>&1 || true
  minor=${KUBE_VERSION#v1.}
  minor=${minor%%.*}
  stamp=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
}
