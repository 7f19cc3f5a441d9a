#!/usr/bin/env bash
# Builds this Python matcher into a WebAssembly component: ./build.sh [OUT.wasm] (default: matcher.wasm here).
#
# componentize-py (pinned below, from PyPI) is installed once per machine into a virtualenv under
# $AIM_CACHE_DIR (default ~/.cache/aim-operator). `--stub-wasi` replaces the WASI imports CPython would make
# (sockets among them, which the operator refuses) with stubs that grant nothing.
set -euo pipefail
COMPONENTIZE_PY_VERSION=0.25.1

here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:-$here/matcher.wasm}")
cache=${AIM_CACHE_DIR:-$HOME/.cache/aim-operator}
venv="$cache/componentize-py-$COMPONENTIZE_PY_VERSION"

if [ ! -f "$venv/.complete" ]; then
  mkdir -p "$cache"
  exec 9>"$cache/.build-componentize-py.lock"
  flock 9
  if [ ! -f "$venv/.complete" ]; then
    echo "installing componentize-py $COMPONENTIZE_PY_VERSION from PyPI (first run only)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION" >&2 \
      || { rm -rf "$venv"; exit 1; }
    touch "$venv/.complete"
  fi
  exec 9>&-
fi

cd "$here"
"$venv/bin/componentize-py" -d "$here/../../wit" -w matcher-policy componentize --stub-wasi app -o "$out" >&2
echo "$out"
