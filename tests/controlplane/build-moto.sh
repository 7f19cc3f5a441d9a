#!/usr/bin/env bash
# Installs moto (an S3-compatible server, for the downloader's tests) at its pinned version from PyPI into a
# virtualenv, once per machine, at $AIM_CACHE_DIR/moto-$MOTO_VERSION, and prints its bin directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/moto-$MOTO_VERSION"
once moto "$out" test -f "$out/.complete"
echo "installing moto $MOTO_VERSION from PyPI (first run only)" >&2
# A venv records its own path in its scripts, so it is built where it lives; the stamp written last tells a
# finished venv from a half-built one.
rm -rf "$out"
python3 -m venv "$out"
"$out/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2 || { rm -rf "$out"; exit 1; }
touch "$out/.complete"
echo "$out/bin"
