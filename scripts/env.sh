# Shared settings for the scripts in this folder (sourced, not run).
#
# Expensive, reusable things live outside the clone so every clone and every CI run on this machine shares them:
# the Kubernetes binaries ($AIM_CACHE_DIR/k8s-*) and the cargo target directory ($CARGO_TARGET_DIR).
export AIM_CACHE_DIR=${AIM_CACHE_DIR:-$HOME/.cache/aim-operator}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$AIM_CACHE_DIR/cargo-target}
export GOTOOLCHAIN=local
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Tools a fresh machine may lack: the plugin target and the lint/format components (no-ops when present).
ensure_toolchain() {
  command -v go >/dev/null || { echo "Go is required to build the local Kubernetes control plane" >&2; exit 1; }
  if command -v rustup >/dev/null; then
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    rustup component list --installed | grep -q '^clippy' || rustup component add clippy
    rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
  fi
}

# podman, buildah, runc and containerd (Debian's packages, installed when missing; containerd is the real node's
# runtime in the tests), podman configured for these machines and kept
# with the other caches: runc (crun refuses the hybrid cgroup layout), cgroupfs (no systemd), no default ulimits
# (raising them needs a capability the sandbox lacks), and image storage in $AIM_CACHE_DIR/containers. Exports
# CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, which the tests' podman calls read too.
ensure_container_tools() {
  local missing=()
  for tool in podman buildah runc containerd; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "the image and its tests need ${missing[*]} (Debian: apt-get install podman buildah runc containerd); run as root to install them" >&2
      exit 1
    fi
    echo "installing ${missing[*]} from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman buildah runc containerd >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman buildah runc containerd >/dev/null; }
  fi
  local dir=$AIM_CACHE_DIR/containers
  mkdir -p "$dir"
  cat >"$dir/containers.conf" <<CONF
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  cat >"$dir/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$dir/run"
CONF
  export CONTAINERS_CONF=$dir/containers.conf CONTAINERS_STORAGE_CONF=$dir/storage.conf
}

# The operator image's tag: the one deploy/base names.
image_tag() {
  echo "ghcr.io/silogen/aim-operator:$(sed -n 's/^version = "\(.*\)"$/\1/p' host/Cargo.toml | head -n 1)"
}

# The AIM runtime stand-in's base image (scripts/runtime-image); the real-node tests and the demo build model
# images on it.
runtime_image_tag() {
  echo "localhost/aim-runtime-sim:$(sed -n 's/^version = "\(.*\)"$/\1/p' tests/runtime-sim/Cargo.toml | head -n 1)"
}

# Starts `aim-local up` in the background for the rest of the calling script and exports AIM_TEST_KUBECONFIG and
# AIM_TEST_KUBECTL once the control plane is ready. It stops when the calling script exits.
start_control_plane() {
  local state
  state=$(mktemp -d "${TMPDIR:-/tmp}/aim-controlplane.XXXXXX")
  "$CARGO_TARGET_DIR/debug/aim-local" up --dir "$state" --exit-with $$ >"$state.log" 2>&1 &
  CONTROL_PLANE_PID=$!
  CONTROL_PLANE_STATE=$state
  trap stop_control_plane EXIT
  until [ -s "$state/ready" ]; do
    if ! kill -0 "$CONTROL_PLANE_PID" 2>/dev/null; then
      echo "the control plane failed to start:" >&2
      cat "$state.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  AIM_TEST_KUBECONFIG=$(sed -n 1p "$state/ready")
  AIM_TEST_KUBECTL=$(sed -n 2p "$state/ready")
  export AIM_TEST_KUBECONFIG AIM_TEST_KUBECTL
}

stop_control_plane() {
  if [ -n "${CONTROL_PLANE_PID:-}" ]; then
    kill -TERM "$CONTROL_PLANE_PID" 2>/dev/null || true
    wait "$CONTROL_PLANE_PID" 2>/dev/null || true
    rm -rf "$CONTROL_PLANE_STATE" "$CONTROL_PLANE_STATE.log"
    CONTROL_PLANE_PID=
  fi
}
