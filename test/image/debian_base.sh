#!/usr/bin/env bash
# Prints the path of a cached tarball of a Debian 12 (bookworm) minbase root filesystem that already holds
# every package scripts/install-deps.sh installs, so the Containerfile's build stage finds its build
# dependencies present and needs no network. Built with debootstrap on first use (root and network, once);
# the cache key is the package list, so a new dependency makes a new tarball. Progress goes to stderr.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache_dir=${JARVIS_CACHE_DIR:-$HOME/.cache/jarvis}
mirror=${JARVIS_DEBIAN_MIRROR:-http://deb.debian.org/debian}

packages=$(JARVIS_WITH_IMAGE_TOOLS=0 "$repo/scripts/install-deps.sh" --list | paste -sd, -)
key=$(printf '%s' "$packages" | sha256sum | cut -c1-12)
tarball=$cache_dir/debian-bookworm-minbase-$key.tar

if [[ -f $tarball ]]; then
  echo "$tarball"
  exit 0
fi

mkdir -p "$cache_dir"
# Built beside the final path and renamed into place, so an interrupted run never leaves a partial cache.
staging=$(mktemp -d "$cache_dir/.debian-bookworm-build.XXXXXX")
trap 'rm -rf "$staging"' EXIT

echo "debian_base: debootstrap --variant=minbase bookworm from $mirror (first run only, takes minutes)" >&2
debootstrap --variant=minbase --include="$packages" bookworm "$staging/rootfs" "$mirror" >&2
# Like the official debian image: no package cache, no package lists.
rm -rf "$staging/rootfs/var/cache/apt/archives/"*.deb "$staging/rootfs/var/lib/apt/lists/"*
tar --numeric-owner -C "$staging/rootfs" -cf "$staging/rootfs.tar" .
mv "$staging/rootfs.tar" "$tarball"
# Tarballs for older package lists are never used again.
find "$cache_dir" -maxdepth 1 -name 'debian-bookworm-minbase-*.tar' ! -path "$tarball" -delete
echo "$tarball"
