#!/usr/bin/env bash
# Builds the Jarvis image from Containerfile offline with Debian's buildah and writes it as an OCI archive:
#   test/image/build.sh ARCHIVE
# The one build of the image: the image suite (run.sh) checks this archive and the real-node tests
# (test/e2e/test_real_node.py) import it into their containerd, so CI builds the image once (scripts/test.sh
# builds it before the end-to-end tests and hands the archive to both).
#   1. A Debian 12 base: a debootstrap tarball (cached by debian_base.sh) imported into a private buildah
#      storage under the name the Containerfile's FROM uses.
#   2. buildah bud --isolation chroot --storage-driver vfs --pull=never: no registry, no container engine.
#   3. buildah push to oci-archive:ARCHIVE, the image named localhost/jarvis:dev inside.
# Needs root (debootstrap, chroot). Its buildah storage is temporary and removed on exit.
# Environment: JARVIS_CACHE_DIR, JARVIS_DEBIAN_MIRROR (for debian_base.sh); CCACHE_DIR (mounted at /ccache).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: test/image/build.sh ARCHIVE   (writes the image built from Containerfile as an OCI archive)" >&2
  exit 2
fi
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/test/image
archive=$(realpath -m "$1")
base_name=docker.io/library/debian:bookworm
image_name=localhost/jarvis:dev

work=$(mktemp -d "${TMPDIR:-/var/tmp}/jarvis-image-build.XXXXXX")
bah() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
cleanup() {
  bah rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$SECONDS
tarball=$("$here/debian_base.sh")
echo "build.sh: base tarball $tarball ($(du -h "$tarball" | cut -f1))" >&2
base=$(bah from scratch)
bah add "$base" "$tarball" /
bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$base"
bah commit --quiet --rm "$base" "$base_name" >/dev/null

# The compiler cache of scripts/test.sh (CCACHE_DIR), when there is one, serves the build stage's compiles.
ccache_mount=()
if [[ -n "${CCACHE_DIR:-}" && -d "${CCACHE_DIR}" && -z "${CCACHE_DISABLE:-}" ]]; then
  ccache_mount=(--volume "$CCACHE_DIR:/ccache")
fi
bah bud --isolation chroot --pull=never --layers=false "${ccache_mount[@]}" -f "$repo/Containerfile" -t "$image_name" "$repo" >&2
mkdir -p "$(dirname "$archive")"
rm -f "$archive" "$archive.tmp"
bah push --quiet "$image_name" "oci-archive:$archive.tmp:$image_name" >&2
mv "$archive.tmp" "$archive"
echo "build.sh: $image_name written to $archive ($(du -h "$archive" | cut -f1)) in $((SECONDS - start)) s" >&2
