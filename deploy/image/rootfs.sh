#!/usr/bin/env bash
# The operator image's root filesystem, from Debian's packages only (no base image, no registry):
#   deploy/image/rootfs.sh OUT_DIR BINARY
# OUT_DIR gets the C runtime the binary links (libc6, libgcc-s1), the Mozilla CA bundle (ca-certificates, as
# update-ca-certificates would assemble it, for HTTPS to a model hub or S3), a non-root user 65532 ("nonroot",
# as distroless names it), empty mount points for the volumes the Deployment and the download Jobs mount, and
# BINARY as /usr/local/bin/aim-operator. No shell, no package manager. Used by scripts/image and by
# deploy/Dockerfile, so both build the same image.
set -euo pipefail
out=${1:?usage: rootfs.sh OUT_DIR BINARY}
binary=${2:?usage: rootfs.sh OUT_DIR BINARY}
packages=(libc6 libgcc-s1 ca-certificates)

debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
# (apt-get download as root warns that its sandbox user cannot write here; the directory is ours alone.)
if ! (cd "$debs" && apt-get download -q "${packages[@]}" >"$debs/apt.log" 2>&1); then
  cat "$debs/apt.log" >&2
  echo "rootfs.sh: apt-get download ${packages[*]} failed (apt-get update first?)" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out"
for deb in "$debs"/*.deb; do
  dpkg-deb -x "$deb" "$out"
done
# What a Rust binary never reads: iconv modules, documentation, the CA package's own tooling.
rm -rf "$out/usr/lib/x86_64-linux-gnu/gconv" "$out/usr/share/doc" "$out/usr/share/lintian" \
  "$out/usr/share/man" "$out/usr/sbin" "$out/usr/bin" "$out/sbin" "$out/etc/ca-certificates" "$out/etc/ld.so.conf.d"

# The CA bundle update-ca-certificates would write: every certificate the package ships, sorted.
mkdir -p "$out/etc/ssl/certs"
find "$out/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat >"$out/etc/ssl/certs/ca-certificates.crt"
[ -s "$out/etc/ssl/certs/ca-certificates.crt" ] || { echo "rootfs.sh: no CA certificates" >&2; exit 1; }
rm -rf "$out/usr/share/ca-certificates"

cat >"$out/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$out/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
# Mount points: the plugin ConfigMap and the compiled-plugin cache (the Deployment), the cache volume (the
# download Jobs), /tmp. A read-only root cannot grow them at run time.
mkdir -p "$out/etc/aim/plugins" "$out/var/cache/aim-operator" "$out/cache" "$out/tmp" "$out/home/nonroot"
chmod 1777 "$out/tmp"
chown 65532:65532 "$out/home/nonroot" "$out/var/cache/aim-operator"

install -D -m 0755 "$binary" "$out/usr/local/bin/aim-operator"
